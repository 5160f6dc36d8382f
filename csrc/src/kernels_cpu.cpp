#include "kernels_cpu.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "dgmlab/kernels/cholesky_ar.hpp"
#include "dgmlab/kernels/mixlogistic.hpp"

// x86-64 Linux builds carry AVX-512 / AVX2 clones of the hot loops, picked at load time. The clones compute the same
// bits as the baseline: sums run in a fixed order and nothing is contracted into FMAs (-ffp-contract=off).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#define DGMLAB_TARGET_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#define DGMLAB_AVX512_DISPATCH 1
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

// One matrix with block size B (cholesky_ar.hpp), computed in `aligned` (4 d^2 doubles on a 64-byte boundary): J
// is copied there and L, A copied out, so that the blocked loops' vector loads never split across cache lines (J J^T
// took 1.7x less time at d = 256 with AVX-512 here); the copies cost O(d^2) against the conversion's O(d^3).
template <int B>
DGMLAB_CHOLESKY_INLINE cholesky_ar::Result cholesky_to_ar_aligned(const double* J, int d, double sigma,
                                                                 double max_cond, double* L, double* A,
                                                                 double* std_dev, double* aligned) {
  const std::size_t dd = static_cast<std::size_t>(d) * d;
  double* Ja = aligned;
  double* La = Ja + dd;
  double* Aa = La + dd;
  std::copy(J, J + dd, Ja);
  const cholesky_ar::Result r = cholesky_ar::cholesky_to_ar<B>(Ja, d, sigma, max_cond, La, Aa, std_dev, Aa + dd);
  std::copy(La, La + dd, L);
  std::copy(Aa, Aa + dd, A);
  return r;
}

// Blocks of 4 need AVX-512's 32 vector registers; narrower machines (AVX2, SSE2, NEON) run blocks of 1, which
// do not spill there. Both give the same bits.
DGMLAB_TARGET_CLONES
cholesky_ar::Result cholesky_to_ar_narrow(const double* J, int d, double sigma, double max_cond, double* L,
                                          double* A, double* std_dev, double* aligned) {
  return cholesky_to_ar_aligned<1>(J, d, sigma, max_cond, L, A, std_dev, aligned);
}

#ifdef DGMLAB_AVX512_DISPATCH
__attribute__((target("avx512f")))
cholesky_ar::Result cholesky_to_ar_wide(const double* J, int d, double sigma, double max_cond, double* L, double* A,
                                        double* std_dev, double* aligned) {
  return cholesky_to_ar_aligned<4>(J, d, sigma, max_cond, L, A, std_dev, aligned);
}
#endif

cholesky_ar::Result cholesky_to_ar_one(const double* J, int d, double sigma, double max_cond, double* L, double* A,
                                       double* std_dev, double* aligned) {
#ifdef DGMLAB_AVX512_DISPATCH
  static const bool wide = __builtin_cpu_supports("avx512f");
  if (wide) return cholesky_to_ar_wide(J, d, sigma, max_cond, L, A, std_dev, aligned);
#endif
  return cholesky_to_ar_narrow(J, d, sigma, max_cond, L, A, std_dev, aligned);
}

// The first 64-byte boundary in `buffer` (which holds 8 spare doubles for it).
double* align64(std::vector<double>& buffer) {
  const auto address = reinterpret_cast<std::uintptr_t>(buffer.data());
  return buffer.data() + ((64 - address % 64) % 64) / sizeof(double);
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
  // Lane l reads matrix first + l, or the identity past the end of the batch. Loops run over elements outside and
  // lanes inside, with plain pointers per lane, so each step moves one contiguous group of kLanes values.
  const int count = static_cast<int>(std::min<std::int64_t>(kLanes, B - first));
  const double* src[kLanes];
  for (int l = 0; l < count; ++l) src[l] = J + (first + l) * dd;
  for (std::int64_t e = 0; e < dd; ++e) {
    double* group = Jg + e * kLanes;
    for (int l = 0; l < count; ++l) group[l] = src[l][e];
    for (int l = count; l < kLanes; ++l) group[l] = e % (d + 1) == 0 ? 1.0 : 0.0;
  }
  cholesky_ar::cholesky_to_ar_interleaved<kLanes>(Jg, d, sigma, max_cond, Lg, Ag, Sg, Mg, results);
  for (int l = 0; l < count; ++l) {
    double* Lb = L + (first + l) * dd;
    double* Ab = A + (first + l) * dd;
    double* Sb = std_dev + (first + l) * d;
    for (std::int64_t e = 0; e < dd; ++e) Lb[e] = Lg[e * kLanes + l];
    for (std::int64_t e = 0; e < dd; ++e) Ab[e] = Ag[e * kLanes + l];
    for (int i = 0; i < d; ++i) Sb[i] = Sg[i * kLanes + l];
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
                                            : static_cast<std::size_t>(4 * dd + 8));
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
                                        std_dev + b0 * d, align64(scratch));
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

// Bisection runs groups of kSolveLanes elements in lockstep (every element takes about the same number of steps):
// their evaluations are independent and vectorise across the group. Newton-bisection solves one element at a time.
// Both give the bits of mixlogistic::solve, which the CUDA kernel runs.
constexpr int kSolveLanes = 8;

