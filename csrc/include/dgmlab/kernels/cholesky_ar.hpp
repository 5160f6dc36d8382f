// Multivariate Gaussian -> linear autoregressive model, for one d x d matrix (thesis Section 3.5.4.1).
//
// For y = sigma J eps, eps ~ N(0, I), J full rank: L = chol(sigma^2 J J^T) gives L eps ~ y, and with M = L^-1
//   p(y_i | y_<i) = N(y_i; sum_{j<i} A_ij y_j, L_ii^2),   A_ij = -L_ii M_ij = sum_{j<=k<i} L_ik M_kj   (j < i),
// the thesis' y_i = (eps_i - sum_{j<i} M_ij y_j) / M_ii written as coefficients on earlier coordinates.
// A is built row by row from the rows of M computed so far, and M_ij = -A_ij / L_ii, M_ii = 1 / L_ii.
//
// All matrices are row-major. Every sum runs in a fixed order (dot products keep 8 independent partial sums
// combined in a fixed tree), so the result does not depend on the SIMD width the compiler picks: encoder and
// decoder on different machines compute the same bits (with -ffp-contract=off).
//
// Failure modes are reported, never returned as NaN: a non-finite entry of J, a non-positive pivot (J J^T not
// positive definite: J singular to working precision), or a Frobenius condition number
// kappa_F(J) = ||J||_F ||J^-1||_F = ||L||_F ||M||_F above the caller's limit.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

// Always inlined, so that a caller compiled for a wider ISA (the AVX2 / AVX-512 clones of the CPU kernels) gets all
// of the arithmetic in that ISA.
#if defined(__GNUC__)
#define DGMLAB_CHOLESKY_INLINE inline __attribute__((always_inline))
#else
#define DGMLAB_CHOLESKY_INLINE inline
#endif

namespace dgmlab {
namespace cholesky_ar {

enum class Status : int { kOk = 0, kNonFinite = 1, kNotPositiveDefinite = 2, kIllConditioned = 3 };

struct Result {
  Status status;
  int index;     // entry of J (kNonFinite) or column of the failing pivot (kNotPositiveDefinite)
  double value;  // the pivot (kNotPositiveDefinite) or kappa_F(J) (kIllConditioned, and on success)
};

// sum_k a[k] b[k], k < n, with eight partial sums in a fixed order (vectorises without reassociation).
DGMLAB_CHOLESKY_INLINE double dot(const double* a, const double* b, int n) {
  double acc[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
  int k = 0;
  for (; k + 8 <= n; k += 8)
    for (int l = 0; l < 8; ++l) acc[l] += a[k + l] * b[k + l];
  double s = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
  for (; k < n; ++k) s += a[k] * b[k];
  return s;
}

// dot(a[r], b[c], n) for R rows a[r] and C rows b[c] at once: out[r][c] gets exactly the bits dot() gives, but the
// R * C accumulator chains run side by side and each loaded vector serves several of them (one dot alone waits on
// its adds' latency and loads two vectors per multiply-add).
template <int R, int C>
DGMLAB_CHOLESKY_INLINE void dot_block(const double* const (&a)[R], const double* const (&b)[C], int n,
                                      double (&out)[R][C]) {
  int k = 0;
  double q[R][C][8];
#if defined(__GNUC__)
  // Eight lanes of a GCC/Clang vector hold one pair's eight partial sums: lane l is acc[l] of dot(). The compiler
  // keeps the R * C accumulators in registers (one zmm each with AVX-512, two ymm with AVX2) and the lane-wise
  // IEEE operations are the scalar ones, so the bits do not depend on the vector width.
  typedef double V __attribute__((vector_size(64)));
  V acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = V{};
  for (; k + 8 <= n; k += 8) {
    V va[R], vb[C];
    for (int r = 0; r < R; ++r) std::memcpy(&va[r], a[r] + k, sizeof(V));
    for (int c = 0; c < C; ++c) std::memcpy(&vb[c], b[c] + k, sizeof(V));
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) acc[r][c] += va[r] * vb[c];
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) std::memcpy(q[r][c], &acc[r][c], sizeof(V));
#else
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c)
      for (int l = 0; l < 8; ++l) q[r][c][l] = 0.0;
  for (; k + 8 <= n; k += 8)
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c)
        for (int l = 0; l < 8; ++l) q[r][c][l] += a[r][k + l] * b[c][k + l];
#endif
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) {
      const double* p = q[r][c];
      double s = ((p[0] + p[4]) + (p[2] + p[6])) + ((p[1] + p[5]) + (p[3] + p[7]));
      for (int m = k; m < n; ++m) s += a[r][m] * b[c][m];
      out[r][c] = s;
    }
}

