// Continuous distributions on a grid of bins, and how their symbols are grouped into buckets.
//
// Symbol k in [lo, hi] stands for the bin [(k - 1/2) w, (k + 1/2) w); the two end bins also take the tails, so the
// CDF at the edge of bin lo is 0 and past bin hi is 1. Supports of up to kExactSupport bins get one bucket per bin
// (exact coding). Larger ones (local bits-back uses w = 2^-32 over +-2^9: 2^42 bins) are cut into:
//   - the two end bins, each its own bucket (they can carry large tail mass);
//   - a central region [left, right) of the distribution in buckets of W = 2^j bins, W chosen so that a bucket
//     spans 1/64 to 1/32 of the distribution's scale (one bin per bucket when the scale is under 64 bins);
//   - geometric tails: buckets growing 256-fold going outwards from the central region (at most 8 a side).
// Coding a symbol's offset uniformly inside a central bucket of width h (in scale units) costs E[t^2] h^2 / 24
// nats over the exact bin probabilities for a Gaussian, below 6e-5 bits a symbol; tails hold < 1e-8 of the mass.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "detmath.hpp"

namespace dgmlab {

struct Grid {
  double bin_width;  // w > 0
  int64_t lo, hi;    // lo <= hi, |lo|, |hi| <= kMaxSymbol
};

inline constexpr int64_t kExactSupport = 1024;
inline constexpr int64_t kMaxSymbol = int64_t{1} << 62;
inline constexpr int64_t kMaxCentralBuckets = 2048;

class BucketLayout {
 public:
  // The central region spans [left, right) in data units; `scale` sets the bucket width.
  // Per symbol on the coding path: inlined, so that 1 / w is computed once per array.
  DGMLAB_LAMBDA_INLINE BucketLayout(const Grid& g, double left, double right, double scale) : lo_(g.lo), hi_(g.hi) {
    if (static_cast<uint64_t>(hi_) - static_cast<uint64_t>(lo_) < kExactSupport) {  // hi - lo can exceed int64
      exact_ = true;
      num_buckets_ = hi_ - lo_ + 1;
      return;
    }
    const double inv_w = 1.0 / g.bin_width;
    shift_ = std::clamp(exponent_of(scale * inv_w) - 5, 0, 59);  // W = 2^shift: 32..64 buckets per scale unit
    const double span = std::min(std::max(0.0, (right - left) * inv_w), 0x1p60);
    m_ = ceil_shift(span, shift_);
    while (m_ > kMaxCentralBuckets && shift_ < 59) m_ = ceil_shift(span, ++shift_);  // wide mixtures: coarser
    m_ = std::max<int64_t>(1, m_);
    // Only the central region's intersection with the support matters: clamping its start to
    // [lo + 1 - m W, hi] keeps every symbol and edge below in int64 (|a|, |z| < 2^62 + 2^61).
    const int64_t mw = m_ << shift_;
    a_ = std::clamp(to_symbol(left * inv_w + 0.5), lo_ + 1 - mw, hi_);
    z_ = a_ + mw;
    g_first_ = global_index(lo_ + 1);
    num_buckets_ = 2 + global_index(hi_ - 1) - g_first_ + 1;
  }

  int64_t num_buckets() const { return num_buckets_; }

  DGMLAB_LAMBDA_INLINE int64_t bucket_of(int64_t k) const {
    if (exact_) return k - lo_;
    if (k == lo_) return 0;
    if (k == hi_) return num_buckets_ - 1;
    return 1 + global_index(k) - g_first_;
  }

  // bucket_of(k) and the bucket's first and one-past-last symbols, bucket_begin(b) and bucket_begin(b + 1), with
  // the usual cases (exact layouts; a symbol inside the central region) computed directly.
  DGMLAB_LAMBDA_INLINE void locate(int64_t k, int64_t& b, int64_t& first, int64_t& next) const {
    if (exact_) {
      b = k - lo_;
      first = k;
      next = k + 1;
      return;
    }
    if (k >= a_ && k < z_ && k > lo_ && k < hi_) {  // central bucket j = (k - a) / W, clipped to [lo + 1, hi]
      const int64_t j = (k - a_) >> shift_;
      b = 1 + j - g_first_;
      first = std::max(lo_ + 1, a_ + (j << shift_));
      next = b + 1 == num_buckets_ - 1 ? hi_ : a_ + ((j + 1) << shift_);
      return;
    }
    b = bucket_of(k);
    first = bucket_begin(b);
    next = bucket_begin(b + 1);
  }

  DGMLAB_LAMBDA_INLINE int64_t bucket_begin(int64_t b) const {
    if (exact_ || b <= 0) return lo_ + b;
    if (b >= num_buckets_) return hi_ + 1;
    if (b == num_buckets_ - 1) return hi_;
    return global_start(g_first_ + b - 1);
  }

