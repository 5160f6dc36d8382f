#include "kernels_cpu.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "dgmlab/kernels/cholesky_ar.hpp"
#include "dgmlab/kernels/mixlogistic.hpp"
#include "mixlogistic_lanes.hpp"

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

bool aligned64(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 64 == 0; }

// One matrix with block size B (cholesky_ar.hpp). The blocked loops' vector loads must not split across cache lines
// (J J^T took 1.7x less time at d = 256 with AVX-512 here), so the kernel works on J, L and A starting on 64-byte
// boundaries: each of them that does not is copied into (J) or out of (L, A) `aligned`, aligned_doubles(d) on a
// 64-byte boundary (O(d^2) against the conversion's O(d^3)). Torch tensors are 64-byte aligned, numpy arrays
// 16-byte. `aligned` starts with the kernel's own scratch.
std::size_t aligned_doubles(int d) { return cholesky_ar::scratch_doubles(d) + 3 * static_cast<std::size_t>(d) * d; }

template <int B>
DGMLAB_CHOLESKY_INLINE cholesky_ar::Result cholesky_to_ar_aligned(const double* J, int d, double sigma,
                                                                 double max_cond, double* L, double* A,
                                                                 double* std_dev, double* aligned) {
  const std::size_t dd = static_cast<std::size_t>(d) * d;
  double* scratch = aligned;
  double* copies = aligned + cholesky_ar::scratch_doubles(d);  // a multiple of eight doubles in: still aligned
  const double* Ja = aligned64(J) ? J : copies;
  double* La = aligned64(L) ? L : copies + dd;
  double* Aa = aligned64(A) ? A : copies + 2 * dd;
  if (Ja != J) std::copy(J, J + dd, copies);
  const cholesky_ar::Result r = cholesky_ar::cholesky_to_ar<B>(Ja, d, sigma, max_cond, La, Aa, std_dev, scratch);
  if (La != L) std::copy(La, La + dd, L);
  if (Aa != A) std::copy(Aa, Aa + dd, A);
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
                                       double* std_dev, double* aligned, bool reference) {
#ifdef DGMLAB_AVX512_DISPATCH
  static const bool wide = __builtin_cpu_supports("avx512f");
  if (wide && !reference) return cholesky_to_ar_wide(J, d, sigma, max_cond, L, A, std_dev, aligned);
#endif
  return cholesky_to_ar_narrow(J, d, sigma, max_cond, L, A, std_dev, aligned);
}

// The first 64-byte boundary in `buffer` (which holds 8 spare doubles for it).
double* align64(std::vector<double>& buffer) {
  const auto address = reinterpret_cast<std::uintptr_t>(buffer.data());
  return buffer.data() + ((64 - address % 64) % 64) / sizeof(double);
}

// Scratch of `size` doubles for the calling thread. Up to kKeptScratch doubles it is kept for the thread's next call
// (OpenMP reuses its threads): a fresh 2 MB vector per call (d = 256) is a fresh mapping, and touching its pages cost
// about 1 ms per batch of 16. Larger scratch is allocated per call, where the O(d^3) arithmetic dwarfs that.
constexpr std::size_t kKeptScratch = std::size_t{1} << 21;  // 16 MiB

std::vector<double>& thread_scratch(std::size_t size, std::vector<double>& once) {
  thread_local std::vector<double> kept;
  std::vector<double>& buffer = size <= kKeptScratch ? kept : once;
  if (buffer.size() < size) buffer.resize(size);
  return buffer;
}

// Batches below this much work (B d^3; 4e5 is about 0.1 ms on one core at d = 12) run on the calling thread. On an
// idle two-core machine a second thread already pays from there (batch 128 of 12x12: 0.093 -> 0.052 ms; 2048:
// 0.61 -> 0.40 ms); below it, the microseconds saved are not worth a parallel region, which ends when its slowest
// thread does: on a busy machine a woken thread may wait a scheduler time slice (milliseconds) to run (batch 4096 of
// 12x12, 7e6, once took 41 ms of wall time on two threads at load 7, against 4 ms of CPU).
constexpr double kParallelMinWork = 4.0e5;
constexpr int kLanes = 8;               // matrices per interleaved group (interleave8 / deinterleave8)
constexpr int kInterleavedMaxDim = 16;  // d up to this runs the batch-interleaved path

