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
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#if defined(__SSE2__)
#include <emmintrin.h>  // _mm_sqrt_pd, _mm_stream_pd, _mm_sfence
#endif

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

constexpr double kMaxDouble = std::numeric_limits<double>::max();

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

#if defined(__GNUC__)
// Eight doubles in a GCC/Clang vector: lane l is acc[l] of dot(). Lane-wise operations are the scalar IEEE ones, so
// the bits do not depend on whether the compiler maps it to one zmm, two ymm or four xmm registers.
typedef double Vec8 __attribute__((vector_size(64)));

#if defined(__clang__) || __GNUC__ >= 12
#define DGMLAB_CHOLESKY_SHUFFLE 1
// Lanes x[i...] of a and b side by side: pairs(a, b, lo) = a's and b's lanes in the halves picked by the index list.
#define DGMLAB_SHUF(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)

// out[t] = ((v0 + v4) + (v2 + v6)) + ((v1 + v5) + (v3 + v7)) for the eight lanes v of acc[t], t < 8: dot()'s
// combining tree, three rounds of lane-wise adds on shuffled vectors (7 adds for eight sums instead of 56).
DGMLAB_CHOLESKY_INLINE void reduce8(const Vec8 (&acc)[8], Vec8& out) {
  Vec8 x[4], z[2];
  for (int t = 0; t < 4; ++t)  // [a0+a4, a1+a5, a2+a6, a3+a7, b0+b4, ...]
    x[t] = DGMLAB_SHUF(acc[2 * t], acc[2 * t + 1], 0, 1, 2, 3, 8, 9, 10, 11) +
           DGMLAB_SHUF(acc[2 * t], acc[2 * t + 1], 4, 5, 6, 7, 12, 13, 14, 15);
  for (int t = 0; t < 2; ++t)  // [(a0+a4)+(a2+a6), (a1+a5)+(a3+a7), b.., b.., c.., c.., d.., d..]
    z[t] = DGMLAB_SHUF(x[2 * t], x[2 * t + 1], 0, 1, 4, 5, 8, 9, 12, 13) +
           DGMLAB_SHUF(x[2 * t], x[2 * t + 1], 2, 3, 6, 7, 10, 11, 14, 15);
  out = DGMLAB_SHUF(z[0], z[1], 0, 2, 4, 6, 8, 10, 12, 14) + DGMLAB_SHUF(z[0], z[1], 1, 3, 5, 7, 9, 11, 13, 15);
}
#undef DGMLAB_SHUF
#endif
#endif

// dot(a[r], b[c], n) for R rows a[r] and C rows b[c] at once: out[r][c] gets exactly the bits dot() gives, but the
// R * C accumulator chains run side by side and each loaded vector serves several of them (one dot alone waits on
// its adds' latency and loads two vectors per multiply-add).
template <int R, int C>
DGMLAB_CHOLESKY_INLINE void dot_block(const double* const (&a)[R], const double* const (&b)[C], int n,
                                      double (&out)[R][C]) {
  int k = 0;
#if defined(__GNUC__)
  // The compiler keeps the R * C accumulators in registers (one zmm each with AVX-512, two ymm with AVX2).
  Vec8 acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = Vec8{};
  for (; k + 8 <= n; k += 8) {
    Vec8 va[R], vb[C];
    for (int r = 0; r < R; ++r) std::memcpy(&va[r], a[r] + k, sizeof(Vec8));
    for (int c = 0; c < C; ++c) std::memcpy(&vb[c], b[c] + k, sizeof(Vec8));
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) acc[r][c] += va[r] * vb[c];
  }
#if defined(DGMLAB_CHOLESKY_SHUFFLE)
  constexpr int kGroups = (R * C + 7) / 8;  // the R * C sums, eight per reduce8 (the last group padded with zeros)
  for (int g = 0; g < kGroups; ++g) {
    Vec8 group[8];
    for (int t = 0; t < 8; ++t) group[t] = g * 8 + t < R * C ? acc[(g * 8 + t) / C][(g * 8 + t) % C] : Vec8{};
    double sums[8];
    Vec8 reduced;
    reduce8(group, reduced);
    std::memcpy(sums, &reduced, sizeof sums);
    for (int t = 0; t < 8 && g * 8 + t < R * C; ++t) out[(g * 8 + t) / C][(g * 8 + t) % C] = sums[t];
  }
#else
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) {
      double p[8];
      std::memcpy(p, &acc[r][c], sizeof p);
      out[r][c] = ((p[0] + p[4]) + (p[2] + p[6])) + ((p[1] + p[5]) + (p[3] + p[7]));
    }
#endif
#else
  double q[R][C][8];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c)
      for (int l = 0; l < 8; ++l) q[r][c][l] = 0.0;
  for (; k + 8 <= n; k += 8)
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c)
        for (int l = 0; l < 8; ++l) q[r][c][l] += a[r][k + l] * b[c][k + l];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) {
      const double* p = q[r][c];
      out[r][c] = ((p[0] + p[4]) + (p[2] + p[6])) + ((p[1] + p[5]) + (p[3] + p[7]));
    }
