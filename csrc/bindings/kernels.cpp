// Numerical kernels: batched Cholesky -> autoregressive and the logistic-mixture map / inverse (CPU and CUDA).
// Arrays come in as numpy arrays (torch CPU tensors are viewed as numpy by dgmlab.kernels, CUDA tensors arrive as
// device pointers); every argument is checked here as well as in Python, and the GIL is released while kernels run.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "dgmlab/linear_ar.hpp"
#include "kernels_cpu.hpp"
#include "output_pool.hpp"
#ifdef DGMLAB_WITH_CUDA
#include "kernels_cuda.hpp"
#endif

namespace py = pybind11;
using dgmlab::kernels::Failure;

namespace {

constexpr std::uint64_t kStatusOk = std::numeric_limits<std::uint64_t>::max();

std::string shape_str(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

// Requires a C-contiguous array of the given dtype.
void require(const py::array& a, const char* name, const py::dtype& dtype) {
  if (!a.dtype().is(dtype))
    throw py::value_error(std::string(name) + " must have dtype " + std::string(py::str(dtype)) + ", got " +
                          std::string(py::str(a.dtype())));
  if (!(a.flags() & py::array::c_style)) throw py::value_error(std::string(name) + " must be C-contiguous");
}

void require_positive(double v, const char* name) {
  if (!(v > 0.0) || !std::isfinite(v))
    throw py::value_error(std::string(name) + " must be a finite number > 0, got " + std::to_string(v));
}

py::tuple cholesky_to_ar(const py::array& J, double sigma, double max_cond, bool reference) {
  require(J, "J", py::dtype::of<double>());
  if (J.ndim() != 3 || J.shape(1) != J.shape(2) || J.shape(1) < 1)
    throw py::value_error("J must have shape (B, d, d) with d >= 1, got " + shape_str(J));
  require_positive(sigma, "sigma");
  require_positive(max_cond, "max_cond");
  const std::int64_t B = J.shape(0);
  const py::ssize_t d = J.shape(1);
  // L, A and the standard deviations from the output pool: repeated calls of one shape reuse the pages of outputs
  // already freed (fresh, the 393 KB of standard deviations of 4096 x 12 x 12 cost 0.2-0.3 ms of page faults).
  py::array_t<double> L = dgmlab::bindings::pooled_array({static_cast<py::ssize_t>(B), d, d});
  py::array_t<double> A = dgmlab::bindings::pooled_array({static_cast<py::ssize_t>(B), d, d});
  py::array_t<double> std_dev = dgmlab::bindings::pooled_array({static_cast<py::ssize_t>(B), d});
  py::array_t<double> kappa(B);
  Failure f;
  {
    py::gil_scoped_release release;
    f = dgmlab::kernels::cholesky_to_ar_batch(static_cast<const double*>(J.data()), B, static_cast<int>(d), sigma,
                                              max_cond, L.mutable_data(), A.mutable_data(),
                                              std_dev.mutable_data(), kappa.mutable_data(), reference);
  }
  const std::string at = "J[" + std::to_string(f.index) + "]";
  switch (f.code) {
    case 0:
      break;
    case 1:
      throw py::value_error(at + " has a non-finite entry at flat position " + std::to_string(f.detail));
    case 2:
      throw py::value_error(at + " is singular: J J^T is not positive definite at column " +
                            std::to_string(f.detail) + " (pivot " + std::to_string(f.value) + ")");
    default:
      throw py::value_error(at + " is ill-conditioned: kappa_F(J) = " + std::to_string(f.value) +
                            " exceeds max_cond = " + std::to_string(max_cond));
  }
  return py::make_tuple(L, A, std_dev, kappa);
}

// Raises ValueError for a mixture kernel status word (index * 16 + code * 4 + arg); `first` names argument 0.
void check_mixlogistic_status(std::uint64_t word, const std::string& first) {
  if (word == kStatusOk) return;
  const std::string index = std::to_string(word / 16);
  const int code = static_cast<int>((word % 16) / 4), arg = static_cast<int>(word % 4);
  if (code == 2) throw py::value_error(first + "[" + index + "] is outside (0, 1) (target='cdf')");
  static const char* names[] = {nullptr, "logits", "means", "log_scales"};
  if (arg == 0) throw py::value_error(first + "[" + index + "] is not finite");
  throw py::value_error(std::string(names[arg]) + "[" + index + ", :] has a non-finite value");
}

std::uint64_t status_word(const Failure& f) {
  if (f.code == 0) return kStatusOk;
  return static_cast<std::uint64_t>(f.index) * 16u + static_cast<std::uint64_t>(f.code * 4 + f.arg);
}

// Checks targets/x of shape S and parameters of shape S + (K,), all of one float dtype, C-contiguous.
std::int64_t check_mixture_args(const py::array& t, const char* first, const py::array& logits,
                                const py::array& means, const py::array& log_scales) {
  const bool f64 = t.dtype().is(py::dtype::of<double>());
  if (!f64 && !t.dtype().is(py::dtype::of<float>()))
    throw py::value_error(std::string(first) + " must be float32 or float64, got " + std::string(py::str(t.dtype())));
  require(t, first, t.dtype());
  const std::pair<const py::array*, const char*> params[] = {{&logits, "logits"}, {&means, "means"}, {&log_scales, "log_scales"}};
  for (const auto& [p, name] : params) {
    require(*p, name, t.dtype());
    bool ok = p->ndim() == t.ndim() + 1 && p->shape(p->ndim() - 1) >= 1;
    for (py::ssize_t i = 0; ok && i < t.ndim(); ++i) ok = p->shape(i) == t.shape(i);
    if (!ok)
      throw py::value_error(std::string(name) + " must have shape " + shape_str(t) +
                            " + (K,) with K >= 1, got " + shape_str(*p));
    if (p->shape(p->ndim() - 1) != logits.shape(logits.ndim() - 1))
      throw py::value_error(std::string(name) + " must have the same K as logits");
  }
  return logits.shape(logits.ndim() - 1);
}

py::array mixlogistic_inverse(const py::array& y, const py::array& logits, const py::array& means,
                              const py::array& log_scales, double tol, bool newton, bool logit_form) {
  const std::int64_t K = check_mixture_args(y, "y", logits, means, log_scales);
  require_positive(tol, "tol");
  const std::int64_t n = y.size();
  py::array x(y.dtype(), std::vector<py::ssize_t>(y.shape(), y.shape() + y.ndim()));
  Failure f;
  {
    py::gil_scoped_release release;
    if (y.dtype().is(py::dtype::of<double>()))
      f = dgmlab::kernels::mixlogistic_inverse_cpu<double>(
          static_cast<const double*>(y.data()), static_cast<const double*>(logits.data()),
          static_cast<const double*>(means.data()), static_cast<const double*>(log_scales.data()),
          static_cast<double*>(x.mutable_data()), n, static_cast<int>(K), tol, newton, logit_form);
    else
      f = dgmlab::kernels::mixlogistic_inverse_cpu<float>(
          static_cast<const float*>(y.data()), static_cast<const float*>(logits.data()),
          static_cast<const float*>(means.data()), static_cast<const float*>(log_scales.data()),
          static_cast<float*>(x.mutable_data()), n, static_cast<int>(K), tol, newton, logit_form);
  }
  check_mixlogistic_status(status_word(f), "y");
  return x;
}

py::tuple mixlogistic_forward(const py::array& x, const py::array& logits, const py::array& means,
                              const py::array& log_scales, bool logit_form) {
  const std::int64_t K = check_mixture_args(x, "x", logits, means, log_scales);
  const std::int64_t n = x.size();
  const std::vector<py::ssize_t> shape(x.shape(), x.shape() + x.ndim());
  py::array value(x.dtype(), shape), log_derivative(x.dtype(), shape);
  Failure f;
  {
    py::gil_scoped_release release;
    if (x.dtype().is(py::dtype::of<double>()))
      f = dgmlab::kernels::mixlogistic_forward_cpu<double>(
          static_cast<const double*>(x.data()), static_cast<const double*>(logits.data()),
          static_cast<const double*>(means.data()), static_cast<const double*>(log_scales.data()),
          static_cast<double*>(value.mutable_data()), static_cast<double*>(log_derivative.mutable_data()), n,
          static_cast<int>(K), logit_form);
    else
      f = dgmlab::kernels::mixlogistic_forward_cpu<float>(
          static_cast<const float*>(x.data()), static_cast<const float*>(logits.data()),
          static_cast<const float*>(means.data()), static_cast<const float*>(log_scales.data()),
          static_cast<float*>(value.mutable_data()), static_cast<float*>(log_derivative.mutable_data()), n,
          static_cast<int>(K), logit_form);
  }
  check_mixlogistic_status(status_word(f), "x");
  return py::make_tuple(value, log_derivative);
}

// ---- the linear AR codec on a Message ------------------------------------------------------------------------
// mean, std: (B, d) float64; coeffs: (B, d, d) float64; symbols: (B, d) int64; all C-contiguous.
std::pair<std::size_t, int> linear_ar_shape(const py::array& mean, const py::array& coeffs, const py::array& std_dev) {
  require(mean, "mean", py::dtype::of<double>());
  require(coeffs, "coeffs", py::dtype::of<double>());
  require(std_dev, "std", py::dtype::of<double>());
  if (mean.ndim() != 2 || mean.shape(1) < 1)
    throw py::value_error("mean must have shape (B, d) with d >= 1, got " + shape_str(mean));
  const py::ssize_t B = mean.shape(0), d = mean.shape(1);
  if (coeffs.ndim() != 3 || coeffs.shape(0) != B || coeffs.shape(1) != d || coeffs.shape(2) != d)
    throw py::value_error("coeffs must have shape (B, d, d) = (" + std::to_string(B) + ", " + std::to_string(d) +
                          ", " + std::to_string(d) + "), got " + shape_str(coeffs));
  if (std_dev.ndim() != 2 || std_dev.shape(0) != B || std_dev.shape(1) != d)
    throw py::value_error("std must have the shape of mean " + shape_str(mean) + ", got " + shape_str(std_dev));
  return {static_cast<std::size_t>(B), static_cast<int>(d)};
}

void linear_ar_push(dgmlab::Message& msg, const py::array& symbols, const py::array& mean, const py::array& coeffs,
                    const py::array& std_dev, double bin_width, std::int64_t lo, std::int64_t hi) {
  const auto [B, d] = linear_ar_shape(mean, coeffs, std_dev);
  require(symbols, "symbols", py::dtype::of<std::int64_t>());
  if (symbols.ndim() != 2 || symbols.shape(0) != mean.shape(0) || symbols.shape(1) != mean.shape(1))
    throw py::value_error("symbols must have the shape of mean " + shape_str(mean) + ", got " + shape_str(symbols));
  py::gil_scoped_release release;
  dgmlab::push_linear_ar(msg, static_cast<const std::int64_t*>(symbols.data()),
                         static_cast<const double*>(mean.data()), static_cast<const double*>(coeffs.data()),
                         static_cast<const double*>(std_dev.data()), B, d, dgmlab::Grid{bin_width, lo, hi});
}

py::array linear_ar_pop(dgmlab::Message& msg, const py::array& mean, const py::array& coeffs,
                        const py::array& std_dev, double bin_width, std::int64_t lo, std::int64_t hi) {
  const auto [B, d] = linear_ar_shape(mean, coeffs, std_dev);
  py::array_t<std::int64_t> out({static_cast<py::ssize_t>(B), static_cast<py::ssize_t>(d)});
  std::int64_t* p = out.mutable_data();
  {
    py::gil_scoped_release release;
    dgmlab::pop_linear_ar(msg, p, static_cast<const double*>(mean.data()), static_cast<const double*>(coeffs.data()),
                          static_cast<const double*>(std_dev.data()), B, d, dgmlab::Grid{bin_width, lo, hi});
  }
  return out;
}

// The CUDA entry points exist in every build (the module exports the same names everywhere); without CUDA they
// raise RuntimeError.
constexpr int kCudaMaxComponents = 64;  // dgmlab::kernels::kCudaMaxComponents, checked below when CUDA is built
#ifdef DGMLAB_WITH_CUDA
static_assert(kCudaMaxComponents == dgmlab::kernels::kCudaMaxComponents, "keep in sync with kernels_cuda.hpp");
#endif

void check_cuda_args(int device, std::int64_t n, int K, std::initializer_list<std::uintptr_t> pointers) {
#ifndef DGMLAB_WITH_CUDA
  throw std::runtime_error("this dgmlab build has no CUDA kernels (rebuild with a CUDA toolkit, DGMLAB_CUDA=ON)");
#endif
  if (device < 0) throw py::value_error("device must be >= 0, got " + std::to_string(device));
  if (n < 0) throw py::value_error("n must be >= 0, got " + std::to_string(n));
  if (K < 1 || K > kCudaMaxComponents)
    throw py::value_error("K must be in [1, " + std::to_string(kCudaMaxComponents) + "] on CUDA, got " +
                          std::to_string(K));
  for (std::uintptr_t p : pointers)
    if (p == 0) throw py::value_error("device pointers must be non-null");
}

void mixlogistic_inverse_cuda_py(int device, std::uintptr_t stream, bool is_double, std::uintptr_t y,
                                 std::uintptr_t logits, std::uintptr_t means, std::uintptr_t log_scales,
                                 std::uintptr_t x, std::uintptr_t status, std::int64_t n, int K, double tol,
                                 bool newton, bool logit_form) {
  check_cuda_args(device, n, K, {y, logits, means, log_scales, x, status});
  require_positive(tol, "tol");
#ifdef DGMLAB_WITH_CUDA
  std::string err;
  {
    py::gil_scoped_release release;
    err = dgmlab::kernels::mixlogistic_inverse_cuda(
        device, stream, is_double, reinterpret_cast<const void*>(y), reinterpret_cast<const void*>(logits),
        reinterpret_cast<const void*>(means), reinterpret_cast<const void*>(log_scales), reinterpret_cast<void*>(x),
        reinterpret_cast<std::uint64_t*>(status), n, K, tol, newton, logit_form);
  }
  if (!err.empty()) throw std::runtime_error("mixlogistic_inverse_cuda: " + err);
#else
  (void)stream, (void)is_double, (void)newton, (void)logit_form;
#endif
}

void mixlogistic_forward_cuda_py(int device, std::uintptr_t stream, bool is_double, std::uintptr_t x,
                                 std::uintptr_t logits, std::uintptr_t means, std::uintptr_t log_scales,
                                 std::uintptr_t value, std::uintptr_t log_derivative, std::uintptr_t status,
                                 std::int64_t n, int K, bool logit_form) {
  check_cuda_args(device, n, K, {x, logits, means, log_scales, value, log_derivative, status});
#ifdef DGMLAB_WITH_CUDA
  std::string err;
  {
    py::gil_scoped_release release;
    err = dgmlab::kernels::mixlogistic_forward_cuda(
        device, stream, is_double, reinterpret_cast<const void*>(x), reinterpret_cast<const void*>(logits),
        reinterpret_cast<const void*>(means), reinterpret_cast<const void*>(log_scales),
        reinterpret_cast<void*>(value), reinterpret_cast<void*>(log_derivative),
        reinterpret_cast<std::uint64_t*>(status), n, K, logit_form);
  }
  if (!err.empty()) throw std::runtime_error("mixlogistic_forward_cuda: " + err);
#else
  (void)stream, (void)is_double, (void)logit_form;
#endif
}

}  // namespace

void register_kernels(py::module_& m) {
  m.def("cholesky_to_ar", &cholesky_to_ar, py::arg("J"), py::arg("sigma"), py::arg("max_cond"),
        py::arg("reference") = false,
        "J (B, d, d) float64 -> (L, A, std, kappa_F(J)) for N(0, sigma^2 J J^T); see dgmlab.kernels. reference=True "
        "runs d > 16 through the plain one-entry-at-a-time loops on every CPU (same bits; for tests).");
  m.def("mixlogistic_inverse", &mixlogistic_inverse, py::arg("y"), py::arg("logits"), py::arg("means"),
        py::arg("log_scales"), py::arg("tol"), py::arg("newton"), py::arg("logit_form"),
        "Solves sigma^-1(MixLogCDF(x)) = y (logit_form) or MixLogCDF(x) = y elementwise (CPU, OpenMP).");
  m.def("mixlogistic_forward", &mixlogistic_forward, py::arg("x"), py::arg("logits"), py::arg("means"),
        py::arg("log_scales"), py::arg("logit_form"),
        "(value, log-derivative) of sigma^-1(MixLogCDF(x)) (logit_form) or MixLogCDF(x) (CPU, OpenMP).");
  m.def("check_mixlogistic_status", &check_mixlogistic_status, py::arg("status"), py::arg("first"),
        "Raises ValueError for a CUDA mixture kernel's status word (all ones: no failure).");
  m.def("linear_ar_push", &linear_ar_push, py::arg("msg"), py::arg("symbols"), py::arg("mean"), py::arg("coeffs"),
        py::arg("std"), py::arg("bin_width"), py::arg("lo"), py::arg("hi"),
        "Pushes (B, d) grid symbols under the linear AR Gaussians (mean, coeffs, std) (dgmlab/linear_ar.hpp).");
  m.def("linear_ar_pop", &linear_ar_pop, py::arg("msg"), py::arg("mean"), py::arg("coeffs"), py::arg("std"),
        py::arg("bin_width"), py::arg("lo"), py::arg("hi"),
        "Pops (B, d) grid symbols under the linear AR Gaussians (mean, coeffs, std) (dgmlab/linear_ar.hpp).");
  m.def("cuda_max_components", [] { return kCudaMaxComponents; },
        "Largest mixture size K the CUDA kernels take.");
  m.def("mixlogistic_inverse_cuda", &mixlogistic_inverse_cuda_py, py::arg("device"), py::arg("stream"),
        py::arg("is_double"), py::arg("y"), py::arg("logits"), py::arg("means"), py::arg("log_scales"), py::arg("x"),
        py::arg("status"), py::arg("n"), py::arg("K"), py::arg("tol"), py::arg("newton"), py::arg("logit_form"),
        "Queues the mixture inverse on a CUDA stream; arguments are device pointers (see dgmlab.kernels).");
  m.def("mixlogistic_forward_cuda", &mixlogistic_forward_cuda_py, py::arg("device"), py::arg("stream"),
        py::arg("is_double"), py::arg("x"), py::arg("logits"), py::arg("means"), py::arg("log_scales"),
        py::arg("value"), py::arg("log_derivative"), py::arg("status"), py::arg("n"), py::arg("K"),
        py::arg("logit_form"),
        "Queues the mixture forward map on a CUDA stream; arguments are device pointers (see dgmlab.kernels).");
}
