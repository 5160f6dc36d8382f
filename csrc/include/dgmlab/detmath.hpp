// Deterministic elementary functions for the coding path and the numerical kernels.
//
// A quantised CDF must come out bit-identical on the encoder's and the decoder's machine, so everything that feeds
// one is computed here from +, -, *, / and sqrt alone: IEEE-754 rounds each of them correctly, so the results are
// the same on every platform as long as the build does not contract a*b+c into an FMA (we compile with
// -ffp-contract=off, and nvcc with --fmad=false) or use x87 excess precision. libm's exp/log/erf are never called:
// their last bits differ between glibc, musl, macOS, MSVC and CUDA's libdevice. Accuracy is ~2e-13 relative or
// better, far below the 2^-24..2^-31 grids of the CDFs.
//
// Two evaluations of exp and log live here, each pinned by data users have written: exp/log (the coder's CDFs:
// logistic and mixture codecs, prior-quantile tables) and exp_hd/log_hd (the numerical kernels: branch-free, so
// they vectorise across lanes, and compiled for CUDA devices too, so the CPU and GPU kernels agree bit for bit;
// the Flow++ inverse that local bits-back decodes with runs on them). They share their constants, argument
// reduction and bit helpers; merging the polynomials would change the bits of one of the two.
#pragma once

#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>

#if (defined(__SSE2__) || defined(_M_X64)) && !defined(__CUDACC__)
#include <emmintrin.h>
#define DGMLAB_SSE2 1
#endif
// Runtime-dispatched AVX2 paths (GCC and Clang on x86-64): compiled for AVX2 *without* FMA, so that no compiler
// setting can fuse a multiply and an add there, and chosen per call from the CPU's features.
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__CUDACC__)
// GCC 12's AVX-512 intrinsics warn -Wmaybe-uninitialized on their own `__Y = __Y` idiom (GCC bug 105593).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#define DGMLAB_AVX2_DISPATCH 1
#endif

#include "detail/erfc_coeffs.hpp"
#include "detail/inline.hpp"
#include "detail/phi_coeffs.hpp"

// Host and device; always inlined, so that a caller compiled for a wider ISA (the AVX2 / AVX-512 clones of the
// CPU kernels) gets all of the arithmetic in that ISA.
#if defined(__CUDACC__)
#define DGMLAB_HD __host__ __device__ __forceinline__
#elif defined(__GNUC__)
#define DGMLAB_HD inline __attribute__((always_inline))
#else
#define DGMLAB_HD inline
#endif

