#include "kernels_cpu.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "dgmlab/kernels/cholesky_ar.hpp"
#include "dgmlab/kernels/mixlogistic.hpp"

// x86-64 Linux builds carry AVX-512 / AVX2 clones of the hot loops, picked at load time. The clones compute the same
// bits as the baseline: sums run in a fixed order and nothing is contracted into FMAs (-ffp-contract=off).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#define DGMLAB_TARGET_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define DGMLAB_TARGET_CLONES
#endif

namespace dgmlab {
namespace kernels {
namespace {

// Keeps the failure with the smallest index; call inside `#pragma omp critical`.
void keep_first(Failure& first, const Failure& f) {
  if (first.code == 0 || f.index < first.index) first = f;
}

DGMLAB_TARGET_CLONES
cholesky_ar::Result cholesky_to_ar_one(const double* J, int d, double sigma, double max_cond, double* L, double* A,
                                       double* std_dev, double* scratch) {
  return cholesky_ar::cholesky_to_ar(J, d, sigma, max_cond, L, A, std_dev, scratch);
}

// Parameters of element i as mixlogistic::Components, in a per-thread buffer.
struct ComponentBuffer {
  explicit ComponentBuffer(int K) : K(K), data(4 * static_cast<std::size_t>(K)) {}
  mixlogistic::Components view() {
    return mixlogistic::Components{K, data.data(), data.data() + K, data.data() + 2 * K, data.data() + 3 * K};
  }
  int K;
  std::vector<double> data;
};

}  // namespace

Failure cholesky_to_ar_batch(const double* J, std::int64_t B, int d, double sigma, double max_cond, double* L,
                             double* A, double* std_dev, double* kappa) {
  Failure first;
  const std::int64_t dd = static_cast<std::int64_t>(d) * d;
#pragma omp parallel
  {
    std::vector<double> scratch(static_cast<std::size_t>(dd));
#pragma omp for schedule(dynamic, 1)
    for (std::int64_t b = 0; b < B; ++b) {
      const cholesky_ar::Result r =
          cholesky_to_ar_one(J + b * dd, d, sigma, max_cond, L + b * dd, A + b * dd, std_dev + b * d, scratch.data());
      kappa[b] = r.value;
      if (r.status != cholesky_ar::Status::kOk) {
        Failure f{static_cast<int>(r.status), 0, b, r.index, r.value};
#pragma omp critical(dgmlab_cholesky_failure)
        keep_first(first, f);
      }
    }
  }
  return first;
}

template <class T>
Failure mixlogistic_inverse_cpu(const T* targets, const T* logits, const T* means, const T* log_scales, T* x,
                                std::int64_t n, int K, double tol, bool newton, bool logit_form) {
  Failure first;
#pragma omp parallel
  {
    ComponentBuffer buf(K);
    const mixlogistic::Components c = buf.view();
#pragma omp for schedule(static, 256)
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int64_t o = i * K;
      const double t = static_cast<double>(targets[i]);
      Failure f;
      if (!std::isfinite(t)) {
        f = Failure{1, 0, i, -1, t};
      } else if (!logit_form && !(t > 0.0 && t < 1.0)) {
        f = Failure{2, 0, i, -1, t};
      } else if (const int bad = mixlogistic::prepare(logits + o, means + o, log_scales + o, c)) {
        f = Failure{1, bad, i, -1, 0.0};
      } else {
        const double y = logit_form ? t : mixlogistic::logit(t);
        x[i] = static_cast<T>(mixlogistic::solve(y, c, tol, newton));
        continue;
      }
      x[i] = static_cast<T>(NAN);
#pragma omp critical(dgmlab_mixlogistic_failure)
      keep_first(first, f);
    }
  }
  return first;
}

template <class T>
Failure mixlogistic_forward_cpu(const T* x, const T* logits, const T* means, const T* log_scales, T* value,
                                T* log_derivative, std::int64_t n, int K, bool logit_form) {
  Failure first;
#pragma omp parallel
  {
    ComponentBuffer buf(K);
    const mixlogistic::Components c = buf.view();
#pragma omp for schedule(static, 256)
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int64_t o = i * K;
      const double xi = static_cast<double>(x[i]);
      Failure f;
      if (!std::isfinite(xi)) {
        f = Failure{1, 0, i, -1, xi};
      } else if (const int bad = mixlogistic::prepare(logits + o, means + o, log_scales + o, c)) {
        f = Failure{1, bad, i, -1, 0.0};
      } else {
        const mixlogistic::Forward r = mixlogistic::forward(xi, c, logit_form);
        value[i] = static_cast<T>(r.value);
        log_derivative[i] = static_cast<T>(r.log_derivative);
        continue;
      }
      value[i] = log_derivative[i] = static_cast<T>(NAN);
#pragma omp critical(dgmlab_mixlogistic_failure)
      keep_first(first, f);
    }
  }
  return first;
}

template Failure mixlogistic_inverse_cpu<float>(const float*, const float*, const float*, const float*, float*,
                                                std::int64_t, int, double, bool, bool);
template Failure mixlogistic_inverse_cpu<double>(const double*, const double*, const double*, const double*, double*,
                                                 std::int64_t, int, double, bool, bool);
template Failure mixlogistic_forward_cpu<float>(const float*, const float*, const float*, const float*, float*,
                                                float*, std::int64_t, int, bool);
template Failure mixlogistic_forward_cpu<double>(const double*, const double*, const double*, const double*,
                                                 double*, double*, std::int64_t, int, bool);

}  // namespace kernels
}  // namespace dgmlab