// The loops below take a block size B as a template argument. B = 4 keeps up to 16 accumulators of eight doubles in
// registers, which suits AVX-512 (32 of them) only; B = 1 is the plain one-entry-at-a-time form, for narrower
// machines (see kernels_cpu.cpp). Every B gives the same bits.

// Lower triangle of L := J J^T (entries above the diagonal are left untouched), in blocks of B x B entries.
template <int B>
DGMLAB_CHOLESKY_INLINE void gram_lower(const double* J, int d, double* L) {
  constexpr int R = B, C = B;
  int i0 = 0;
  for (; B > 1 && i0 + R <= d; i0 += R) {
    const double* a[R];
    for (int r = 0; r < R; ++r) a[r] = J + (i0 + r) * d;
    for (int j0 = 0; j0 < i0 + R; j0 += C) {  // j0 + C <= i0 + R <= d: the column block stays inside J
      const double* b[C];
      for (int c = 0; c < C; ++c) b[c] = J + (j0 + c) * d;
      double out[R][C];
      dot_block<R, C>(a, b, d, out);
      for (int r = 0; r < R; ++r)
        for (int c = 0; c < C; ++c)
          if (j0 + c <= i0 + r) L[(i0 + r) * d + j0 + c] = out[r][c];
    }
  }
  for (int i = i0; i < d; ++i)
    for (int j = 0; j <= i; ++j) L[i * d + j] = dot(J + i * d, J + j * d, d);
}

// In place: lower triangle of S (= J J^T) -> its Cholesky factor, column by column (Cholesky-Crout):
//   L_jj = sqrt(S_jj - sum_{k<j} L_jk^2),  L_ij = (S_ij - sum_{k<j} L_ik L_jk) / L_jj  (i > j),
// every entry with the same dot() as the row-by-row order gives (so the same bits), B rows of a column at once.
template <int B>
DGMLAB_CHOLESKY_INLINE Result cholesky_in_place(double* L, int d) {
  constexpr int R = B > 1 ? B : 1;
  for (int j = 0; j < d; ++j) {
    double* Lj = L + j * d;
    const double pivot = Lj[j] - dot(Lj, Lj, j);
    if (!(pivot > 0.0) || !std::isfinite(pivot)) return Result{Status::kNotPositiveDefinite, j, pivot};
    Lj[j] = std::sqrt(pivot);
    int i = j + 1;
    for (; B > 1 && i + R <= d; i += R) {
      const double* a[R];
      for (int r = 0; r < R; ++r) a[r] = L + (i + r) * d;
      const double* b[1] = {Lj};
      double out[R][1];
      dot_block<R, 1>(a, b, j, out);
      for (int r = 0; r < R; ++r) L[(i + r) * d + j] = (L[(i + r) * d + j] - out[r][0]) / Lj[j];
    }
    for (; i < d; ++i) L[i * d + j] = (L[i * d + j] - dot(L + i * d, Lj, j)) / Lj[j];
  }
  return Result{Status::kOk, -1, 0.0};
}

