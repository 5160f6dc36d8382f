// dgmlab._native coder bindings: numpy in and out, every length checked here, the GIL released while coding.
// Values (finiteness, scales, supports, probabilities) are validated by the header API itself (arrays.hpp).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <dgmlab/arrays.hpp>
#include <dgmlab/serialize.hpp>

#include <algorithm>
#include <string>

namespace py = pybind11;
using dgmlab::Grid;
using dgmlab::Message;

namespace {

using F64 = py::array_t<double, py::array::c_style | py::array::forcecast>;
using I64 = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;

void require_size(const char* name, const py::array& a, size_t n) {
  if (static_cast<size_t>(a.size()) != n)
    throw std::invalid_argument(std::string(name) + ": expected " + std::to_string(n) + " values, got " +
                                std::to_string(a.size()));
}

size_t rows_of(const char* name, const F64& a, int64_t* k) {
  if (a.ndim() != 2) throw std::invalid_argument(std::string(name) + ": expected a 2-d (n, K) array");
  *k = a.shape(1);
  return static_cast<size_t>(a.shape(0));
}

I64 new_symbols(size_t n) { return I64(static_cast<py::ssize_t>(n)); }

void bind_message(py::module_& m) {
  py::class_<Message>(m, "Message")
      .def(py::init([](size_t num_streams, uint64_t seed) {
             if (num_streams < 1 || num_streams > dgmlab::kMaxStreams)
               throw std::invalid_argument("num_streams: expected 1..2^20, got " + std::to_string(num_streams));
             return Message(num_streams, seed);
           }),
           py::arg("num_streams"), py::arg("seed"))
      .def_property_readonly("num_streams", &Message::num_streams)
      .def_property_readonly("seed", &Message::seed)
      .def("num_bits", &Message::num_bits)
      .def("initial_bits_used", &Message::initial_bits_used)
      .def("stream_num_words", [](const Message& msg) {
        py::list out;
        for (size_t s = 0; s < msg.num_streams(); ++s) out.append(msg.stream(s).words().size());
        return out;
      })
      .def("copy", [](const Message& msg) { return Message(msg); })
      .def("to_bytes", [](const Message& msg) {
        std::vector<uint8_t> bytes;
        {
          py::gil_scoped_release release;
          bytes = dgmlab::to_bytes(msg);
        }
        return py::bytes(reinterpret_cast<const char*>(bytes.data()), bytes.size());
      })
      .def_static("from_bytes", [](const py::bytes& data) {
        const std::string_view view(data);
        return dgmlab::from_bytes(reinterpret_cast<const uint8_t*>(view.data()), view.size());
      });
}

void bind_grid_codecs(py::module_& m) {
  m.def("uniform_push", [](Message& msg, const I64& symbols, uint64_t size) {
    py::gil_scoped_release release;
    dgmlab::push_uniform(msg, symbols.data(), symbols.size(), size);
  });
  m.def("uniform_pop", [](Message& msg, size_t n, uint64_t size) {
    I64 out = new_symbols(n);
    int64_t* p = out.mutable_data();
    py::gil_scoped_release release;
    dgmlab::pop_uniform(msg, p, n, size);
    return out;
  });

#define DGMLAB_BIND_LOCATION_SCALE(NAME, SCALE)                                                                   \
  m.def(#NAME "_push", [](Message& msg, const I64& symbols, const F64& loc, const F64& scale, double w,          \
                          int64_t lo, int64_t hi) {                                                              \
    const size_t n = symbols.size();                                                                             \
    require_size("mean", loc, n);                                                                                \
    require_size(SCALE, scale, n);                                                                               \
    py::gil_scoped_release release;                                                                              \
    dgmlab::push_##NAME(msg, symbols.data(), loc.data(), scale.data(), n, Grid{w, lo, hi});                      \
  });                                                                                                            \
  m.def(#NAME "_pop", [](Message& msg, const F64& loc, const F64& scale, double w, int64_t lo, int64_t hi) {      \
    const size_t n = loc.size();                                                                                 \
    require_size(SCALE, scale, n);                                                                               \
    I64 out = new_symbols(n);                                                                                    \
    int64_t* p = out.mutable_data();                                                                             \
    py::gil_scoped_release release;                                                                              \
    dgmlab::pop_##NAME(msg, p, loc.data(), scale.data(), n, Grid{w, lo, hi});                                    \
    return out;                                                                                                  \
  });
  DGMLAB_BIND_LOCATION_SCALE(gaussian, "std")
  DGMLAB_BIND_LOCATION_SCALE(logistic, "scale")