// deinterleave8 with non-temporal stores (cholesky_ar::stream_copy) where SSE2 has them and every destination row
// starts on a 16-byte boundary: the outputs of a batch of small matrices are megabytes written once (4096 x 12 x 12:
// 9.4 MB for L and A), and plain stores first read each line into the cache; streaming them took 1.1 ms off 2.4 ms
// here. Returns whether it streamed (the caller then fences with cholesky_ar::store_fence before its results are
// read).
DGMLAB_CHOLESKY_INLINE bool deinterleave8_streaming(const double* in, int n, double* const (&dst)[kLanes]) {
#if defined(__SSE2__)
  bool aligned = true;
  for (int l = 0; l < kLanes; ++l) aligned &= reinterpret_cast<std::uintptr_t>(dst[l]) % 16 == 0;
  if (aligned) {
    int e = 0;
    for (; e + 8 <= n; e += 8) {
      cholesky_ar::Vec8 r[8], c[8];
      for (int t = 0; t < 8; ++t) cholesky_ar::load8(r[t], in + (e + t) * 8);
      cholesky_ar::transpose8(r, c);
      for (int l = 0; l < kLanes; ++l) {
        alignas(16) double v[8];
        cholesky_ar::store8(v, c[l]);
        cholesky_ar::stream_copy(dst[l] + e, v, 8);
      }
    }
    for (; e < n; ++e)
      for (int l = 0; l < kLanes; ++l) dst[l][e] = in[e * 8 + l];
    return true;
  }
#endif
  cholesky_ar::deinterleave8(in, n, dst);
  return false;
}

// Matrices first .. first + kLanes - 1 (identity beyond the batch) through the interleaved path; returns the
// results of the lanes inside the batch through `results`. `fresh`: the thread's first group of this call, which
// zeroes the upper triangles of the interleaved L and A (the kernel leaves them; the buffer may hold another call's
// data).
DGMLAB_TARGET_CLONES
void cholesky_to_ar_group(const double* J, std::int64_t B, std::int64_t first, int d, double sigma, double max_cond,
                          double* L, double* A, double* std_dev, double* buffer, bool fresh,
                          cholesky_ar::Result* results) {
  const std::int64_t dd = static_cast<std::int64_t>(d) * d;
  double* Jg = buffer;
  double* Lg = Jg + dd * kLanes;
  double* Ag = Lg + dd * kLanes;
  double* Mg = Ag + dd * kLanes;
  double* Sg = Mg + dd * kLanes;
  double* identity = Sg + d * kLanes;  // what lanes past the end of the batch read
  double* discard = identity + dd;     // and write
  const int count = static_cast<int>(std::min<std::int64_t>(kLanes, B - first));
  if (fresh) std::fill(Lg, Lg + 2 * dd * kLanes, 0.0);  // Lg and Ag
  const double* src[kLanes];
  double* dst_L[kLanes];
  double* dst_A[kLanes];
  if (count < kLanes)
    for (std::int64_t e = 0; e < dd; ++e) identity[e] = e % (d + 1) == 0 ? 1.0 : 0.0;
  for (int l = 0; l < kLanes; ++l) {
    src[l] = l < count ? J + (first + l) * dd : identity;
    dst_L[l] = l < count ? L + (first + l) * dd : discard;
    dst_A[l] = l < count ? A + (first + l) * dd : discard;
  }
  cholesky_ar::interleave8(src, static_cast<int>(dd), Jg);
  // The next group's J (contiguous, read once) into L2 while this one computes, a line at a time: when J comes from
  // memory (a batch of 12 x 12 is 4.7 MB) the loads then overlap the arithmetic (1.76 -> 1.59 ms per 4096 x 12 x 12
  // with the caches flushed between calls; no change with J in L3).
  if (first + 2 * kLanes <= B) {
    const char* next = reinterpret_cast<const char*>(J + (first + kLanes) * dd);
    for (std::int64_t byte = 0; byte < dd * kLanes * 8; byte += 64) __builtin_prefetch(next + byte, 0, 2);
  }
  cholesky_ar::cholesky_to_ar_interleaved<kLanes>(Jg, d, sigma, max_cond, Lg, Ag, Sg, Mg, results);
  const bool streamed = deinterleave8_streaming(Lg, static_cast<int>(dd), dst_L);
  // Non-temporal stores are weakly ordered: make them visible before the batch returns.
  if (deinterleave8_streaming(Ag, static_cast<int>(dd), dst_A) || streamed) cholesky_ar::store_fence();
  if (count == kLanes) {  // eight consecutive rows of std_dev
    double* dst_S[kLanes];
    for (int l = 0; l < kLanes; ++l) dst_S[l] = std_dev + (first + l) * d;
    cholesky_ar::deinterleave8(Sg, d, dst_S);
  } else {
    for (int l = 0; l < count; ++l)
      for (int i = 0; i < d; ++i) std_dev[(first + l) * d + i] = Sg[i * kLanes + l];
  }
}

}  // namespace