#endif
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c)
      for (int m = k; m < n; ++m) out[r][c] += a[r][m] * b[c][m];
}

#if defined(__GNUC__)
// Vector helpers of the blocked and interleaved paths.
DGMLAB_CHOLESKY_INLINE void load8(Vec8& v, const double* p) { std::memcpy(&v, p, sizeof v); }
DGMLAB_CHOLESKY_INLINE void store8(double* p, const Vec8& v) { std::memcpy(p, &v, sizeof v); }

// c[e][l] = r[l][e]: an eight-by-eight transpose in registers, three rounds of shuffles (element by element where
// the compiler has no __builtin_shufflevector).
DGMLAB_CHOLESKY_INLINE void transpose8(const Vec8 (&r)[8], Vec8 (&c)[8]) {
#if defined(DGMLAB_CHOLESKY_SHUFFLE)
#define DGMLAB_SHUF(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
  Vec8 t[8], u[8];
  for (int p = 0; p < 4; ++p) {
    t[2 * p] = DGMLAB_SHUF(r[2 * p], r[2 * p + 1], 0, 8, 2, 10, 4, 12, 6, 14);
    t[2 * p + 1] = DGMLAB_SHUF(r[2 * p], r[2 * p + 1], 1, 9, 3, 11, 5, 13, 7, 15);
  }
  for (int h = 0; h < 2; ++h)
    for (int p = 0; p < 2; ++p) {  // u[4h + p]: element p (and p + 4), u[4h + p + 2]: element p + 2 (and p + 6)
      u[4 * h + p] = DGMLAB_SHUF(t[4 * h + p], t[4 * h + p + 2], 0, 1, 8, 9, 4, 5, 12, 13);
      u[4 * h + p + 2] = DGMLAB_SHUF(t[4 * h + p], t[4 * h + p + 2], 2, 3, 10, 11, 6, 7, 14, 15);
    }
  for (int e = 0; e < 4; ++e) {  // u[e] holds rows 0-3 of elements e and e + 4, u[e + 4] rows 4-7
    c[e] = DGMLAB_SHUF(u[e], u[e + 4], 0, 1, 2, 3, 8, 9, 10, 11);
    c[e + 4] = DGMLAB_SHUF(u[e], u[e + 4], 4, 5, 6, 7, 12, 13, 14, 15);
  }
#undef DGMLAB_SHUF
#else
  double in[8][8], out[8][8];
  for (int l = 0; l < 8; ++l) std::memcpy(in[l], &r[l], sizeof in[l]);
  for (int e = 0; e < 8; ++e)
    for (int l = 0; l < 8; ++l) out[e][l] = in[l][e];
  for (int e = 0; e < 8; ++e) std::memcpy(&c[e], out[e], sizeof out[e]);
#endif
}

#endif  // __GNUC__

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