#undef DGMLAB_BIND_LOCATION_SCALE

  m.def("mixlogistic_push", [](Message& msg, const I64& symbols, const F64& logits, const F64& means,
                               const F64& log_scales, double w, int64_t lo, int64_t hi) {
    int64_t k = 0;
    const size_t n = rows_of("logits", logits, &k);
    require_size("symbols", symbols, n);
    require_size("means", means, n * k);
    require_size("log_scales", log_scales, n * k);
    py::gil_scoped_release release;
    dgmlab::push_mixlogistic(msg, symbols.data(), logits.data(), means.data(), log_scales.data(), n,
                             static_cast<int>(k), Grid{w, lo, hi});
  });
  m.def("mixlogistic_pop", [](Message& msg, const F64& logits, const F64& means, const F64& log_scales, double w,
                              int64_t lo, int64_t hi) {
    int64_t k = 0;
    const size_t n = rows_of("logits", logits, &k);
    require_size("means", means, n * k);
    require_size("log_scales", log_scales, n * k);
    I64 out = new_symbols(n);
    int64_t* p = out.mutable_data();
    py::gil_scoped_release release;
    dgmlab::pop_mixlogistic(msg, p, logits.data(), means.data(), log_scales.data(), n, static_cast<int>(k),
                            Grid{w, lo, hi});
    return out;
  });
}

void bind_tables(py::module_& m) {
  m.def("categorical_push", [](Message& msg, const I64& symbols, const F64& probs, unsigned precision) {
    int64_t k = 0;
    const size_t n = rows_of("probs", probs, &k);
    require_size("symbols", symbols, n);
    py::gil_scoped_release release;
    dgmlab::push_categorical(msg, symbols.data(), probs.data(), n, k, precision);
  });
  m.def("categorical_pop", [](Message& msg, const F64& probs, unsigned precision) {
    int64_t k = 0;
    const size_t n = rows_of("probs", probs, &k);
    I64 out = new_symbols(n);
    int64_t* p = out.mutable_data();
    py::gil_scoped_release release;
    dgmlab::pop_categorical(msg, p, probs.data(), n, k, precision);
    return out;
  });

  py::class_<dgmlab::CategoricalTable>(m, "CategoricalTable")
      .def(py::init([](const F64& probs, unsigned precision) {
        dgmlab::check_probs(probs.data(), 1, probs.size(), precision);
        return dgmlab::CategoricalTable(probs.data(), probs.size(), precision);
      }))
      .def_property_readonly("cdf", [](const dgmlab::CategoricalTable& t) {
        return py::array_t<uint32_t>(static_cast<py::ssize_t>(t.cdf().size()), t.cdf().data());
      })
      .def("push", [](const dgmlab::CategoricalTable& t, Message& msg, const I64& symbols) {
        py::gil_scoped_release release;
        dgmlab::push_categorical(msg, t, symbols.data(), symbols.size());
      })
      .def("pop", [](const dgmlab::CategoricalTable& t, Message& msg, size_t n) {
        I64 out = new_symbols(n);
        int64_t* p = out.mutable_data();
        py::gil_scoped_release release;
        dgmlab::pop_categorical(msg, t, p, n);
        return out;
      });

  py::class_<dgmlab::GaussianBucketsTable>(m, "GaussianBucketsTable")
      .def(py::init<unsigned>())
      .def_property_readonly("edges", [](const dgmlab::GaussianBucketsTable& t) {
        return py::array_t<double>(static_cast<py::ssize_t>(t.edges().size()), t.edges().data());
      })
      .def_property_readonly("centres", [](const dgmlab::GaussianBucketsTable& t) {
        return py::array_t<double>(static_cast<py::ssize_t>(t.centres().size()), t.centres().data());
      })
      .def("push", [](const dgmlab::GaussianBucketsTable& t, Message& msg, const I64& symbols, const F64& mean,
                      const F64& std) {
        const size_t n = symbols.size();
        require_size("mean", mean, n);
        require_size("std", std, n);
        py::gil_scoped_release release;
        dgmlab::push_gaussian_buckets(msg, t, symbols.data(), mean.data(), std.data(), n);
      })
      .def("pop", [](const dgmlab::GaussianBucketsTable& t, Message& msg, const F64& mean, const F64& std) {
        const size_t n = mean.size();
        require_size("std", std, n);
        I64 out = new_symbols(n);
        int64_t* p = out.mutable_data();
        py::gil_scoped_release release;
        dgmlab::pop_gaussian_buckets(msg, t, p, mean.data(), std.data(), n);
        return out;
      });
}