namespace dgmlab::detmath {

// ln 2 split so that n * kLn2Hi is exact for |n| < 2^11 (fdlibm's constants).
inline constexpr double kLn2Hi = 6.93147180369123816490e-01;
inline constexpr double kLn2Lo = 1.90821492927058770002e-10;
inline constexpr double kLog2e = 1.44269504088896338700e+00;
inline constexpr double kInvSqrt2 = 0.70710678118654752440;
inline constexpr double kInvSqrt2Pi = 0.39894228040143267794;
inline constexpr double kInf = __builtin_huge_val();
inline constexpr double kNaN = __builtin_nan("");

DGMLAB_HD std::uint64_t bits_of(double x) {
#if defined(__CUDA_ARCH__)
  return static_cast<std::uint64_t>(__double_as_longlong(x));
#else
  std::uint64_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
#endif
}

DGMLAB_HD double double_of(std::uint64_t u) {
#if defined(__CUDA_ARCH__)
  return __longlong_as_double(static_cast<long long>(u));
#else
  double x;
  std::memcpy(&x, &u, sizeof x);
  return x;
#endif
}

// c ? a : b through a bit mask: no branch, so scalar code never mispredicts on a sign and loops over lanes vectorise.
DGMLAB_HD double select(bool c, double a, double b) {
  const std::uint64_t mask = 0 - static_cast<std::uint64_t>(c);
  return double_of((bits_of(a) & mask) | (bits_of(b) & ~mask));
}

// Both logs start here: false with the result in `special` for x <= 0, NaN and +inf (log 0 = -inf, NaN below 0,
// +inf at +inf); else true with x = 2^e m, m in [sqrt(1/2), sqrt(2)) (subnormals included), and f = (m - 1)/(m + 1),
// so that log x = e ln 2 + 2 atanh(f).
DGMLAB_HD bool split_log_argument(double x, double& special, double& f, int& e) {
  if (!(x > 0.0) || x == kInf) {
    special = x == 0.0 ? -kInf : x > 0.0 ? x : kNaN;
    return false;
  }
  e = 0;
  if (x < 2.2250738585072014e-308) {  // subnormal: scale into the normal range first
    x *= 18014398509481984.0;         // 2^54
    e = -54;
  }
  std::uint64_t u = bits_of(x);
  e += static_cast<int>((u >> 52) & 0x7ff) - 1023;
  u = (u & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL;  // m in [1, 2)
  double m = double_of(u);
  if (m > 1.4142135623730951) {
    m *= 0.5;
    e += 1;
  }
  f = (m - 1.0) / (m + 1.0);
  return true;
}

namespace detail {

// 2^k as a double by building its bits, for -1022 <= k <= 1023.
inline double pow2(int k) { return double_of(static_cast<uint64_t>(k + 1023) << 52); }

template <int N>
inline double horner(const double (&c)[N], double t) {
  double acc = c[N - 1];
  for (int k = N - 2; k >= 0; --k) acc = acc * t + c[k];
  return acc;
}

// sum_k c[k] t^k for k < 16 by Estrin's scheme: the same fixed sequence of operations as Horner's rule would be,
// but a dependency chain of depth 4 instead of 15, so independent evaluations overlap in the pipeline.
inline double estrin16(const double (&c)[16], double t) {
  const double t2 = t * t, t4 = t2 * t2, t8 = t4 * t4;
  double p[8];
  for (int i = 0; i < 8; ++i) p[i] = c[2 * i] + c[2 * i + 1] * t;
  const double q0 = p[0] + p[1] * t2, q1 = p[2] + p[3] * t2, q2 = p[4] + p[5] * t2, q3 = p[6] + p[7] * t2;
  return (q0 + q1 * t4) + (q2 + q3 * t4) * t8;
}

}  // namespace detail

// e^y. Cody-Waite reduction y = n ln2 + r, |r| <= ln2/2, then a degree-12 Taylor polynomial (error < 2e-16).
inline double exp(double y) {
  if (!(y > -745.2)) return y != y ? y : 0.0;  // NaN propagates; underflow to 0
  if (y > 709.78) return kInf;
  const double nf = static_cast<double>(static_cast<int64_t>(y * kLog2e + (y < 0 ? -0.5 : 0.5)));
  const int n = static_cast<int>(nf);
  const double r = (y - nf * kLn2Hi) - nf * kLn2Lo;
  static constexpr double kTaylor[16] = {1.0,           1.0,            1.0 / 2,         1.0 / 6,
                                         1.0 / 24,      1.0 / 120,      1.0 / 720,       1.0 / 5040,
                                         1.0 / 40320,   1.0 / 362880,   1.0 / 3628800,   1.0 / 39916800,
                                         1.0 / 479001600, 0.0,          0.0,             0.0};
  const double p = detail::estrin16(kTaylor, r);
  if (n < -1020) return p * detail::pow2(n + 1000) * detail::pow2(-1000);  // subnormal results: still IEEE-exact ops
  if (n > 1023) return p * detail::pow2(n - 1) * 2.0;
  return p * detail::pow2(n);
}

// Natural log of x > 0: x = m 2^e with m in [sqrt(1/2), sqrt(2)), log m = 2 atanh(f), f = (m - 1)/(m + 1).
inline double log(double x) {
  double special, f;
  int e;
  if (!split_log_argument(x, special, f, e)) return special;
  const double s = f * f;
  static constexpr double kAtanh[12] = {1.0,      1.0 / 3,  1.0 / 5,  1.0 / 7,  1.0 / 9,  1.0 / 11,
                                        1.0 / 13, 1.0 / 15, 1.0 / 17, 1.0 / 19, 1.0 / 21, 1.0 / 23};
  const double log_m = 2.0 * f * detail::horner(kAtanh, s);
  const double ef = static_cast<double>(e);
  return ef * kLn2Hi + (ef * kLn2Lo + log_m);
}

// ---- the kernels' host-and-device versions ------------------------------------------------------------------
// Adding 1.5 * 2^52 rounds a double of magnitude < 2^51 to the nearest integer (ties to even) and leaves that
// integer, as two's complement, in the low mantissa bits.
inline constexpr double kRoundMagic = 6755399441055744.0;
// Above this, exp_hd(x) overflows to +inf; below the other, exp_hd(x) < 2^-1021 and returns 0.
inline constexpr double kExpMaxArg = 709.0;
inline constexpr double kExpMinArg = -708.0;

// exp(x), relative error below 4 ulp on [-708, 709]; 0 below -708, +inf above 709, NaN for NaN. Branch-free.
//   x = n ln2 + r, |r| <= ln2 / 2;  exp(x) = 2^n * exp(r), exp(r) by its degree-13 Taylor polynomial
//   (remainder r^14 / 14! < 5e-18).
DGMLAB_HD double exp_hd(double x) {
  const bool underflow = x < kExpMinArg;
  const bool overflow = x > kExpMaxArg;
  const bool nan = x != x;
  const double xc = select(underflow | overflow | nan, 0.0, x);
  const double t = xc * kLog2e + kRoundMagic;
  const double n = t - kRoundMagic;
  const double r = (xc - n * kLn2Hi) - n * kLn2Lo;
  double p = 1.0 / 6227020800.0;  // 1/13!
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  // n in [-1022, 1023] lies in the low bits of t; 2^n is built from its biased exponent.
  const std::uint64_t nbits = bits_of(t) + 1023u;
  const double scale = double_of(nbits << 52);
  const double v = select(underflow, 0.0, p * scale);
  return select(nan, x, select(overflow, kInf, v));
}

// log(x) for finite x > 0 (subnormals included), absolute error below 2 ulp of the result; log(0) = -inf,
// NaN for x < 0 or NaN, +inf for +inf.
//   log(m) = 2 atanh(s), s = (m - 1) / (m + 1), |s| < 0.1716,
//   2 atanh(s) = 2s (1 + s^2/3 + s^4/5 + ... + s^20/21)  (remainder < 1e-18).
DGMLAB_HD double log_hd(double x) {
  double special, s;
  int e;
  if (!split_log_argument(x, special, s, e)) return special;
  const double s2 = s * s;
  double p = 1.0 / 21.0;
  p = p * s2 + 1.0 / 19.0;
  p = p * s2 + 1.0 / 17.0;
  p = p * s2 + 1.0 / 15.0;
  p = p * s2 + 1.0 / 13.0;
  p = p * s2 + 1.0 / 11.0;
  p = p * s2 + 1.0 / 9.0;
  p = p * s2 + 1.0 / 7.0;
  p = p * s2 + 1.0 / 5.0;
  p = p * s2 + 1.0 / 3.0;
  const double log_m = 2.0 * s + 2.0 * s * (s2 * p);
  const double ed = static_cast<double>(e);
  return ed * kLn2Hi + (log_m + ed * kLn2Lo);
}

// ---- exp_hd / log_hd on eight lanes (x86-64 CPUs with AVX-512) -------------------------------------------------
// The same IEEE operations as exp_hd / log_hd, in the same order, on each lane of a GCC vector of eight doubles:
// every lane's result has exactly the bits of the scalar call (tests/kernels pins them through the mixture kernels).
// The CPU mixture kernels run eight elements per vector with these where the CPU has AVX-512 (one zmm register per
// vector) and the scalar functions elsewhere. The functions are compiled for AVX-512 whoever includes them: GCC lowers
// generic vector operations in each function for that function's own target, before inlining, and lowered for the
// baseline the comparisons would run lane by lane. Edit together with the scalar pair.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(__CUDACC__)
#define DGMLAB_LANES_AVX512 1
#pragma GCC push_options
#pragma GCC target("avx512f")
// Always inlined into AVX-512 callers, so passing vectors by value never crosses an ABI boundary: -Wpsabi's note
// that 64-byte vectors are passed differently with and without AVX-512 does not apply.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"
namespace lanes {

constexpr int kWidth = 8;
typedef double Vd __attribute__((vector_size(8 * kWidth)));
typedef std::int64_t Vi __attribute__((vector_size(8 * kWidth)));  // comparison results: -1 true, 0 false
typedef std::uint64_t Vu __attribute__((vector_size(8 * kWidth)));

#define DGMLAB_LANES inline __attribute__((always_inline))

DGMLAB_LANES Vd splat(double v) { return Vd{v, v, v, v, v, v, v, v}; }

// select() lane by lane: m ? a : b through the bits.
DGMLAB_LANES Vd select(Vi m, Vd a, Vd b) {
  const Vu mu = reinterpret_cast<Vu>(m);
  return reinterpret_cast<Vd>((reinterpret_cast<Vu>(a) & mu) | (reinterpret_cast<Vu>(b) & ~mu));
}

DGMLAB_LANES Vi select(Vi m, Vi a, Vi b) { return (a & m) | (b & ~m); }

DGMLAB_LANES Vd exp_hd(Vd x) {
  const Vi underflow = x < kExpMinArg;
  const Vi overflow = x > kExpMaxArg;
  const Vi nan = x != x;
  const Vd xc = select(underflow | overflow | nan, splat(0.0), x);
  const Vd t = xc * kLog2e + kRoundMagic;
  const Vd n = t - kRoundMagic;
  const Vd r = (xc - n * kLn2Hi) - n * kLn2Lo;
  Vd p = splat(1.0 / 6227020800.0);
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  const Vu nbits = reinterpret_cast<Vu>(t) + 1023u;
  const Vd scale = reinterpret_cast<Vd>(nbits << 52);
  const Vd v = select(underflow, splat(0.0), p * scale);
  return select(nan, x, select(overflow, splat(kInf), v));
}

DGMLAB_LANES Vd log_hd(Vd x) {
  // split_log_argument on every lane; lanes with a special argument compute on 1.0 and take `special` at the end.
  const Vi positive = x > 0.0;
  const Vi special_lane = ~positive | (x == kInf);
  const Vd special = select(x == 0.0, splat(-kInf), select(positive, x, splat(kNaN)));
  Vd xs = select(special_lane, splat(1.0), x);
  const Vi subnormal = xs < 2.2250738585072014e-308;
  xs = select(subnormal, xs * 18014398509481984.0, xs);
  Vi e = subnormal & -54;
  Vu u = reinterpret_cast<Vu>(xs);
  e += reinterpret_cast<Vi>((u >> 52) & 0x7ff) - 1023;
  u = (u & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL;
  Vd m = reinterpret_cast<Vd>(u);
  const Vi halve = m > 1.4142135623730951;
  m = select(halve, m * 0.5, m);
  e -= halve;
  const Vd s = (m - 1.0) / (m + 1.0);
  const Vd s2 = s * s;
  Vd p = splat(1.0 / 21.0);
  p = p * s2 + 1.0 / 19.0;
  p = p * s2 + 1.0 / 17.0;
  p = p * s2 + 1.0 / 15.0;
  p = p * s2 + 1.0 / 13.0;
  p = p * s2 + 1.0 / 11.0;
  p = p * s2 + 1.0 / 9.0;
  p = p * s2 + 1.0 / 7.0;
  p = p * s2 + 1.0 / 5.0;
  p = p * s2 + 1.0 / 3.0;
  const Vd log_m = 2.0 * s + 2.0 * s * (s2 * p);
  const Vd ed = __builtin_convertvector(e, Vd);
  return select(special_lane, special, ed * kLn2Hi + (log_m + ed * kLn2Lo));
}

}  // namespace lanes
#pragma GCC diagnostic pop
#pragma GCC pop_options
#endif

// erfc(x) for x >= 0 (fits generated by csrc/tools/fit_erfc.py).
inline double erfc_nonneg(double x) {
  using dgmlab::detail::kErfcPieces;
  if (x < 0.5) return 1.0 - x * detail::horner(dgmlab::detail::kErfSmall, 8.0 * x * x - 1.0);
  if (x >= 16.0) {
    if (x >= 27.3) return 0.0;
    return exp(-(x * x)) / x * detail::horner(dgmlab::detail::kErfcTail, 512.0 / (x * x) - 1.0);
  }
  int i = 0;
  while (x >= kErfcPieces[i].hi) ++i;
  const auto& piece = kErfcPieces[i];
  const double t = (2.0 * x - piece.lo - piece.hi) / (piece.hi - piece.lo);
  return exp(-(x * x)) * detail::estrin16(piece.c, t);
}

inline double erfc(double x) { return x >= 0 ? erfc_nonneg(x) : 2.0 - erfc_nonneg(-x); }

// Standard normal CDF, accurate in relative terms in the lower tail.
inline double normal_cdf(double t) {
  const double x = t * kInvSqrt2;
  return x < 0 ? 0.5 * erfc_nonneg(-x) : 1.0 - 0.5 * erfc_nonneg(x);
}

// Standard normal CDF for the coding path: absolute error < 1e-15 (not relative: the CDFs it feeds are quantised
// to 2^-24 .. 2^-31), from a degree-7 polynomial on one of 128 intervals of [-8, 8) and no exp; 0 or 1 outside.
DGMLAB_ALWAYS_INLINE double phi(double t) {
  if (!(t >= dgmlab::detail::kPhiLo)) return 0.0;
  if (t >= dgmlab::detail::kPhiHi) return 1.0;
  const double v = (t - dgmlab::detail::kPhiLo) * dgmlab::detail::kPhiPiecesPerUnit;
  const int i = static_cast<int>(v);
  // u = 2 (v - i) - 1, computed as (2v - 1) - 2i: the same double (for i >= 1 both are exact, since v >= 1 puts
  // 2v - 1 and 2 (v - i) - 1 on a grid of 2^-51; for i = 0 both are one rounding of 2v - 1), but 2v - 1 does
  // not wait for the integer conversion, which takes five cycles off the decoder's dependency chain.
  const double u = (2.0 * v - 1.0) - static_cast<double>(2 * i), u2 = u * u, u4 = u2 * u2;
  const double* c = dgmlab::detail::kPhiPieces[i];
  const double p = ((c[0] + c[1] * u) + (c[2] + c[3] * u) * u2) + ((c[4] + c[5] * u) + (c[6] + c[7] * u) * u2) * u4;
  return std::min(1.0, std::max(0.0, p));
}

// phi at two points at once: the same IEEE operations as phi() on each lane (SSE2 where available, which every
// x86-64 has), so both results are bit-identical to two phi() calls. Encoding and decoding need a bucket's two
// edges, and one vector evaluation costs about half of two scalar ones.
inline void phi2(double t0, double t1, double& p0, double& p1) {
#ifdef DGMLAB_SSE2
  using dgmlab::detail::kPhiPieces;
  const __m128d t = _mm_set_pd(t1, t0), lo = _mm_set1_pd(dgmlab::detail::kPhiLo);
  const __m128d hi = _mm_set1_pd(dgmlab::detail::kPhiHi), one = _mm_set1_pd(1.0);
  const __m128d in = _mm_and_pd(_mm_cmpge_pd(t, lo), _mm_cmplt_pd(t, hi));  // false for NaN, like phi()
  const __m128d tc = _mm_or_pd(_mm_and_pd(in, t), _mm_andnot_pd(in, lo));  // lanes outside: any valid piece
  const __m128d v = _mm_mul_pd(_mm_sub_pd(tc, lo), _mm_set1_pd(dgmlab::detail::kPhiPiecesPerUnit));
  const __m128i i = _mm_cvttpd_epi32(v);
  const __m128d u = _mm_sub_pd(_mm_mul_pd(_mm_set1_pd(2.0), _mm_sub_pd(v, _mm_cvtepi32_pd(i))), one);
  const __m128d u2 = _mm_mul_pd(u, u), u4 = _mm_mul_pd(u2, u2);
  const double* a = kPhiPieces[_mm_cvtsi128_si32(i)];
  const double* b = kPhiPieces[_mm_cvtsi128_si32(_mm_shuffle_epi32(i, 1))];
  __m128d c[8];
  for (int k = 0; k < 8; ++k) c[k] = _mm_loadh_pd(_mm_load_sd(a + k), b + k);
  const auto add = [](__m128d x, __m128d y) { return _mm_add_pd(x, y); };
  const auto mul = [](__m128d x, __m128d y) { return _mm_mul_pd(x, y); };
  const __m128d p = add(add(add(c[0], mul(c[1], u)), mul(add(c[2], mul(c[3], u)), u2)),
                        mul(add(add(c[4], mul(c[5], u)), mul(add(c[6], mul(c[7], u)), u2)), u4));
  // std::min(1, std::max(0, p)) lane by lane: maxpd/minpd return their second operand on NaN, as std::max does.
  const __m128d q = _mm_min_pd(_mm_max_pd(p, _mm_setzero_pd()), one);
  const __m128d out = _mm_or_pd(_mm_and_pd(in, q), _mm_andnot_pd(in, _mm_and_pd(_mm_cmpge_pd(t, hi), one)));
  p0 = _mm_cvtsd_f64(out);
  p1 = _mm_cvtsd_f64(_mm_unpackhi_pd(out, out));
#else
  p0 = phi(t0);
  p1 = phi(t1);
#endif
}

// phi((e[j] - m[j]) / s[j]) for j < n: the standardisation and phi() with the same IEEE operations lane by lane,
// so every result is bit-identical to the scalar expression (tested on specials and random bit patterns). The
// encoder evaluates the edges of a block of buckets at once: four lanes per AVX2 instruction where the CPU has it.
inline void phi_standardised_scalar(const double* e, const double* m, const double* s, double* out, size_t n) {
  for (size_t j = 0; j < n; ++j) out[j] = phi((e[j] - m[j]) / s[j]);
}

#ifdef DGMLAB_AVX2_DISPATCH
__attribute__((target("avx2"))) inline void phi_standardised_avx2(const double* e, const double* m, const double* s,
                                                                  double* out, size_t n) {
  using dgmlab::detail::kPhiPieces;
  const __m256d lo = _mm256_set1_pd(dgmlab::detail::kPhiLo), hi = _mm256_set1_pd(dgmlab::detail::kPhiHi);
  const __m256d one = _mm256_set1_pd(1.0), two = _mm256_set1_pd(2.0), zero = _mm256_setzero_pd();
  const __m256d per_unit = _mm256_set1_pd(dgmlab::detail::kPhiPiecesPerUnit);
  size_t j = 0;
  for (; j + 4 <= n; j += 4) {
    const __m256d t = _mm256_div_pd(_mm256_sub_pd(_mm256_loadu_pd(e + j), _mm256_loadu_pd(m + j)), _mm256_loadu_pd(s + j));
    const __m256d in = _mm256_and_pd(_mm256_cmp_pd(t, lo, _CMP_GE_OQ), _mm256_cmp_pd(t, hi, _CMP_LT_OQ));
    const __m256d tc = _mm256_blendv_pd(lo, t, in);  // lanes outside [lo, hi) (NaN too): any valid piece
    const __m256d v = _mm256_mul_pd(_mm256_sub_pd(tc, lo), per_unit);
    const __m128i i = _mm256_cvttpd_epi32(v);
    const __m256d u = _mm256_sub_pd(_mm256_mul_pd(two, _mm256_sub_pd(v, _mm256_cvtepi32_pd(i))), one);
    const __m256d u2 = _mm256_mul_pd(u, u), u4 = _mm256_mul_pd(u2, u2);
    // Each lane's eight coefficients, transposed into c[k] = (coefficient k of lanes 0..3).
    alignas(16) int idx[4];
    _mm_store_si128(reinterpret_cast<__m128i*>(idx), i);
    __m256d c[8];
    for (int half = 0; half < 2; ++half) {
      const __m256d r0 = _mm256_loadu_pd(kPhiPieces[idx[0]] + 4 * half), r1 = _mm256_loadu_pd(kPhiPieces[idx[1]] + 4 * half);
      const __m256d r2 = _mm256_loadu_pd(kPhiPieces[idx[2]] + 4 * half), r3 = _mm256_loadu_pd(kPhiPieces[idx[3]] + 4 * half);
      const __m256d a = _mm256_unpacklo_pd(r0, r1), b = _mm256_unpackhi_pd(r0, r1);
      const __m256d d = _mm256_unpacklo_pd(r2, r3), f = _mm256_unpackhi_pd(r2, r3);
      c[4 * half + 0] = _mm256_permute2f128_pd(a, d, 0x20);
      c[4 * half + 1] = _mm256_permute2f128_pd(b, f, 0x20);
      c[4 * half + 2] = _mm256_permute2f128_pd(a, d, 0x31);
      c[4 * half + 3] = _mm256_permute2f128_pd(b, f, 0x31);
    }
    // ((c0 + c1 u) + (c2 + c3 u) u2) + ((c4 + c5 u) + (c6 + c7 u) u2) u4, as in phi()
    const __m256d low = _mm256_add_pd(_mm256_add_pd(c[0], _mm256_mul_pd(c[1], u)),
                                      _mm256_mul_pd(_mm256_add_pd(c[2], _mm256_mul_pd(c[3], u)), u2));
    const __m256d high = _mm256_add_pd(_mm256_add_pd(c[4], _mm256_mul_pd(c[5], u)),
                                       _mm256_mul_pd(_mm256_add_pd(c[6], _mm256_mul_pd(c[7], u)), u2));
    const __m256d p = _mm256_add_pd(low, _mm256_mul_pd(high, u4));
    const __m256d q = _mm256_min_pd(_mm256_max_pd(p, zero), one);  // as phi(): see phi2
    const __m256d outside = _mm256_and_pd(_mm256_cmp_pd(t, hi, _CMP_GE_OQ), one);
    _mm256_storeu_pd(out + j, _mm256_blendv_pd(outside, q, in));
  }
  phi_standardised_scalar(e + j, m + j, s + j, out + j, n - j);
}

// The environment variable DGMLAB_SIMD=scalar (or =avx2) caps the dispatched paths at that level whatever the CPU
// has: tests compare the paths' bitstreams end to end with it, and users can rule a vector path out.
inline bool simd_allows(const char* level) {
  const char* cap = std::getenv("DGMLAB_SIMD");
  if (!cap) return true;
  if (std::strcmp(cap, "scalar") == 0) return false;
  if (std::strcmp(cap, "avx2") == 0) return std::strcmp(level, "avx2") == 0;
  return true;
}

inline const bool kHasAvx2 = (__builtin_cpu_init(), __builtin_cpu_supports("avx2") && simd_allows("avx2"));
#endif

// Whether the dispatched paths run AVX2 code on this CPU.
inline bool has_avx2() {
#ifdef DGMLAB_AVX2_DISPATCH
  return kHasAvx2;
#else
  return false;
#endif
}

inline void phi_standardised(const double* e, const double* m, const double* s, double* out, size_t n) {
#ifdef DGMLAB_AVX2_DISPATCH
  if (kHasAvx2) return phi_standardised_avx2(e, m, s, out, n);
#endif
  phi_standardised_scalar(e, m, s, out, n);
}

inline double normal_pdf(double t) { return kInvSqrt2Pi * exp(-0.5 * (t * t)); }

// Rough standard normal quantile (Abramowitz & Stegun 26.2.23, |error| < 4.5e-4): a starting point for searches.
inline double normal_quantile_guess(double p) {
  if (!(p > 0)) return -40.0;
  if (!(p < 1)) return 40.0;
  const double q = p < 0.5 ? p : 1.0 - p;
  const double s = __builtin_sqrt(-2.0 * log(q));
  const double t = s - (2.515517 + s * (0.802853 + s * 0.010328)) / (1.0 + s * (1.432788 + s * (0.189269 + s * 0.001308)));
  return p < 0.5 ? -t : t;
}

// Standard normal quantile to ~1e-14: the rough guess refined by four Newton steps on normal_cdf.
inline double normal_quantile(double p) {
  if (p > 0.5) return -normal_quantile(1.0 - p);  // 1 - p is exact here
  if (!(p > 1e-300)) p = 1e-300;
  double t = normal_quantile_guess(p);
  for (int i = 0; i < 4; ++i) t -= (normal_cdf(t) - p) / normal_pdf(t);
  return t;
}

// Fast standard normal quantile for search starting points: linear interpolation in a table of 1025 quantiles
// (error < 2e-5 for p in [2^-10, 1 - 2^-10]), the rough guess beyond. Only ever used as a guess.
namespace detail {
struct QuantileTable {
  double q[1025];
  QuantileTable() {
    for (int j = 1; j < 1024; ++j) q[j] = normal_quantile(j / 1024.0);
    q[0] = q[1] - (q[2] - q[1]);
    q[1024] = -q[0];
  }
};
// Built when the program (or extension) loads, so the decoder's hot path has no initialisation guard.
inline const QuantileTable kQuantileTable;
}  // namespace detail

inline double normal_quantile_fast_guess(double p) {
  const detail::QuantileTable& table = detail::kQuantileTable;
  if (!(p > 1.0 / 1024 && p < 1023.0 / 1024)) return normal_quantile_guess(p);
  const double v = p * 1024.0;
  const int j = static_cast<int>(v);
  return table.q[j] + (v - j) * (table.q[j + 1] - table.q[j]);
}

// Search starting points for decoders, straight from a slot cf out of 2^precision (precision >= 12): the standard
// normal and logistic quantiles at the midpoints (j + 1/2) / 4096 of the slot's top 12 bits, as floats (16 KiB
// each, so they stay in L1). One shift and one load, where the interpolated guess above takes a conversion,
// branches and two loads on the decoder's dependency chain. Only ever used as a guess.
inline constexpr unsigned kSlotQuantileBits = 12;
namespace detail {
struct SlotQuantileTables {
  float normal[1 << kSlotQuantileBits], logistic[1 << kSlotQuantileBits];
  SlotQuantileTables() {
    for (int j = 0; j < (1 << kSlotQuantileBits); ++j) {
      const double p = (j + 0.5) / (1 << kSlotQuantileBits);
      normal[j] = static_cast<float>(normal_quantile(p));
      logistic[j] = static_cast<float>(log(p / (1.0 - p)));
    }
  }
};
inline const SlotQuantileTables kSlotQuantiles;
}  // namespace detail

inline double normal_quantile_of_slot(uint32_t cf, unsigned precision) {
  return detail::kSlotQuantiles.normal[cf >> (precision - kSlotQuantileBits)];
}
inline double logistic_quantile_of_slot(uint32_t cf, unsigned precision) {
  return detail::kSlotQuantiles.logistic[cf >> (precision - kSlotQuantileBits)];
}

// Logistic CDF 1 / (1 + e^-t), evaluated without cancellation on both sides.
inline double sigmoid(double t) {
  if (t >= 0) return 1.0 / (1.0 + exp(-t));
  const double e = exp(t);
  return e / (1.0 + e);
}

}  // namespace dgmlab::detmath
