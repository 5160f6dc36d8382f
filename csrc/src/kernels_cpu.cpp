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

// Batches below this many multiply-adds (about a millisecond on one core) run on the calling thread: waking a
// second thread can cost more than that on a busy machine.
constexpr double kParallelMinWork = 4.0e6;
constexpr int kLanes = 8;               // matrices per interleaved group
constexpr int kInterleavedMaxDim = 16;  // d up to this runs the batch-interleaved path

// Matrices first .. first + kLanes - 1 (identity beyond the batch) through the interleaved path; returns the
// results of the lanes inside the batch through `results`.
DGMLAB_TARGET_CLONES
void cholesky_to_ar_group(const double* J, std::int64_t B, std::int64_t first, int d, double sigma, double max_cond,
                          double* L, double* A, double* std_dev, double* buffer, cholesky_ar::Result* results) {
  const std::int64_t dd = static_cast<std::int64_t>(d) * d;
  double* Jg = buffer;
  double* Lg = Jg + dd * kLanes;
  double* Ag = Lg + dd * kLanes;
  double* Mg = Ag + dd * kLanes;
  double* Sg = Mg + dd * kLanes;
  for (int l = 0; l < kLanes; ++l) {
    const std::int64_t b = first + l;
    for (std::int64_t e = 0; e < dd; ++e)
      Jg[e * kLanes + l] = b < B ? J[b * dd + e] : (e % (d + 1) == 0 ? 1.0 : 0.0);
  }
  cholesky_ar::cholesky_to_ar_interleaved<kLanes>(Jg, d, sigma, max_cond, Lg, Ag, Sg, Mg, results);
  for (int l = 0; l < kLanes && first + l < B; ++l) {
    const std::int64_t b = first + l;
    for (std::int64_t e = 0; e < dd; ++e) {
      L[b * dd + e] = Lg[e * kLanes + l];
      A[b * dd + e] = Ag[e * kLanes + l];
    }
    for (int i = 0; i < d; ++i) std_dev[b * d + i] = Sg[i * kLanes + l];
  }
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
  const bool interleaved = d <= kInterleavedMaxDim;
  const std::int64_t groups = interleaved ? (B + kLanes - 1) / kLanes : B;
  const double work = static_cast<double>(B) * d * d * d;
#pragma omp parallel if (work >= kParallelMinWork)
  {
    std::vector<double> scratch(interleaved ? static_cast<std::size_t>((4 * dd + d) * kLanes)
                                            : static_cast<std::size_t>(dd));
    cholesky_ar::Result results[kLanes];
#pragma omp for schedule(dynamic, 1)
    for (std::int64_t g = 0; g < groups; ++g) {
      std::int64_t b0 = g;
      int count = 1;
      if (interleaved) {
        b0 = g * kLanes;
        count = static_cast<int>(std::min<std::int64_t>(kLanes, B - b0));
        cholesky_to_ar_group(J, B, b0, d, sigma, max_cond, L, A, std_dev, scratch.data(), results);
      } else {
        results[0] = cholesky_to_ar_one(J + b0 * dd, d, sigma, max_cond, L + b0 * dd, A + b0 * dd,
                                        std_dev + b0 * d, scratch.data());
      }
      for (int l = 0; l < count; ++l) {
        const cholesky_ar::Result& r = results[l];
        kappa[b0 + l] = r.value;
        if (r.status != cholesky_ar::Status::kOk) {
          Failure f{static_cast<int>(r.status), 0, b0 + l, r.index, r.value};
#pragma omp critical(dgmlab_cholesky_failure)
          keep_first(first, f);
        }
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