// A (strictly lower, zeros elsewhere) and M = L^-1 (lower) from L: row i of A is sum_{k<i} L_ik M[k, :], each
// entry summed over k upwards from 0.0. Rows go in blocks of B: the terms with k below the block's first row
// come from rows of M already final, eight columns at a time in registers (a term L_ik M_kj with j > k adds
// L_ik * 0 = 0, L being finite after a successful factorisation, to a sum that is still +0, so every entry sees the
// same additions as one row at a time gives); the terms with k inside the block follow row by row.
template <int B>
DGMLAB_CHOLESKY_INLINE void autoregressive_from_cholesky(const double* L, int d, double* A, double* M) {
  constexpr int R = B;
  for (int i0 = 0; i0 < d; i0 += R) {
    const int rows = d - i0 < R ? d - i0 : R;
    for (int r = 0; r < rows; ++r)
      for (int j = 0; j < d; ++j) A[(i0 + r) * d + j] = 0.0;
    int j0 = 0;
#if defined(__GNUC__)
    typedef double V __attribute__((vector_size(64)));
    // Sixteen columns at a time while the second eight still start left of the block (both run k from the first
    // eight's j0: the extra terms of the second eight are L_ik * 0 added to +0), so that each L_ik loaded serves
    // two vectors; then eight at a time.
    for (; B > 1 && j0 + 16 <= d && j0 + 8 < i0; j0 += 16) {
      V acc[R], acc2[R];
      for (int r = 0; r < R; ++r) acc[r] = acc2[r] = V{};
      for (int k = j0; k < i0; ++k) {
        V m, m2;
        std::memcpy(&m, M + k * d + j0, sizeof m);
        std::memcpy(&m2, M + k * d + j0 + 8, sizeof m2);
        for (int r = 0; r < rows; ++r) {
          const double lik = L[(i0 + r) * d + k];
          acc[r] += lik * m;
          acc2[r] += lik * m2;
        }
      }
      for (int r = 0; r < rows; ++r) {
        std::memcpy(A + (i0 + r) * d + j0, &acc[r], sizeof(V));
        std::memcpy(A + (i0 + r) * d + j0 + 8, &acc2[r], sizeof(V));
      }
    }
    for (; B > 1 && j0 + 8 <= d && j0 < i0; j0 += 8) {
      V acc[R];
      for (int r = 0; r < R; ++r) acc[r] = V{};
      for (int k = j0; k < i0; ++k) {
        V m;
        std::memcpy(&m, M + k * d + j0, sizeof m);
        for (int r = 0; r < rows; ++r) acc[r] += L[(i0 + r) * d + k] * m;
      }
      for (int r = 0; r < rows; ++r) std::memcpy(A + (i0 + r) * d + j0, &acc[r], sizeof(V));
    }
#endif
    for (int r = 0; r < rows; ++r) {  // the columns left over, then the terms with k inside the block
      const int i = i0 + r;
      double* Ai = A + i * d;
      for (int k = j0; k < i0; ++k) {
        const double lik = L[i * d + k];
        for (int j = j0; j <= k; ++j) Ai[j] += lik * M[k * d + j];
      }
      for (int k = i0; k < i; ++k) {
        const double lik = L[i * d + k];
        for (int j = 0; j <= k; ++j) Ai[j] += lik * M[k * d + j];
      }
      const double lii = L[i * d + i];
      double* Mi = M + i * d;
      for (int j = 0; j < i; ++j) Mi[j] = -Ai[j] / lii;
      Mi[i] = 1.0 / lii;
      for (int j = i; j < d; ++j) Ai[j] = 0.0;
      for (int j = i + 1; j < d; ++j) Mi[j] = 0.0;
    }
  }
}

// J (d x d) -> L = chol(sigma^2 J J^T) (zeros above the diagonal), A (d x d, strictly lower) and the conditional
// standard deviations std_i = L_ii. scratch holds d * d doubles. Fails with kIllConditioned when
// kappa_F(J) > max_cond.
template <int B = 1>
DGMLAB_CHOLESKY_INLINE Result cholesky_to_ar(const double* J, int d, double sigma, double max_cond, double* L,
                                             double* A, double* std_dev, double* scratch) {
  for (int e = 0; e < d * d; ++e)
    if (!std::isfinite(J[e])) return Result{Status::kNonFinite, e, J[e]};
  gram_lower<B>(J, d, L);
  const Result chol = cholesky_in_place<B>(L, d);
  if (chol.status != Status::kOk) return chol;
  double norm_l = 0.0;
  for (int i = 0; i < d; ++i) {
    for (int j = 0; j <= i; ++j) {
      L[i * d + j] *= sigma;
      norm_l += L[i * d + j] * L[i * d + j];
    }
    for (int j = i + 1; j < d; ++j) L[i * d + j] = 0.0;
    std_dev[i] = L[i * d + i];
  }
  autoregressive_from_cholesky<B>(L, d, A, scratch);
  double norm_m = 0.0;
  for (int i = 0; i < d; ++i) norm_m += dot(scratch + i * d, scratch + i * d, i + 1);
  const double kappa = std::sqrt(norm_l) * std::sqrt(norm_m);
  if (!(kappa <= max_cond)) return Result{Status::kIllConditioned, -1, kappa};
  return Result{Status::kOk, -1, kappa};
}