// What the coder computes for one Gaussian symbol: lets tests check the integer CDF against an mpmath reference.
void bind_introspection(py::module_& m) {
  m.def("gaussian_slot", [](int64_t symbol, double mean, double std, double w, int64_t lo, int64_t hi) {
    const Grid g{w, lo, hi};
    dgmlab::check_grid(g);
    const dgmlab::GaussianModel model(mean, std, g);
    const int64_t b = model.bucket_of(symbol);
    return py::make_tuple(b, model.num_buckets(), model.bucket_begin(b), model.bucket_begin(b + 1),
                          dgmlab::bucket_cdf(model, b), dgmlab::bucket_cdf(model, b + 1));
  });
  m.def("det_exp", py::vectorize([](double x) { return dgmlab::detmath::exp(x); }));
  m.def("det_log", py::vectorize([](double x) { return dgmlab::detmath::log(x); }));
  m.def("det_erfc", py::vectorize([](double x) { return dgmlab::detmath::erfc(x); }));
  m.def("det_normal_cdf", py::vectorize([](double x) { return dgmlab::detmath::normal_cdf(x); }));
  m.def("det_normal_quantile", py::vectorize([](double p) { return dgmlab::detmath::normal_quantile(p); }));
  m.def("det_sigmoid", py::vectorize([](double x) { return dgmlab::detmath::sigmoid(x); }));
  m.def("det_phi", py::vectorize([](double t) { return dgmlab::detmath::phi(t); }));
  m.def("det_phi2", [](const F64& t0, const F64& t1) {  // phi2 lane by lane, to check it against phi
    const size_t n = t0.size();
    require_size("t1", t1, n);
    F64 p0(static_cast<py::ssize_t>(n)), p1(static_cast<py::ssize_t>(n));
    double *out0 = p0.mutable_data(), *out1 = p1.mutable_data();
    for (size_t i = 0; i < n; ++i) dgmlab::detmath::phi2(t0.data()[i], t1.data()[i], out0[i], out1[i]);
    return py::make_tuple(p0, p1);
  });
  // The encoder's block passes, on the dispatched path (AVX2 where the CPU has it) or the scalar one: tests check
  // that both give the same bits.
  m.def("coder_simd", []() {
    return std::string(dgmlab::has_avx512() ? "avx512" : dgmlab::detmath::has_avx2() ? "avx2" : "scalar");
  });
  // The fine-grid Gaussian plan (fine_gaussian.hpp) of every item, block by block: (offset, width, start, freq).
  m.def("fine_gaussian_plan", [](const I64& symbols, const F64& mean, const F64& std, double bin_width, int64_t lo,
                                 int64_t hi, bool dispatched) {
    const size_t n = symbols.size();
    require_size("mean", mean, n);
    require_size("std", std, n);
    const Grid g{bin_width, lo, hi};
    dgmlab::check_location_scale("std", mean.data(), std.data(), symbols.data(), n, g);
    py::array_t<uint64_t> offset(static_cast<py::ssize_t>(n)), width(static_cast<py::ssize_t>(n));
    py::array_t<uint32_t> start(static_cast<py::ssize_t>(n)), freq(static_cast<py::ssize_t>(n));
    dgmlab::FineGaussianBlock b;
    for (size_t first = 0; first < n; first += dgmlab::FineGaussianBlock::kMax) {
      const size_t count = std::min(n - first, dgmlab::FineGaussianBlock::kMax);
      dgmlab::plan_fine_block(g, mean.data(), std.data(), symbols.data(), first, count, b, dispatched);
      for (size_t c = 0; c < count; ++c) {
        offset.mutable_data()[first + c] = b.offset[c];
        width.mutable_data()[first + c] = b.width[c];
        start.mutable_data()[first + c] = b.start[c];
        freq.mutable_data()[first + c] = b.freq[c];
      }
    }
    return py::make_tuple(offset, width, start, freq);
  });
  m.def("det_phi_standardised", [](const F64& e, const F64& mean, const F64& std, bool dispatched) {
    const size_t n = e.size();
    require_size("mean", mean, n);
    require_size("std", std, n);
    F64 out(static_cast<py::ssize_t>(n));
    if (dispatched)
      dgmlab::detmath::phi_standardised(e.data(), mean.data(), std.data(), out.mutable_data(), n);
    else
      dgmlab::detmath::phi_standardised_scalar(e.data(), mean.data(), std.data(), out.mutable_data(), n);
    return out;
  });
  m.def("quantise_pairs", [](const F64& f0, const F64& f1, const F64& range, const py::array_t<int32_t>& b,
                             const py::array_t<int32_t>& nb, const py::array_t<uint32_t>& total, bool dispatched) {
    const size_t n = f0.size();
    require_size("f1", f1, n);
    require_size("range", range, n);
    require_size("b", b, n);
    require_size("nb", nb, n);
    require_size("total", total, n);
    py::array_t<uint32_t> start(static_cast<py::ssize_t>(n)), freq(static_cast<py::ssize_t>(n));
    (dispatched ? dgmlab::quantise_pairs : dgmlab::quantise_pairs_scalar)(
        f0.data(), f1.data(), range.data(), b.data(), nb.data(), total.data(), start.mutable_data(),
        freq.mutable_data(), n);
    return py::make_tuple(start, freq);
  });
}

}  // namespace

void register_coder(py::module_& m) {
  bind_message(m);
  bind_grid_codecs(m);
  bind_tables(m);
  bind_introspection(m);
}