// Solves elements [first, first + count) of the inverse; failures go to `first_failure`.
template <class T>
DGMLAB_TARGET_CLONES
void mixlogistic_inverse_group(const T* targets, const T* logits, const T* means, const T* log_scales, T* x,
                               std::int64_t first, int count, int K, double tol, bool newton, bool logit_form,
                               ComponentBuffer& one, std::vector<double>& lanes, Failure& first_failure) {
  const mixlogistic::Components c = one.view();
  double* weight = lanes.data();
  double* mean = weight + static_cast<std::size_t>(K) * kSolveLanes;
  double* inv_scale = mean + static_cast<std::size_t>(K) * kSolveLanes;
  mixlogistic::Solver solver[kSolveLanes];
  double at[kSolveLanes];
  mixlogistic::Eval f[kSolveLanes];
  bool valid[kSolveLanes];
  bool all_done = true;
  for (int l = 0; l < kSolveLanes; ++l) {
    const std::int64_t i = first + l;
    solver[l].done = true;
    valid[l] = false;
    at[l] = 0.0;
    for (int k = 0; k < K; ++k) {  // idle lanes evaluate a harmless standard logistic
      weight[k * kSolveLanes + l] = 1.0;
      mean[k * kSolveLanes + l] = 0.0;
      inv_scale[k * kSolveLanes + l] = 1.0;
    }
    if (l >= count) continue;
    const std::int64_t o = i * K;
    const double t = static_cast<double>(targets[i]);
    Failure bad;
    if (!std::isfinite(t)) {
      bad = Failure{1, 0, i, -1, t};
    } else if (!logit_form && !(t > 0.0 && t < 1.0)) {
      bad = Failure{2, 0, i, -1, t};
    } else if (const int which = mixlogistic::prepare(logits + o, means + o, log_scales + o, c)) {
      bad = Failure{1, which, i, -1, 0.0};
    }
    if (bad.code != 0) {
      x[i] = static_cast<T>(NAN);
      if (first_failure.code == 0 || i < first_failure.index) first_failure = bad;
      continue;
    }
    const double y = logit_form ? t : mixlogistic::logit(t);
    if (newton) {  // iteration counts differ between elements: lockstep would mostly wait for the slowest
      x[i] = static_cast<T>(mixlogistic::solve(y, c, tol, true));
      continue;
    }
    mixlogistic::solver_init(solver[l], y, c, tol, false);
    valid[l] = true;
    for (int k = 0; k < K; ++k) {
      weight[k * kSolveLanes + l] = c.weight[k];
      mean[k * kSolveLanes + l] = c.mean[k];
      inv_scale[k * kSolveLanes + l] = c.inv_scale[k];
    }
    all_done = all_done && solver[l].done;
  }
  while (!all_done) {
    for (int l = 0; l < kSolveLanes; ++l) at[l] = solver[l].x;
    mixlogistic::evaluate_lanes<kSolveLanes>(at, K, weight, mean, inv_scale, f);
    all_done = true;
    for (int l = 0; l < kSolveLanes; ++l) {
      if (solver[l].done) continue;
      mixlogistic::solver_update(solver[l], f[l]);
      all_done = all_done && solver[l].done;
    }
  }
  for (int l = 0; l < count; ++l)
    if (valid[l]) x[first + l] = static_cast<T>(solver[l].x);
}

template <class T>
Failure mixlogistic_inverse_cpu(const T* targets, const T* logits, const T* means, const T* log_scales, T* x,
                                std::int64_t n, int K, double tol, bool newton, bool logit_form) {
  Failure first;
  const std::int64_t groups = (n + kSolveLanes - 1) / kSolveLanes;
#pragma omp parallel
  {
    ComponentBuffer one(K);
    std::vector<double> lanes(3 * static_cast<std::size_t>(K) * kSolveLanes);
    Failure mine;
#pragma omp for schedule(dynamic, 64)
    for (std::int64_t g = 0; g < groups; ++g) {
      const std::int64_t b = g * kSolveLanes;
      mixlogistic_inverse_group(targets, logits, means, log_scales, x, b,
                                static_cast<int>(std::min<std::int64_t>(kSolveLanes, n - b)), K, tol, newton,
                                logit_form, one, lanes, mine);
    }
    if (mine.code != 0) {
#pragma omp critical(dgmlab_mixlogistic_failure)
      keep_first(first, mine);
    }
  }
  return first;
}

// Elements [first, last) of the forward map; failures go to `first_failure`.
template <class T>
DGMLAB_TARGET_CLONES
void mixlogistic_forward_range(const T* x, const T* logits, const T* means, const T* log_scales, T* value,
                               T* log_derivative, std::int64_t first, std::int64_t last, int K, bool logit_form,
                               ComponentBuffer& buf, Failure& first_failure) {
  const mixlogistic::Components c = buf.view();
  for (std::int64_t i = first; i < last; ++i) {
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
    if (first_failure.code == 0) first_failure = f;
  }
}

template <class T>
Failure mixlogistic_forward_cpu(const T* x, const T* logits, const T* means, const T* log_scales, T* value,
                                T* log_derivative, std::int64_t n, int K, bool logit_form) {
  constexpr std::int64_t kChunk = 256;
  Failure first;
#pragma omp parallel
  {
    ComponentBuffer buf(K);
    Failure mine;
#pragma omp for schedule(dynamic, 4)
    for (std::int64_t b = 0; b < n; b += kChunk)
      mixlogistic_forward_range(x, logits, means, log_scales, value, log_derivative, b, std::min(n, b + kChunk), K,
                                logit_form, buf, mine);
    if (mine.code != 0) {
#pragma omp critical(dgmlab_mixlogistic_failure)
      keep_first(first, mine);
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
