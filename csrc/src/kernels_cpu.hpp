// OpenMP kernels that loop the header-only math in dgmlab/kernels/ over batches and arrays (CPU).
#pragma once

#include <cstdint>

namespace dgmlab {
namespace kernels {

// The first bad batch entry or element a kernel met (the smallest index when several threads find one).
struct Failure {
  int code = 0;        // 0: none; otherwise kernel-specific (see each function)
  int arg = -1;        // which input (mixture kernels: 0 targets/x, 1 logits, 2 means, 3 log_scales)
  std::int64_t index = -1;  // batch index (Cholesky) or flat element index (mixture)
  int detail = -1;     // column of a failing pivot / entry of J
  double value = 0.0;  // the offending value (pivot, condition number, input)
};

// J: (B, d, d) -> L (B, d, d), A (B, d, d), std (B, d), kappa (B). d <= 16 runs the batch-interleaved path (8
// matrices per SIMD group), larger d one matrix per thread. code = cholesky_ar::Status of the first failing
// batch entry (outputs of failing entries are unspecified). `reference` runs the plainest loops that give the same
// bits (the runtime-d interleaved form, one-entry-at-a-time blocks), for tests of the fast paths.
Failure cholesky_to_ar_batch(const double* J, std::int64_t B, int d, double sigma, double max_cond, double* L,
                             double* A, double* std_dev, double* kappa, bool reference = false);

// Mixture inverse over n elements of K components; targets are logits y (logit_form) or CDF values u in (0, 1).
// code 1: non-finite input (arg, index); code 2: a CDF target outside (0, 1).
template <class T>
Failure mixlogistic_inverse_cpu(const T* targets, const T* logits, const T* means, const T* log_scales, T* x,
                                std::int64_t n, int K, double tol, bool newton, bool logit_form);

// Forward map and its log-derivative. code 1: non-finite input (arg, index).
template <class T>
Failure mixlogistic_forward_cpu(const T* x, const T* logits, const T* means, const T* log_scales, T* value,
                                T* log_derivative, std::int64_t n, int K, bool logit_form);

}  // namespace kernels
}  // namespace dgmlab