Failure cholesky_to_ar_batch(const double* J, std::int64_t B, int d, double sigma, double max_cond, double* L,
                             double* A, double* std_dev, double* kappa, bool reference) {
  Failure first;
  const std::int64_t dd = static_cast<std::int64_t>(d) * d;
  const bool interleaved = d <= kInterleavedMaxDim;
  const std::int64_t groups = interleaved ? (B + kLanes - 1) / kLanes : B;
  const double work = static_cast<double>(B) * d * d * d;
#pragma omp parallel if (work >= kParallelMinWork)
  {
    std::vector<double> once;
    bool fresh = true;
    std::vector<double>& scratch = thread_scratch(
        interleaved ? static_cast<std::size_t>((4 * dd + d) * kLanes + 2 * dd) : aligned_doubles(d) + 8,
        once);
    cholesky_ar::Result results[kLanes];
#pragma omp for schedule(dynamic, 1)
    for (std::int64_t g = 0; g < groups; ++g) {
      std::int64_t b0 = g;
      int count = 1;
      if (interleaved) {
        b0 = g * kLanes;
        count = static_cast<int>(std::min<std::int64_t>(kLanes, B - b0));
        cholesky_to_ar_group(J, B, b0, d, sigma, max_cond, L, A, std_dev, scratch.data(), fresh, results);
        fresh = false;
      } else {
        results[0] = cholesky_to_ar_one(J + b0 * dd, d, sigma, max_cond, L + b0 * dd, A + b0 * dd,
                                        std_dev + b0 * d, align64(scratch), reference);
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

// The mixture kernels run eight elements per SIMD vector (mixlogistic_lanes.hpp) where the CPU has AVX-512, and
// mixlogistic::solve / forward one element at a time elsewhere (as the CUDA kernel does): the same bits either way.
// Threads take blocks of elements.
constexpr std::int64_t kMixtureBlock = 2048;

// Element i's mixture parameters as mixlogistic::Components, in a per-thread buffer.
struct ComponentBuffer {
  explicit ComponentBuffer(int K) : K(K), data(4 * static_cast<std::size_t>(K)) {}
  mixlogistic::Components view() {
    return mixlogistic::Components{K, data.data(), data.data() + K, data.data() + 2 * K, data.data() + 3 * K};
  }
  int K;
  std::vector<double> data;
};

// Per-thread buffers of either path.
struct MixtureWorkspace {
  explicit MixtureWorkspace(int K)
      : one(K)
#ifdef DGMLAB_LANES_AVX512
        ,
        lanes(K)
#endif
  {
  }
  ComponentBuffer one;
#ifdef DGMLAB_LANES_AVX512
  mixlogistic::lanes::InverseWorkspace lanes;
#endif
};

#ifdef DGMLAB_LANES_AVX512
bool has_avx512() {
  static const bool yes = __builtin_cpu_supports("avx512f");
  return yes;
}

template <class T>
__attribute__((target("avx512f")))
void mixlogistic_inverse_lanes(const T* targets, const T* logits, const T* means, const T* log_scales, T* x,
                               std::int64_t first, std::int64_t last, double tol, bool newton, bool logit_form,
                               mixlogistic::lanes::InverseWorkspace& ws, Failure& first_failure) {
  mixlogistic::lanes::inverse_range(targets, logits, means, log_scales, x, first, last, tol, newton, logit_form, ws,
                                    first_failure);
}

template <class T>
__attribute__((target("avx512f")))
void mixlogistic_forward_lanes(const T* x, const T* logits, const T* means, const T* log_scales, T* value,
                               T* log_derivative, std::int64_t first, std::int64_t last, bool logit_form,
                               mixlogistic::lanes::LaneComponents& c, Failure& first_failure) {
  mixlogistic::lanes::forward_range(x, logits, means, log_scales, value, log_derivative, first, last, logit_form, c,
                                    first_failure);
}
#endif

// Elements [first, last) of the inverse, one at a time; failures go to `first_failure`.
template <class T>
DGMLAB_TARGET_CLONES
void mixlogistic_inverse_scalar(const T* targets, const T* logits, const T* means, const T* log_scales, T* x,
                                std::int64_t first, std::int64_t last, double tol, bool newton, bool logit_form,
                                ComponentBuffer& buf, Failure& first_failure) {
  const mixlogistic::Components c = buf.view();
  for (std::int64_t i = first; i < last; ++i) {
    const std::int64_t o = i * c.K;
    const double t = static_cast<double>(targets[i]);
    Failure bad;
    if (!std::isfinite(t)) {
      bad = Failure{1, 0, i, -1, t};
    } else if (!logit_form && !(t > 0.0 && t < 1.0)) {
      bad = Failure{2, 0, i, -1, t};
    } else if (const int which = mixlogistic::prepare(logits + o, means + o, log_scales + o, c)) {
      bad = Failure{1, which, i, -1, 0.0};
    } else {
      x[i] = static_cast<T>(mixlogistic::solve(logit_form ? t : mixlogistic::logit(t), c, tol, newton));
      continue;
    }
    x[i] = static_cast<T>(NAN);
    if (first_failure.code == 0) first_failure = bad;
  }
}

template <class T>
Failure mixlogistic_inverse_cpu(const T* targets, const T* logits, const T* means, const T* log_scales, T* x,
                                std::int64_t n, int K, double tol, bool newton, bool logit_form) {
  Failure first;
  const std::int64_t blocks = (n + kMixtureBlock - 1) / kMixtureBlock;
#pragma omp parallel if (blocks > 1)
  {
    MixtureWorkspace ws(K);
    Failure mine;
#pragma omp for schedule(dynamic, 1)
    for (std::int64_t b = 0; b < blocks; ++b) {
      const std::int64_t lo = b * kMixtureBlock, hi = std::min(n, lo + kMixtureBlock);
#ifdef DGMLAB_LANES_AVX512
      if (has_avx512()) {
        mixlogistic_inverse_lanes(targets, logits, means, log_scales, x, lo, hi, tol, newton, logit_form, ws.lanes,
                                  mine);
        continue;
      }
#endif
      mixlogistic_inverse_scalar(targets, logits, means, log_scales, x, lo, hi, tol, newton, logit_form, ws.one,
                                 mine);
    }
    if (mine.code != 0) {
#pragma omp critical(dgmlab_mixlogistic_failure)
      keep_first(first, mine);
    }
  }
  return first;
}

// Elements [first, last) of the forward map, one at a time; failures go to `first_failure`.
template <class T>
DGMLAB_TARGET_CLONES
void mixlogistic_forward_scalar(const T* x, const T* logits, const T* means, const T* log_scales, T* value,
                                T* log_derivative, std::int64_t first, std::int64_t last, bool logit_form,
                                ComponentBuffer& buf, Failure& first_failure) {
  const mixlogistic::Components c = buf.view();
  for (std::int64_t i = first; i < last; ++i) {
    const std::int64_t o = i * c.K;
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
  Failure first;
  const std::int64_t blocks = (n + kMixtureBlock - 1) / kMixtureBlock;
#pragma omp parallel if (blocks > 1)
  {
    MixtureWorkspace ws(K);
    Failure mine;
#pragma omp for schedule(dynamic, 1)
    for (std::int64_t b = 0; b < blocks; ++b) {
      const std::int64_t lo = b * kMixtureBlock, hi = std::min(n, lo + kMixtureBlock);
#ifdef DGMLAB_LANES_AVX512
      if (has_avx512()) {
        mixlogistic_forward_lanes(x, logits, means, log_scales, value, log_derivative, lo, hi, logit_form,
                                  ws.lanes.lane, mine);
        continue;
      }
#endif
      mixlogistic_forward_scalar(x, logits, means, log_scales, value, log_derivative, lo, hi, logit_form, ws.one,
                                 mine);
    }
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