// In place: lower triangle of S (= J J^T) -> its Cholesky factor (Cholesky-Crout):
//   L_jj = sqrt(S_jj - sum_{k<j} L_jk^2),  L_ij = (S_ij - sum_{k<j} L_ik L_jk) / L_jj  (i > j),
// every sum being dot(L_i, L_j, j), so every B gives the same bits. B = 1 runs column by column, one entry at a time.
// B > 1 runs panels of eight columns j0 <= j < j0 + 8 with j0 a multiple of 8: dot(., ., j) sums k < j0 in its eight
// partial sums and adds k = j0 .. j - 1 one by one after the tree, so the partial sums of a row against the whole
// panel need only entries left of the panel (all final) and run as R x 4 register blocks, like J J^T; the one-by-one
// tails then follow column by column in the panel's diagonal block (where the pivots are) and row by row below it.
template <int B>
DGMLAB_CHOLESKY_INLINE Result cholesky_in_place(double* L, int d) {
  if (B == 1) {
    for (int j = 0; j < d; ++j) {
      double* Lj = L + j * d;
      const double pivot = Lj[j] - dot(Lj, Lj, j);
      if (!(pivot > 0.0) || !std::isfinite(pivot)) return Result{Status::kNotPositiveDefinite, j, pivot};
      Lj[j] = std::sqrt(pivot);
      for (int i = j + 1; i < d; ++i) L[i * d + j] = (L[i * d + j] - dot(L + i * d, Lj, j)) / Lj[j];
    }
    return Result{Status::kOk, -1, 0.0};
  }
  constexpr int R = B > 1 ? B : 1, W = 8;
  for (int j0 = 0; j0 < d; j0 += W) {
    const int w = d - j0 < W ? d - j0 : W;
    const double* panel[W];  // rows j0 .. j0 + w - 1 (the panel's columns of L, as rows of the lower triangle)
    for (int c = 0; c < W; ++c) panel[c] = L + (j0 + (c < w ? c : 0)) * d;
    // The diagonal block: partial sums, then column by column (pivot, then the rows below it in the block).
    double P[W][W];
    for (int r = 0; r < w; ++r) {
      const double* a[1] = {L + (j0 + r) * d};
      double out[1][W];
      dot_block<1, W>(a, panel, j0, out);
      for (int c = 0; c <= r; ++c) P[r][c] = out[0][c];
    }
    for (int c = 0; c < w; ++c) {
      double* Lj = L + (j0 + c) * d;
      double s = P[c][c];
      for (int k = j0; k < j0 + c; ++k) s += Lj[k] * Lj[k];
      const double pivot = Lj[j0 + c] - s;
      if (!(pivot > 0.0) || !std::isfinite(pivot)) return Result{Status::kNotPositiveDefinite, j0 + c, pivot};
      Lj[j0 + c] = std::sqrt(pivot);
      for (int r = c + 1; r < w; ++r) {
        double* Li = L + (j0 + r) * d;
        double t = P[r][c];
        for (int k = j0; k < j0 + c; ++k) t += Li[k] * Lj[k];
        Li[j0 + c] = (Li[j0 + c] - t) / Lj[j0 + c];
      }
    }
    // The rows below the block, eight at a time: partial sums against the panel in R x 4 register blocks, then the
    // tails with the eight rows in the lanes of a vector (each row's tail is a chain of dependent adds and divides;
    // eight chains side by side hide their latency, and two groups of eight rows, column by column, the divisions').
    constexpr int G = 2;
    for (int i = j0 + w; i < d; i += 8 * G) {
      const int groups = (d - i + 7) / 8 < G ? (d - i + 7) / 8 : G;
      // T[g][c][r]: partial sum of row i + 8g + r against column j0 + c; X[g][c][r]: L_{i+8g+r, j0+c}
      double T[G][W][8], X[G][W][8];
      int rows[G];
      bool full[G];
      for (int g = 0; g < groups; ++g) {
        const int ig = i + 8 * g;
        rows[g] = d - ig < 8 ? d - ig : 8;
        int r0 = 0;
        for (; r0 + R <= rows[g]; r0 += R) {
          const double* a[R];
          for (int r = 0; r < R; ++r) a[r] = L + (ig + r0 + r) * d;
          const double* b0[4] = {panel[0], panel[1], panel[2], panel[3]};
          const double* b1[4] = {panel[4], panel[5], panel[6], panel[7]};
          double o0[R][4], o1[R][4];
          dot_block<R, 4>(a, b0, j0, o0);
          dot_block<R, 4>(a, b1, j0, o1);
          for (int r = 0; r < R; ++r)
            for (int c = 0; c < 4; ++c) T[g][c][r0 + r] = o0[r][c], T[g][c + 4][r0 + r] = o1[r][c];
        }
        for (; r0 < rows[g]; ++r0) {
          const double* a[1] = {L + (ig + r0) * d};
          double o[1][W];
          dot_block<1, W>(a, panel, j0, o);
          for (int c = 0; c < W; ++c) T[g][c][r0] = o[0][c];
        }
        for (int r = rows[g]; r < 8; ++r)
          for (int c = 0; c < W; ++c) T[g][c][r] = 0.0;
        full[g] = rows[g] == 8 && w == W;
#if defined(DGMLAB_CHOLESKY_SHUFFLE)
        if (full[g]) {  // the 8 x 8 block of L through registers
          Vec8 in[8], out[8];
          for (int r = 0; r < 8; ++r) std::memcpy(&in[r], L + (ig + r) * d + j0, sizeof(Vec8));
          transpose8(in, out);
          std::memcpy(X[g], out, sizeof X[g]);
        } else
#endif
          for (int r = 0; r < 8; ++r)
            for (int c = 0; c < W; ++c) X[g][c][r] = r < rows[g] && c < w ? L[(ig + r) * d + j0 + c] : 1.0;
      }
      for (int c = 0; c < w; ++c) {
        const double* Lj = panel[c];
        for (int g = 0; g < groups; ++g) {
#if defined(__GNUC__)
          // In vectors of the eight rows (left to itself, the compiler vectorises over k, with shuffles).
          Vec8 t, x;
          load8(t, T[g][c]);
          for (int k = 0; k < c; ++k) {
            load8(x, X[g][k]);
            t += x * Lj[j0 + k];
          }
          load8(x, X[g][c]);
          store8(X[g][c], (x - t) / Lj[j0 + c]);
#else
          double t[8], q[8];
          for (int r = 0; r < 8; ++r) t[r] = T[g][c][r];
          for (int k = 0; k < c; ++k)
            for (int r = 0; r < 8; ++r) t[r] += X[g][k][r] * Lj[j0 + k];
          for (int r = 0; r < 8; ++r) q[r] = (X[g][c][r] - t[r]) / Lj[j0 + c];
          for (int r = 0; r < 8; ++r) X[g][c][r] = q[r];
#endif
        }
      }
      for (int g = 0; g < groups; ++g) {
        const int ig = i + 8 * g;
#if defined(DGMLAB_CHOLESKY_SHUFFLE)
        if (full[g]) {
          Vec8 in[8], out[8];
          std::memcpy(in, X[g], sizeof X[g]);
          transpose8(in, out);
          for (int r = 0; r < 8; ++r) std::memcpy(L + (ig + r) * d + j0, &out[r], sizeof(Vec8));
        } else
#endif
          for (int r = 0; r < rows[g]; ++r)
            for (int c = 0; c < w; ++c) L[(ig + r) * d + j0 + c] = X[g][c][r];
      }
    }
  }
  return Result{Status::kOk, -1, 0.0};
}