// ---- Batch-interleaved path for small d: W matrices at once, one per SIMD lane ---------------------------------
//
// Element (i, j) of matrix l of a group sits at X[(i * d + j) * W + l]. Every lane runs the same operations as
// cholesky_to_ar above with plain left-to-right sums (no partial sums: the lanes are the parallelism), so a matrix's
// result depends only on d, never on its neighbours or its position in the batch. Failing lanes get their status in
// results[l] and are continued with a dummy pivot of 1 so that no lane ever sees a NaN from another.
template <int W>
DGMLAB_CHOLESKY_INLINE void cholesky_to_ar_interleaved(const double* J, int d, double sigma, double max_cond,
                                                       double* L, double* A, double* std_dev, double* M,
                                                       Result* results) {
  for (int l = 0; l < W; ++l) results[l] = Result{Status::kOk, -1, 0.0};
  // One branch-free pass first (v - v is 0 exactly for finite v, NaN otherwise; lane sums of such terms are 0
  // exactly when all are), lane by lane only if some entry is not finite.
  double lane_sum[W];
  for (int l = 0; l < W; ++l) lane_sum[l] = 0.0;
  for (int e = 0; e < d * d; ++e)
    for (int l = 0; l < W; ++l) lane_sum[l] += J[e * W + l] - J[e * W + l];
  bool all_finite = true;
  for (int l = 0; l < W; ++l) all_finite &= lane_sum[l] == 0.0;
  for (int e = 0; e < d * d && !all_finite; ++e)
    for (int l = 0; l < W; ++l)
      if (results[l].status == Status::kOk && !std::isfinite(J[e * W + l]))
        results[l] = Result{Status::kNonFinite, e, J[e * W + l]};
  double s[W], norm_l[W], norm_m[W];
  for (int l = 0; l < W; ++l) norm_l[l] = norm_m[l] = 0.0;
  for (int i = 0; i < d; ++i) {
    for (int j = 0; j <= i; ++j) {
      // s = (J J^T)_ij - sum_{k<j} L_ik L_jk
      for (int l = 0; l < W; ++l) s[l] = 0.0;
      for (int k = 0; k < d; ++k)
        for (int l = 0; l < W; ++l) s[l] += J[(i * d + k) * W + l] * J[(j * d + k) * W + l];
      for (int k = 0; k < j; ++k)
        for (int l = 0; l < W; ++l) s[l] -= L[(i * d + k) * W + l] * L[(j * d + k) * W + l];
      double* Lij = L + (i * d + j) * W;
      if (j < i) {
        double q[W];  // through a local array, so that the compiler need not fear Lij aliasing L_jj
        for (int l = 0; l < W; ++l) q[l] = s[l] / L[(j * d + j) * W + l];
        for (int l = 0; l < W; ++l) Lij[l] = q[l];
      } else {
        for (int l = 0; l < W; ++l) {
          const bool ok = s[l] > 0.0 && std::isfinite(s[l]);
          if (!ok && results[l].status == Status::kOk) results[l] = Result{Status::kNotPositiveDefinite, i, s[l]};
          Lij[l] = std::sqrt(ok ? s[l] : 1.0);
        }
      }
    }
  }
  for (int i = 0; i < d; ++i) {
    for (int j = 0; j <= i; ++j)
      for (int l = 0; l < W; ++l) {
        L[(i * d + j) * W + l] *= sigma;
        norm_l[l] += L[(i * d + j) * W + l] * L[(i * d + j) * W + l];
      }
    for (int j = i + 1; j < d; ++j)
      for (int l = 0; l < W; ++l) L[(i * d + j) * W + l] = 0.0;
    for (int l = 0; l < W; ++l) std_dev[i * W + l] = L[(i * d + i) * W + l];
  }
  // A_ij = sum_{j<=k<i} L_ik M_kj (k upwards from 0.0, in a register),  M_ij = -A_ij / L_ii,  M_ii = 1 / L_ii.
  for (int i = 0; i < d; ++i) {
    double* Ai = A + i * d * W;
    double* Mi = M + i * d * W;
    const double* Lii = L + (i * d + i) * W;
    for (int j = 0; j < i; ++j) {
      double acc[W];
      for (int l = 0; l < W; ++l) acc[l] = 0.0;
      for (int k = j; k < i; ++k)
        for (int l = 0; l < W; ++l) acc[l] += L[(i * d + k) * W + l] * M[(k * d + j) * W + l];
      for (int l = 0; l < W; ++l) {
        Ai[j * W + l] = acc[l];
        Mi[j * W + l] = -acc[l] / Lii[l];
        norm_m[l] += Mi[j * W + l] * Mi[j * W + l];
      }
    }
    for (int e = i * W; e < d * W; ++e) Ai[e] = 0.0;
    for (int l = 0; l < W; ++l) {
      Mi[i * W + l] = 1.0 / Lii[l];
      norm_m[l] += Mi[i * W + l] * Mi[i * W + l];
    }
  }
  for (int l = 0; l < W; ++l) {
    if (results[l].status != Status::kOk) continue;
    const double kappa = std::sqrt(norm_l[l]) * std::sqrt(norm_m[l]);
    results[l] = Result{kappa <= max_cond ? Status::kOk : Status::kIllConditioned, -1, kappa};
  }
}

}  // namespace cholesky_ar
}  // namespace dgmlab