  // A bucket near position x / w (x in data units) as an affine map, bucket ~ origin + per_bin x / w: exact up to
  // rounding over all buckets of an exact layout and over the central region otherwise (buckets central_first()
  // .. central_last()); a decoder's search starting point only.
  bool exact() const { return exact_; }
  double origin() const {
    if (exact_) return 0.5 - static_cast<double>(lo_);
    return (0.5 - static_cast<double>(a_)) * per_bin() + static_cast<double>(1 - g_first_);
  }
  double per_bin() const { return exact_ ? 1.0 : 1.0 / static_cast<double>(int64_t{1} << shift_); }
  int64_t central_first() const { return exact_ ? 0 : std::max<int64_t>(1, 1 - g_first_); }
  int64_t central_last() const { return exact_ ? num_buckets_ - 1 : std::min(num_buckets_ - 2, m_ - g_first_); }

  // Symbol whose bin holds x / w (clamped to the support): used to turn a quantile guess into a bucket.
  int64_t symbol_at(double x_over_w) const {
    return std::clamp<int64_t>(to_symbol(x_over_w + 0.5), lo_, hi_);
  }

 private:
  // floor(v) clamped to +-2^62, without a libm call (the conversion truncates towards zero).
  static int64_t to_symbol(double v) {
    const double c = std::clamp(v, -static_cast<double>(kMaxSymbol), static_cast<double>(kMaxSymbol));
    const auto t = static_cast<int64_t>(c);
    return static_cast<double>(t) > c ? t - 1 : t;
  }

  // floor(log2 v) for a finite v > 0 (IEEE exponent bits; -1023 for zero or subnormals).
  static int exponent_of(double v) {
    uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    return static_cast<int>((bits >> 52) & 0x7ff) - 1023;
  }

  // ceil(v / 2^k) for 0 <= v <= 2^62.
  static int64_t ceil_shift(double v, int k) {
    const auto t = static_cast<int64_t>(v);
    const int64_t whole = t + (static_cast<double>(t) < v ? 1 : 0);
    return (whole + (int64_t{1} << k) - 1) >> k;
  }

  static int64_t floor_log2(uint64_t v) { return 63 - __builtin_clzll(v); }

  // Buckets over all integers: lower tail G = -1, -2, ... outwards; central G = 0 .. m - 1; upper tail G = m, ...
  // The j-th tail bucket holds symbols at distance [W (2^(8j) - 1), W (2^(8j+8) - 1)) beyond the central region:
  // widths grow 256-fold, so a side has at most 8 tail buckets and the tails' minimum mass (2 units each) stays
  // tiny. That matters for bits-back, which *samples* from these distributions.
  static constexpr int kTailStep = 8;  // log2 of the growth factor

  DGMLAB_LAMBDA_INLINE int64_t global_index(int64_t k) const {
    if (k >= a_ && k < z_) return (k - a_) >> shift_;  // central: inline; tails below
    return tail_index(k);
  }
  DGMLAB_LAMBDA_INLINE int64_t tail_index(int64_t k) const {
    if (k < a_)
      return -1 - floor_log2(((static_cast<uint64_t>(a_) - static_cast<uint64_t>(k) - 1) >> shift_) + 1) / kTailStep;
    if (k >= z_)
      return m_ + floor_log2(((static_cast<uint64_t>(k) - static_cast<uint64_t>(z_)) >> shift_) + 1) / kTailStep;
    return (k - a_) >> shift_;
  }

  // First symbol of global bucket g, clamped to the interior [lo + 1, hi]. Tails (the rare case) in 128 bits:
  // a - W (2^(j+1) - 1) and z + W (2^j - 1) overflow int64 for the outermost buckets of 2^62-wide supports.
  DGMLAB_LAMBDA_INLINE int64_t global_start(int64_t g) const {
    if (g >= 0 && g < m_) return std::max(lo_ + 1, a_ + (g << shift_));
    return tail_start(g);
  }
  int64_t tail_start(int64_t g) const {
    if (g < 0) {  // bucket j = -1 - g starts (towards the centre) at distance W (2^(8j+8) - 1) below a
      const int e = std::min(126 - shift_, kTailStep * static_cast<int>(-g));
      const __int128 d = ((static_cast<__int128>(1) << e) - 1) << shift_;
      return static_cast<int64_t>(std::max<__int128>(lo_ + 1, a_ - d));
    }
    const int e = std::min(126 - shift_, kTailStep * static_cast<int>(g - m_));
    const __int128 d = ((static_cast<__int128>(1) << e) - 1) << shift_;
    return static_cast<int64_t>(std::min<__int128>(hi_, z_ + d));
  }

  int64_t lo_, hi_;
  bool exact_ = false;
  int shift_ = 0;                  // log2 W
  int64_t a_ = 0, m_ = 0, z_ = 0;  // central buckets cover symbols [a, z = a + m W)
  int64_t g_first_ = 0;            // global index of the bucket holding lo + 1
  int64_t num_buckets_ = 0;
};

}  // namespace dgmlab