#if defined(__GNUC__)
// acc[r][v] += L[i + r, k] M[k, j0 + 8v .. j0 + 8v + 7] for r < R, v < N and kb <= k < ke, k upwards.
template <int R, int V, int N>
DGMLAB_CHOLESKY_INLINE void ar_strip_terms(const double* L, const double* M, int d, int i, int j0, int kb, int ke,
                                           Vec8 (&acc)[R][V]) {
  for (int k = kb; k < ke; ++k) {
    Vec8 m[N];
    for (int v = 0; v < N; ++v) std::memcpy(&m[v], M + k * d + j0 + 8 * v, sizeof(Vec8));
    for (int r = 0; r < R; ++r) {
      const double lik = L[(i + r) * d + k];
      for (int v = 0; v < N; ++v) acc[r][v] += lik * m[v];
    }
  }
}

// The strip's first 8 (V - 1) values of k: those below j0 + 8N reach vectors v < N only. For v >= N they would add
// L_ik M_kj with j > k, zero, to +0, which leaves it +0: skipping them gives the same bits and saves, at d = 256,
// a fifth of the strips' multiply-adds.
template <int R, int V, int N>
struct ArStripHead {
  static DGMLAB_CHOLESKY_INLINE int run(const double* L, const double* M, int d, int i, int k1, int j0,
                                        Vec8 (&acc)[R][V]) {
    const int k = ArStripHead<R, V, N - 1>::run(L, M, d, i, k1, j0, acc);
    const int ke = j0 + 8 * N < k1 ? j0 + 8 * N : k1;
    ar_strip_terms<R, V, N>(L, M, d, i, j0, k, ke, acc);
    return ke > k ? ke : k;
  }
};
template <int R, int V>
struct ArStripHead<R, V, 0> {
  static DGMLAB_CHOLESKY_INLINE int run(const double*, const double*, int, int, int, int j0, Vec8 (&)[R][V]) {
    return j0;
  }
};

// out[r * d + j0 .. j0 + S - 1] = sum_{j0 <= k < k1} L[i + r, k] M[k, j0 .. j0 + S - 1] for r < R (out: row i of A),
// k upwards from +0: R x S / 8 accumulators in registers, each M vector loaded serving R rows.
template <int R, int S>
DGMLAB_CHOLESKY_INLINE void ar_strip(const double* L, const double* M, int d, int i, int k1, int j0, double* out) {
  constexpr int V = S / 8;
  Vec8 acc[R][V];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) acc[r][v] = Vec8{};
  const int k = ArStripHead<R, V, V - 1>::run(L, M, d, i, k1, j0, acc);
  ar_strip_terms<R, V, V>(L, M, d, i, j0, k, k1, acc);
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) std::memcpy(out + r * d + j0 + 8 * v, &acc[r][v], sizeof(Vec8));
}

// ar_strip over the columns that rows i .. i + R - 1 take from the rows k < k1 of M: strips of S columns while their
// last eight start left of k1 (columns j >= k of such a strip only add L_ik * 0 to +0 while k < j), then of eight.
// Returns the first column left to the caller.
template <int R, int S>
DGMLAB_CHOLESKY_INLINE int ar_strips(const double* L, const double* M, int d, int i, int k1, double* out) {
  int j0 = 0;
  for (; j0 + S <= d && j0 + S - 8 < k1; j0 += S) ar_strip<R, S>(L, M, d, i, k1, j0, out);
  for (; j0 + 8 <= d && j0 < k1; j0 += 8) ar_strip<R, 8>(L, M, d, i, k1, j0, out);
  return j0;
}
#endif

// Columns per register strip of the blocked path below (R / 2 = 4 rows by four vectors).
constexpr int kStrip = 32;

// Rows of A per block of the blocked path.
constexpr int kArRows = 8;

// Doubles of cholesky_to_ar's scratch: M = L^-1 (scratch_matrix: d * d rounded up to a multiple of eight, so that what
// follows keeps the alignment of the start), then kArRows rows of A under construction.
constexpr std::size_t scratch_matrix(int d) { return (static_cast<std::size_t>(d) * d + 7) / 8 * 8; }
constexpr std::size_t scratch_doubles(int d) { return scratch_matrix(d) + static_cast<std::size_t>(kArRows) * d; }

