// Two-level coding of a symbol from a large ordered alphabet: bucket first, then the offset inside it.
//
// A model partitions its symbols into NB consecutive buckets and gives the CDF F at each bucket's lower edge.
// Level 1 codes the bucket b with the quantised CDF (P bits, 2 units of slack per bucket)
//     C(b) = floor(F(b) (2^P - 2 NB)) + 2 b,   C(0) = 0,  C(NB) = 2^P,
// so every bucket has frequency >= 1 even if F wobbles by far less than 2^-P between neighbouring edges (our F is
// accurate to ~2e-13). P = 26 by default: with the state's lower bound L = 2^31, M / L = 2^-5 keeps rANS' own
// rounding loss negligible (at P = 31 it costs ~0.002 bits a symbol), while the minimum mass of a far-tail bucket,
// 2^-25, keeps bits-back samples (which are *drawn* from these distributions) out of the far tails. Level 2 codes the offset inside the bucket exactly uniformly. Buckets are one bin wide where
// the density is large and grow where it is small, so the uniform level costs almost nothing (see codecs.hpp) while
// supports of 2^40+ bins stay codable with a 64-bit state: this is the "exact two-level scheme" of the design.
//
// Model concept:
//   int64_t num_buckets() const;            NB >= 1
//   int64_t bucket_of(int64_t symbol) const;
//   int64_t bucket_begin(int64_t b) const;  first symbol of bucket b, 0 <= b <= NB (b = NB: one past the last)
//   double cdf(int64_t b, int64_t first) const;  F at the lower edge of bucket b (first = bucket_begin(b)),
//                                                0 < b < NB, in [0, 1] (models clamp it themselves)
//   int64_t guess(double u) const;          a bucket near the u-quantile: only speeds up decoding
//   optional: cdf_pair (see HasCdfPair)
//   unsigned precision() const;             P for level 1, with 2 NB < 2^P
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "detmath.hpp"
#include "message.hpp"

