// Deterministic exp and log for the numerical kernels: fixed polynomials, only +, -, *, / and bit operations.
//
// libm's exp/log differ in their last bits between glibc, musl, macOS, MSVC and CUDA's libdevice, and anything that
// feeds a quantised CDF must be the same sequence of IEEE-754 operations everywhere (ARCHITECTURE.md, determinism
// rule). These versions compile to identical results on every host compiler and under nvcc (both built without
// floating-point contraction: -ffp-contract=off, --fmad=false), so the CPU and CUDA kernels agree bit for bit.
// Accuracy: a few ulp over their documented domains, which is all the kernels need.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define DGMLAB_HD __host__ __device__ __forceinline__
#else
#define DGMLAB_HD inline
#endif

namespace dgmlab {
namespace fpmath {

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

// ln 2 split so that n * kLn2Hi is exact for |n| < 2^11 (fdlibm's constants).
constexpr double kLn2Hi = 6.93147180369123816490e-01;
constexpr double kLn2Lo = 1.90821492927058770002e-10;
constexpr double kLog2e = 1.44269504088896338700e+00;
// Adding 1.5 * 2^52 rounds a double of magnitude < 2^51 to the nearest integer (ties to even) and leaves that
// integer, as two's complement, in the low mantissa bits.
constexpr double kRoundMagic = 6755399441055744.0;
constexpr double kInf = __builtin_huge_val();
constexpr double kNaN = __builtin_nan("");
// Above this, exp(x) overflows: exp returns +inf there.
constexpr double kExpMaxArg = 709.0;
// Below this, exp(x) < 2^-1021 and would be subnormal: exp returns 0 there.
constexpr double kExpMinArg = -708.0;

// exp(x), relative error below 4 ulp on [-708, 709]; 0 below -708, +inf above 709, NaN for NaN.
//   x = n ln2 + r, |r| <= ln2 / 2;  exp(x) = 2^n * exp(r), exp(r) by its degree-13 Taylor polynomial
//   (remainder r^14 / 14! < 5e-18).
DGMLAB_HD double exp(double x) {
  const bool underflow = x < kExpMinArg;
  const bool overflow = x > kExpMaxArg;
  const bool nan = x != x;
  const double xc = (underflow || overflow || nan) ? 0.0 : x;
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
  const double v = underflow ? 0.0 : p * scale;
  return nan ? x : (overflow ? kInf : v);
}

// log(x) for finite x > 0 (subnormals included), absolute error below 2 ulp of the result; log(0) = -inf,
// NaN for x < 0 or NaN, +inf for +inf.
//   x = 2^e * m with m in [sqrt(1/2), sqrt(2));  log(m) = 2 atanh(s), s = (m - 1) / (m + 1), |s| < 0.1716,
//   2 atanh(s) = 2s (1 + s^2/3 + s^4/5 + ... + s^20/21)  (remainder < 1e-18).
DGMLAB_HD double log(double x) {
  if (!(x > 0.0)) return x == 0.0 ? -kInf : kNaN;
  if (x == kInf) return x;
  int e = 0;
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
  const double s = (m - 1.0) / (m + 1.0);
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

}  // namespace fpmath
}  // namespace dgmlab