// dst[e] = src[e], e < n, with non-temporal stores where dst and src are 16-byte aligned (x86-64), for outputs
// written once and not read again by the conversion (A's rows here, the interleaved path's L and A in the CPU
// kernels): they need not be read from memory first (an output of a batch is a fresh, uncached block) nor take
// cache space from the working set. The caller fences (store_fence).
DGMLAB_CHOLESKY_INLINE void stream_copy(double* dst, const double* src, int n) {
  int e = 0;
#if defined(__SSE2__)
  if (reinterpret_cast<std::uintptr_t>(dst) % 16 == 0 && reinterpret_cast<std::uintptr_t>(src) % 16 == 0)
    for (; e + 2 <= n; e += 2) _mm_stream_pd(dst + e, _mm_load_pd(src + e));
#endif
  for (; e < n; ++e) dst[e] = src[e];
}

// Orders stream_copy's stores before any later store (so that another thread that sees the result sees A).
DGMLAB_CHOLESKY_INLINE void store_fence() {
#if defined(__SSE2__)
  _mm_sfence();
#endif
}

// A (strictly lower, zeros elsewhere) and M = L^-1 (lower; zero for kStrip columns right of the diagonal, beyond
// that unspecified) from L: row i of A is sum_{k<i} L_ik M[k, :], each entry summed over k upwards from 0.0. Rows go
// in blocks of R (B > 1: kArRows), built in `block` (R * d doubles, in cache) and then streamed out to A: the terms
// with k below the block's first row come from rows of M already final, in register strips (ar_strips; a term
// L_ik M_kj with j > k adds L_ik * 0 = 0, L being finite after a successful factorisation, to a sum that is still
// +0, so every entry sees the same additions as one row at a time gives); the terms with k inside the block follow
// row by row.
template <int B>
DGMLAB_CHOLESKY_INLINE void autoregressive_from_cholesky(const double* L, int d, double* A, double* M, double* block) {
  constexpr int R = B > 1 ? kArRows : 1;
  for (int i0 = 0; i0 < d; i0 += R) {
    const int rows = d - i0 < R ? d - i0 : R;
    int j0 = 0;
#if defined(__GNUC__)
    if (B > 1 && rows == R)
    {  // two halves of four rows: four broadcasts of L per four vectors of M (eight rows: eight per two)
      constexpr int H = R > 1 ? R / 2 : 1;
      ar_strips<H, kStrip>(L, M, d, i0, i0, block);
      j0 = ar_strips<H, kStrip>(L, M, d, i0 + H, i0, block + H * d);
    }
    else if (B > 1)
      for (int r = 0; r < rows; ++r) j0 = ar_strips<1, 16>(L, M, d, i0 + r, i0, block + r * d);
#endif
    // The strips stored columns < j0; the rest of the rows starts at zero (and columns >= i stay +0: they only
    // ever get L_ik M_kj with j > k, zero).
    for (int r = 0; r < rows; ++r)
      for (int j = j0; j < d; ++j) block[r * d + j] = 0.0;
    for (int r = 0; r < rows; ++r) {  // the columns left over, then the terms with k inside the block
      const int i = i0 + r;
      double* Ai = block + r * d;
      for (int k = j0; k < i0; ++k) {
        const double lik = L[i * d + k];
        for (int j = j0; j <= k; ++j) Ai[j] += lik * M[k * d + j];
      }
      int j = 0;
#if defined(__GNUC__)
      // Eight columns at a time in a register, over all k of the block (terms with j > k add L_ik * 0 to a sum that
      // is not -0, which leaves it unchanged; columns j >= i are zeroed below).
      for (; B > 1 && j < i && j + 8 <= d; j += 8) {
        Vec8 acc;
        std::memcpy(&acc, Ai + j, sizeof acc);
        for (int k = i0; k < i; ++k) {
          Vec8 m;
          std::memcpy(&m, M + k * d + j, sizeof m);
          acc += L[i * d + k] * m;
        }
        std::memcpy(Ai + j, &acc, sizeof acc);
      }
#endif
      for (int k = i0; k < i; ++k) {
        const double lik = L[i * d + k];
        for (int jj = j; jj <= k; ++jj) Ai[jj] += lik * M[k * d + jj];
      }
      const double lii = L[i * d + i];
      double* Mi = M + i * d;
      for (int j = 0; j < i; ++j) Mi[j] = -Ai[j] / lii;
      Mi[i] = 1.0 / lii;
      // Zeros right of the diagonal as far as later rows read them (a strip reaches kStrip - 1 columns past it).
      for (int j = i + 1; j < d && j <= i + kStrip; ++j) Mi[j] = 0.0;
    }
    for (int r = 0; r < rows; ++r) stream_copy(A + (i0 + r) * d, block + r * d, d);
  }
  store_fence();
}