namespace dgmlab {

inline constexpr unsigned kBucketPrecision = 26;           // default level-1 precision
inline constexpr unsigned kDigitBits = 31;                 // uniform symbols above 2^31 values go in 31-bit digits
inline constexpr uint64_t kDigitTotal = uint64_t{1} << kDigitBits;

#ifdef DGMLAB_COUNT_MISSES
inline long g_misses = 0;
#endif
// ---- uniform symbols: v in [0, n), exact for n <= 2^31, in 31-bit digits above (see low_digit_range) -------
inline bool is_pow2(uint64_t n) { return (n & (n - 1)) == 0; }
inline unsigned log2_floor(uint64_t n) { return 63u - static_cast<unsigned>(__builtin_clzll(n)); }

// Precision for a non-power-of-two uniform over n <= 2^31 values: at least 24 bits, and 2^p >= n.
inline unsigned uniform_precision(uint64_t n) { return std::max(kBucketPrecision, log2_floor(n) + 1); }

// Values above 2^31 are coded as a high digit (uniform over ceil(n / 2^31)) and a low digit over the values that
// high digit leaves: 2^31, or fewer for the last one. Every decodable pair is then a value below n, which matters
// when bits-back pops from content that was not pushed with this codec.
inline uint64_t low_digit_range(uint64_t high, uint64_t n) {
  const uint64_t rest = n - (high << kDigitBits);
  return rest < kDigitTotal ? rest : kDigitTotal;
}

inline void push_uniform(Stream& st, uint64_t v, uint64_t n) {
  if (n <= 1) return;
  if (n > kDigitTotal) {  // low digit first, so that it is popped last
    const uint64_t high = v >> kDigitBits;
    push_uniform(st, v & (kDigitTotal - 1), low_digit_range(high, n));
    push_uniform(st, high, ((n - 1) >> kDigitBits) + 1);
    return;
  }
  if (is_pow2(n)) {
    st.push_bits(static_cast<uint32_t>(v), log2_floor(n));
    return;
  }
  const unsigned p = uniform_precision(n);
  const uint64_t c0 = (v << p) / n, c1 = ((v + 1) << p) / n;  // C(v) = floor(v 2^p / n)
  st.push(static_cast<uint32_t>(c0), static_cast<uint32_t>(c1 - c0), p);
}

inline uint64_t pop_uniform(Stream& st, uint64_t n) {
  if (n <= 1) return 0;
  if (n > kDigitTotal) {
    const uint64_t high = pop_uniform(st, ((n - 1) >> kDigitBits) + 1);
    return (high << kDigitBits) | pop_uniform(st, low_digit_range(high, n));
  }
  if (is_pow2(n)) return st.pop_bits(log2_floor(n));
  const unsigned p = uniform_precision(n);
  const uint64_t cf = st.peek(p);
  const uint64_t v = ((cf + 1) * n - 1) >> p;  // largest v with C(v) <= cf
  const uint64_t c0 = (v << p) / n, c1 = ((v + 1) << p) / n;
  st.pop(static_cast<uint32_t>(c0), static_cast<uint32_t>(c1 - c0), p);
  return v;
}

#if defined(__GNUC__)
#define DGMLAB_ALWAYS_INLINE inline __attribute__((always_inline))
#define DGMLAB_LAMBDA_INLINE __attribute__((always_inline))
#else
#define DGMLAB_ALWAYS_INLINE inline
#define DGMLAB_LAMBDA_INLINE
#endif

// ---- level 1: the quantised bucket CDF --------------------------------------------------------------------
// C(b) from f = F(b): the one formula both coding directions use.
template <class Model>
inline uint32_t quantise_cdf(const Model& m, int64_t b, double f) {
  const int64_t nb = m.num_buckets();
  const int64_t total = int64_t{1} << m.precision();
  if (b <= 0) return 0;
  if (b >= nb) return static_cast<uint32_t>(total);
  // Both conversions go through int64 (one instruction each on x86-64; uint64 <-> double takes several), which
  // is exact here: total - 2 NB and f (total - 2 NB) lie in [0, 2^31].
  return static_cast<uint32_t>(static_cast<int64_t>(f * static_cast<double>(total - 2 * nb))) +
         static_cast<uint32_t>(2 * b);
}

// What quantise_cdf needs of a model: its bucket count and precision.
struct QuantiseShape {
  int64_t nb;
  unsigned p;
  int64_t num_buckets() const { return nb; }
  unsigned precision() const { return p; }
};

// C(b) given first = bucket_begin(b); F is evaluated only strictly inside (0, NB).
template <class Model>
inline uint32_t bucket_cdf(const Model& m, int64_t b, int64_t first) {
  return quantise_cdf(m, b, b <= 0 || b >= m.num_buckets() ? 0.0 : m.cdf(b, first));
}

// Models may offer cdf_pair(b0, first0, b1, first1, f0, f1): F at two edges in one (vector) evaluation, bit-equal
// to two cdf() calls, and harmless at b = 0 and b = NB (whose results quantise_cdf ignores).
template <class Model, class = void>
struct HasCdfPair : std::false_type {};
template <class Model>
struct HasCdfPair<Model, std::void_t<decltype(&Model::cdf_pair)>> : std::true_type {};

// C(b0) and C(b1): bucket_cdf of each, through cdf_pair where the model has it.
template <class Model>
inline void bucket_cdf_pair(const Model& m, int64_t b0, int64_t first0, int64_t b1, int64_t first1, uint32_t& c0,
                            uint32_t& c1) {
  if constexpr (HasCdfPair<Model>::value) {
    double f0, f1;
    m.cdf_pair(b0, first0, b1, first1, f0, f1);
    c0 = quantise_cdf(m, b0, f0);
    c1 = quantise_cdf(m, b1, f1);
  } else {
    c0 = bucket_cdf(m, b0, first0);
    c1 = bucket_cdf(m, b1, first1);
  }
}

template <class Model>
inline uint32_t bucket_cdf(const Model& m, int64_t b) {
  return bucket_cdf(m, b, m.bucket_begin(b));
}

// A bucket edge: its index, first symbol and quantised CDF.
struct Edge {
  int64_t bucket, first;
  uint32_t cdf;
};

template <class Model>
inline Edge edge_at(const Model& m, int64_t b) {
  const int64_t first = m.bucket_begin(b);
  return {b, first, bucket_cdf(m, b, first)};
}

// Models may offer guess_slot(cf): a bucket near slot cf computed without going through u = cf / 2^P (see
// SlotGuess); like guess(), it only speeds up decoding.
template <class Model, class = void>
struct HasGuessSlot : std::false_type {};
template <class Model>
struct HasGuessSlot<Model, std::void_t<decltype(&Model::guess_slot)>> : std::true_type {};

template <class Model>
DGMLAB_ALWAYS_INLINE int64_t guess_bucket(const Model& m, uint32_t cf) {
  if constexpr (HasGuessSlot<Model>::value) {
    return std::clamp<int64_t>(m.guess_slot(cf), 0, m.num_buckets() - 1);
  } else {
    const double u = static_cast<double>(cf) * detmath::detail::pow2(-static_cast<int>(m.precision()));  // exact
    return std::clamp<int64_t>(m.guess(u), 0, m.num_buckets() - 1);
  }
}


// The edges [lo, hi) of the bucket whose quantised range holds cf: gallop from the model's guess, then bisect.
// Always inlined: it sits on the decoder's dependency chain, where a call's prologue and epilogue add latency.
template <class Model>
DGMLAB_ALWAYS_INLINE std::pair<Edge, Edge> find_bucket(const Model& m, uint32_t cf) {
  const int64_t nb = m.num_buckets();
  const int64_t g = guess_bucket(m, cf);
  Edge lo = edge_at(m, g), hi = edge_at(m, g + 1);  // independent scalar evaluations: they overlap
  if (lo.cdf <= cf && cf < hi.cdf) return {lo, hi};  // the usual case: the guess was right
#ifdef DGMLAB_COUNT_MISSES
  ++g_misses;
#endif
  if (lo.cdf <= cf) {  // search upwards for the first edge above cf
    for (int64_t step = 2;; step *= 2) {
      lo = hi;
      hi = edge_at(m, std::min(nb, g + step));
      if (hi.cdf > cf) break;
    }
  } else {  // search downwards for the last edge at or below cf
    hi = lo;
    for (int64_t step = 1;; step *= 2) {
      lo = edge_at(m, std::max<int64_t>(0, g - step));
      if (lo.cdf <= cf) break;
      hi = lo;
    }
  }
  while (hi.bucket - lo.bucket > 1) {
    const Edge mid = edge_at(m, lo.bucket + (hi.bucket - lo.bucket) / 2);
    (mid.cdf <= cf ? lo : hi) = mid;
  }
  return {lo, hi};
}

// What pushing one symbol writes: its offset inside the bucket (uniform over the bucket's width), then the bucket.
struct BucketedCode {
  uint64_t offset, width;
  uint32_t start, freq;
  unsigned precision;
};

// The model's part of a push (no stream involved, so planning many symbols ahead lets their evaluations overlap).
template <class Model>
inline BucketedCode plan_bucketed(const Model& m, int64_t symbol) {
  const int64_t b = m.bucket_of(symbol);
  const int64_t first = m.bucket_begin(b), next = m.bucket_begin(b + 1);
  uint32_t c0, c1;
  bucket_cdf_pair(m, b, first, b + 1, next, c0, c1);
  return {static_cast<uint64_t>(symbol - first), static_cast<uint64_t>(next - first), c0, c1 - c0, m.precision()};
}

// plan_bucketed for the items top, top - 1, ..., top - count + 1 (count <= kPlanBlock) of models whose CDF at a
// bucket edge is Phi((e - mean) / std) (Model::standard_edge gives e, mean and std): the layout work per item,
// then all 2 count edges through one detmath::phi_standardised pass (bit-identical to the models' cdf_pair).
template <class MakeModel>
inline void plan_gaussian_block(MakeModel&& model, const int64_t* symbols, size_t top, size_t count,
                                BucketedCode* codes) {
  constexpr size_t kMax = 2 * Message::kPlanBlock;
  double e[kMax], mean[kMax], std[kMax], f[kMax];
  int64_t bucket[Message::kPlanBlock], num_buckets[Message::kPlanBlock];
  for (size_t c = 0; c < count; ++c) {
    const auto m = model(top - c);
    const int64_t symbol = symbols[top - c];
    int64_t b, first, next;
    m.locate(symbol, b, first, next);
    m.standard_edge(b, first, e[2 * c], mean[2 * c], std[2 * c]);
    m.standard_edge(b + 1, next, e[2 * c + 1], mean[2 * c + 1], std[2 * c + 1]);
    bucket[c] = b;
    num_buckets[c] = m.num_buckets();
    codes[c] = {static_cast<uint64_t>(symbol - first), static_cast<uint64_t>(next - first), 0, 0, m.precision()};
  }
  detmath::phi_standardised(e, mean, std, f, 2 * count);
  for (size_t c = 0; c < count; ++c) {
    const QuantiseShape q{num_buckets[c], codes[c].precision};
    const uint32_t c0 = quantise_cdf(q, bucket[c], f[2 * c]), c1 = quantise_cdf(q, bucket[c] + 1, f[2 * c + 1]);
    codes[c].start = c0;
    codes[c].freq = c1 - c0;
  }
}

inline void push_code(Stream& st, const BucketedCode& c) {
  push_uniform(st, c.offset, c.width);
  st.push(c.start, c.freq, c.precision);
}

template <class Model>
inline void push_bucketed(Stream& st, const Model& m, int64_t symbol) {
  push_code(st, plan_bucketed(m, symbol));
}

template <class Model>
DGMLAB_ALWAYS_INLINE int64_t pop_bucketed(Stream& st, const Model& m) {
  const auto [lo, hi] = find_bucket(m, st.peek(m.precision()));
  st.pop(lo.cdf, hi.cdf - lo.cdf, m.precision());
  return lo.first + static_cast<int64_t>(pop_uniform(st, static_cast<uint64_t>(hi.first - lo.first)));
}

}  // namespace dgmlab