// J (d x d) -> L = chol(sigma^2 J J^T) (zeros above the diagonal), A (d x d, strictly lower) and the conditional
// standard deviations std_i = L_ii. scratch holds scratch_doubles(d) doubles. Fails with kIllConditioned when
// kappa_F(J) > max_cond.
template <int B = 1>
DGMLAB_CHOLESKY_INLINE Result cholesky_to_ar(const double* J, int d, double sigma, double max_cond, double* L,
                                             double* A, double* std_dev, double* scratch) {
  // Branch-free first (v - v is 0 exactly for finite v, NaN otherwise; an integer OR, so the loop vectorises),
  // entry by entry only if some entry is not finite.
  int bad = 0;
  for (int e = 0; e < d * d; ++e) bad |= !(J[e] - J[e] == 0.0);
  if (bad)
    for (int e = 0; e < d * d; ++e)
      if (!std::isfinite(J[e])) return Result{Status::kNonFinite, e, J[e]};
  gram_lower<B>(J, d, L);
  const Result chol = cholesky_in_place<B>(L, d);
  if (chol.status != Status::kOk) return chol;
  for (int i = 0; i < d; ++i) {
    for (int j = 0; j <= i; ++j) L[i * d + j] *= sigma;
    for (int j = i + 1; j < d; ++j) L[i * d + j] = 0.0;
    std_dev[i] = L[i * d + i];
  }
  // ||L||_F^2 row by row through dot()'s partial sums: one running sum over all d^2 / 2 entries would be a chain of
  // dependent adds (3% of the whole conversion at d = 256).
  double norm_l = 0.0;
  for (int i = 0; i < d; ++i) norm_l += dot(L + i * d, L + i * d, i + 1);
  double* const M = scratch;
  autoregressive_from_cholesky<B>(L, d, A, M, scratch + scratch_matrix(d));
  double norm_m = 0.0;
  for (int i = 0; i < d; ++i) norm_m += dot(M + i * d, M + i * d, i + 1);
  const double kappa = std::sqrt(norm_l) * std::sqrt(norm_m);
  if (!(kappa <= max_cond)) return Result{Status::kIllConditioned, -1, kappa};
  return Result{Status::kOk, -1, kappa};
}

// ---- Batch-interleaved path for small d: eight matrices at once, one per SIMD lane ------------------------------
//
// Element (i, j) of matrix l of a group sits at X[(i * d + j) * 8 + l]. Every lane runs the same operations as
// cholesky_to_ar above with plain left-to-right sums (no partial sums: the lanes are the parallelism), so a matrix's
// result depends only on d, never on its neighbours or its position in the batch. Failing lanes get their status in
// results[l] and are continued with a dummy pivot of 1 so that no lane ever sees a NaN from another. Only the lower
// triangle of L and the strict lower triangle of A are written: the caller keeps zeros in the rest of those buffers
// (short per-row zero fills cost more than the arithmetic at d = 12).
//
// The arithmetic runs on Lanes values, the eight lanes of an element: with GCC/Clang a Vec8, which the compiler
// keeps in a register (loops over arrays of eight doubles it may leave scalar, or keep on the stack); elsewhere a
// struct of eight doubles. Either way each lane sees the scalar IEEE operations.
#if defined(__GNUC__)
typedef Vec8 Lanes;
#else
struct Lanes {
  double v[8];
};
#define DGMLAB_LANES_OP(op)                                                   \
  inline Lanes operator op(const Lanes& a, const Lanes& b) {                  \
    Lanes c;                                                                  \
    for (int l = 0; l < 8; ++l) c.v[l] = a.v[l] op b.v[l];                    \
    return c;                                                                 \
  }                                                                           \
  inline Lanes& operator op##=(Lanes& a, const Lanes& b) { return a = a op b; }
DGMLAB_LANES_OP(+)
DGMLAB_LANES_OP(-)
DGMLAB_LANES_OP(*)
DGMLAB_LANES_OP(/)
#undef DGMLAB_LANES_OP
inline Lanes operator-(const Lanes& a) {
  Lanes c;
  for (int l = 0; l < 8; ++l) c.v[l] = -a.v[l];
  return c;
}
#endif
// (Loads through an output argument: a function returning a 64-byte vector by value would have an ISA-dependent ABI.)
DGMLAB_CHOLESKY_INLINE void lanes_load(Lanes& v, const double* p) { std::memcpy(&v, p, sizeof v); }
DGMLAB_CHOLESKY_INLINE void lanes_fill(Lanes& v, double x) {
  const double p[8] = {x, x, x, x, x, x, x, x};
  std::memcpy(&v, p, sizeof v);
}
DGMLAB_CHOLESKY_INLINE void lanes_to(double* p, const Lanes& v) { std::memcpy(p, &v, sizeof v); }

// s[r] = (J J^T)_{i+r, j} - sum_{k<j} L_{i+r, k} L_jk for r < R, each sum left to right from 0.0: the R sums run side
// by side (one alone waits on its adds' latency) and share the loads of rows j.
template <int R>
DGMLAB_CHOLESKY_INLINE void interleaved_entries(const double* J, const double* L, int d, int i, int j, Lanes (&s)[R]) {
  Lanes a, b;
  for (int r = 0; r < R; ++r) lanes_fill(s[r], 0.0);
  for (int k = 0; k < d; ++k) {
    lanes_load(b, J + (j * d + k) * 8);
    for (int r = 0; r < R; ++r) {
      lanes_load(a, J + ((i + r) * d + k) * 8);
      s[r] += a * b;
    }
  }
  for (int k = 0; k < j; ++k) {
    lanes_load(b, L + (j * d + k) * 8);
    for (int r = 0; r < R; ++r) {
      lanes_load(a, L + ((i + r) * d + k) * 8);
      s[r] -= a * b;
    }
  }
}

// L_{i+r, j} = s[r] / L_jj for r < R.
template <int R>
DGMLAB_CHOLESKY_INLINE void interleaved_column(const double* J, double* L, int d, int i, int j, const Lanes& ljj) {
  Lanes s[R];
  interleaved_entries<R>(J, L, d, i, j, s);
  for (int r = 0; r < R; ++r) lanes_to(L + ((i + r) * d + j) * 8, s[r] / ljj);
}

// A_{i, j+c} = sum_{j+c <= k < i} L_ik M_{k, j+c} for c < C, each sum from 0.0 with k upwards, side by side: the
// first C - 1 values of k feed only some of the C sums, the rest all of them.
template <int C>
DGMLAB_CHOLESKY_INLINE void interleaved_ar(const double* L, const double* M, int d, int i, int j, Lanes (&acc)[C]) {
  Lanes lik, m;
  for (int c = 0; c < C; ++c) lanes_fill(acc[c], 0.0);
  for (int k = j; k < j + C - 1; ++k) {
    lanes_load(lik, L + (i * d + k) * 8);
    for (int c = 0; c <= k - j; ++c) {
      lanes_load(m, M + (k * d + j + c) * 8);
      acc[c] += lik * m;
    }
  }
  for (int k = j + C - 1; k < i; ++k) {
    lanes_load(lik, L + (i * d + k) * 8);
    for (int c = 0; c < C; ++c) {
      lanes_load(m, M + (k * d + j + c) * 8);
      acc[c] += lik * m;
    }
  }
}

template <int W>
DGMLAB_CHOLESKY_INLINE void cholesky_to_ar_interleaved(const double* J, int d, double sigma, double max_cond,
                                                       double* L, double* A, double* std_dev, double* M,
                                                       Result* results) {
  static_assert(W == 8, "the interleaved path runs eight lanes");
  for (int l = 0; l < W; ++l) results[l] = Result{Status::kOk, -1, 0.0};
  // One branch-free pass first (v - v is 0 exactly for finite v, NaN otherwise), lane by lane only if some entry is
  // not finite. Two partial sums per lane (their adds need not wait on each other): a sum of such terms, in any
  // order, is 0 exactly when all are.
  Lanes finite, finite2, a, b;
  lanes_fill(finite, 0.0);
  lanes_fill(finite2, 0.0);
  int e0 = 0;
  for (; e0 + 2 <= d * d; e0 += 2) {
    lanes_load(a, J + e0 * 8);
    lanes_load(b, J + (e0 + 1) * 8);
    finite += a - a;
    finite2 += b - b;
  }
  for (; e0 < d * d; ++e0) {
    lanes_load(a, J + e0 * 8);
    finite += a - a;
  }
  double lane_sum[8];
  lanes_to(lane_sum, finite + finite2);
  bool all_finite = true;
  for (int l = 0; l < 8; ++l) all_finite &= lane_sum[l] == 0.0;
  for (int e = 0; e < d * d && !all_finite; ++e)
    for (int l = 0; l < 8; ++l)
      if (results[l].status == Status::kOk && !std::isfinite(J[e * 8 + l]))
        results[l] = Result{Status::kNonFinite, e, J[e * 8 + l]};
  // Column by column (the entries of a column need only earlier columns, so their divisions overlap; row by row,
  // each entry waits on its left neighbour's division), four rows at a time.
  for (int j = 0; j < d; ++j) {
    Lanes s[1];
    interleaved_entries<1>(J, L, d, j, j, s);
    // The pivot: branch-free over the lanes, lane by lane on failure.
    double p[8], pivot[8], root[8];
    bool ok[8];
    lanes_to(p, s[0]);
    bool all_ok = true;
    for (int l = 0; l < 8; ++l) {
      ok[l] = p[l] > 0.0 && p[l] <= kMaxDouble;  // positive and finite
      all_ok &= ok[l];
      pivot[l] = ok[l] ? p[l] : 1.0;
    }
#if defined(__SSE2__)
    // Two lanes per instruction (std::sqrt stays scalar: it must be able to set errno); IEEE square roots either way.
    for (int l = 0; l < 8; l += 2) _mm_storeu_pd(root + l, _mm_sqrt_pd(_mm_loadu_pd(pivot + l)));
#else
    for (int l = 0; l < 8; ++l) root[l] = std::sqrt(pivot[l]);
#endif
    for (int l = 0; l < 8 && !all_ok; ++l)
      if (!ok[l] && results[l].status == Status::kOk)
        results[l] = Result{Status::kNotPositiveDefinite, j, p[l]};
    Lanes ljj;
    lanes_load(ljj, root);
    lanes_to(L + (j * d + j) * 8, ljj);
    int i = j + 1;
    for (; i + 4 <= d; i += 4) interleaved_column<4>(J, L, d, i, j, ljj);
    for (; i < d; ++i) interleaved_column<1>(J, L, d, i, j, ljj);
  }
  Lanes norm_l, norm_m, sig, one, v;
  lanes_fill(norm_l, 0.0);
  lanes_fill(norm_m, 0.0);
  lanes_fill(sig, sigma);
  lanes_fill(one, 1.0);
  for (int i = 0; i < d; ++i) {
    for (int j = 0; j <= i; ++j) {
      lanes_load(v, L + (i * d + j) * 8);
      v *= sig;
      lanes_to(L + (i * d + j) * 8, v);
      norm_l += v * v;
    }
    std::memcpy(std_dev + i * 8, L + (i * d + i) * 8, 8 * sizeof(double));
  }
  // A_ij = sum_{j<=k<i} L_ik M_kj (k upwards from 0.0),  M_ij = -A_ij / L_ii,  M_ii = 1 / L_ii; four columns of a
  // row at a time.
  for (int i = 0; i < d; ++i) {
    Lanes lii;
    lanes_load(lii, L + (i * d + i) * 8);
    int j = 0;
    for (; j + 4 <= i; j += 4) {
      Lanes acc[4];
      interleaved_ar<4>(L, M, d, i, j, acc);
      for (int c = 0; c < 4; ++c) {
        const Lanes m = -acc[c] / lii;
        norm_m += m * m;
        lanes_to(A + (i * d + j + c) * 8, acc[c]);
        lanes_to(M + (i * d + j + c) * 8, m);
      }
    }
    for (; j < i; ++j) {
      Lanes acc[1];
      interleaved_ar<1>(L, M, d, i, j, acc);
      const Lanes m = -acc[0] / lii;
      norm_m += m * m;
      lanes_to(A + (i * d + j) * 8, acc[0]);
      lanes_to(M + (i * d + j) * 8, m);
    }
    const Lanes m = one / lii;
    norm_m += m * m;
    lanes_to(M + (i * d + i) * 8, m);
  }
  double nl[8], nm[8];
  lanes_to(nl, norm_l);
  lanes_to(nm, norm_m);
  for (int l = 0; l < 8; ++l) {
    if (results[l].status != Status::kOk) continue;
    const double kappa = std::sqrt(nl[l]) * std::sqrt(nm[l]);
    results[l] = Result{kappa <= max_cond ? Status::kOk : Status::kIllConditioned, -1, kappa};
  }
}

// ---- Between a batch's layout and the interleaved one, eight matrices at a time --------------------------------

// Interleaves eight rows: out[e * 8 + l] = src[l][e] for e < n, eight elements at a time through registers.
DGMLAB_CHOLESKY_INLINE void interleave8(const double* const (&src)[8], int n, double* out) {
  int e = 0;
#if defined(__GNUC__)
  for (; e + 8 <= n; e += 8) {
    Vec8 r[8], c[8];
    for (int l = 0; l < 8; ++l) load8(r[l], src[l] + e);
    transpose8(r, c);
    for (int t = 0; t < 8; ++t) store8(out + (e + t) * 8, c[t]);
  }
#endif
  for (; e < n; ++e)
    for (int l = 0; l < 8; ++l) out[e * 8 + l] = src[l][e];
}

// The inverse: dst[l][e] = in[e * 8 + l] for e < n.
DGMLAB_CHOLESKY_INLINE void deinterleave8(const double* in, int n, double* const (&dst)[8]) {
  int e = 0;
#if defined(__GNUC__)
  for (; e + 8 <= n; e += 8) {
    Vec8 r[8], c[8];
    for (int t = 0; t < 8; ++t) load8(r[t], in + (e + t) * 8);
    transpose8(r, c);
    for (int l = 0; l < 8; ++l) store8(dst[l] + e, c[l]);
  }
#endif
  for (; e < n; ++e)
    for (int l = 0; l < 8; ++l) dst[l][e] = in[e * 8 + l];
}

}  // namespace cholesky_ar
}  // namespace dgmlab
