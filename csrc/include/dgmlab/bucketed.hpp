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

inline void push_uniform_digits(Stream& st, uint64_t v, uint64_t n);

// Inlined: bucketed codes mostly have n = 1 (nothing to code) or a power of two up to 2^31 (one uniform digit).
DGMLAB_ALWAYS_INLINE void push_uniform(Stream& st, uint64_t v, uint64_t n) {
  if (n <= 1) return;
  if (is_pow2(n) && n <= kDigitTotal) {
    st.push_bits(static_cast<uint32_t>(v), log2_floor(n));
    return;
  }
  push_uniform_digits(st, v, n);
}

inline void push_uniform_digits(Stream& st, uint64_t v, uint64_t n) {
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

inline uint64_t pop_uniform_digits(Stream& st, uint64_t n);

DGMLAB_ALWAYS_INLINE uint64_t pop_uniform(Stream& st, uint64_t n) {
  if (n <= 1) return 0;
  if (is_pow2(n) && n <= kDigitTotal) return st.pop_bits(log2_floor(n));
  return pop_uniform_digits(st, n);
}

inline uint64_t pop_uniform_digits(Stream& st, uint64_t n) {
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


// ---- level 1: the quantised bucket CDF --------------------------------------------------------------------
// C(b) from f = F(b): the one formula both coding directions use.
template <class Model>
DGMLAB_ALWAYS_INLINE uint32_t quantise_cdf(const Model& m, int64_t b, double f) {
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
DGMLAB_ALWAYS_INLINE uint32_t bucket_cdf(const Model& m, int64_t b, int64_t first) {
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
DGMLAB_ALWAYS_INLINE Edge edge_at(const Model& m, int64_t b) {
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

// C(b) and C(b + 1) - C(b) for j < n buckets b[j] (see quantise_cdf): f0, f1 are F at the bucket's two edges,
// range = 2^P - 2 NB as a double, total = 2^P. Bit-identical to quantise_cdf (f range < 2^31 truncates the same
// way to int32 as to int64); four buckets per AVX2 instruction where the CPU has it.
inline void quantise_pairs_scalar(const double* f0, const double* f1, const double* range, const int32_t* b,
                                  const int32_t* nb, const uint32_t* total, uint32_t* start, uint32_t* freq, size_t n) {
  for (size_t j = 0; j < n; ++j) {
    const uint32_t c0 = b[j] <= 0 ? 0 : static_cast<uint32_t>(static_cast<int64_t>(f0[j] * range[j])) + 2 * b[j];
    const uint32_t c1 =
        b[j] + 1 >= nb[j] ? total[j] : static_cast<uint32_t>(static_cast<int64_t>(f1[j] * range[j])) + 2 * (b[j] + 1);
    start[j] = c0;
    freq[j] = c1 - c0;
  }
}

#ifdef DGMLAB_AVX2_DISPATCH
__attribute__((target("avx2"))) inline void quantise_pairs_avx2(const double* f0, const double* f1,
                                                                const double* range, const int32_t* b,
                                                                const int32_t* nb, const uint32_t* total,
                                                                uint32_t* start, uint32_t* freq, size_t n) {
  const __m128i one = _mm_set1_epi32(1), two = _mm_set1_epi32(2);
  size_t j = 0;
  for (; j + 4 <= n; j += 4) {
    const __m256d r = _mm256_loadu_pd(range + j);
    const __m128i q0 = _mm256_cvttpd_epi32(_mm256_mul_pd(_mm256_loadu_pd(f0 + j), r));
    const __m128i q1 = _mm256_cvttpd_epi32(_mm256_mul_pd(_mm256_loadu_pd(f1 + j), r));
    const __m128i bv = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + j));
    const __m128i nbv = _mm_loadu_si128(reinterpret_cast<const __m128i*>(nb + j));
    const __m128i tv = _mm_loadu_si128(reinterpret_cast<const __m128i*>(total + j));
    const __m128i b2 = _mm_add_epi32(bv, bv);
    const __m128i c0 = _mm_andnot_si128(_mm_cmpgt_epi32(one, bv), _mm_add_epi32(q0, b2));  // 0 where b <= 0
    const __m128i top = _mm_cmpgt_epi32(_mm_add_epi32(bv, one), _mm_sub_epi32(nbv, one));  // b + 1 >= nb
    const __m128i c1 = _mm_blendv_epi8(_mm_add_epi32(q1, _mm_add_epi32(b2, two)), tv, top);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(start + j), c0);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(freq + j), _mm_sub_epi32(c1, c0));
  }
  quantise_pairs_scalar(f0 + j, f1 + j, range + j, b + j, nb + j, total + j, start + j, freq + j, n - j);
}
#endif

inline void quantise_pairs(const double* f0, const double* f1, const double* range, const int32_t* b,
                           const int32_t* nb, const uint32_t* total, uint32_t* start, uint32_t* freq, size_t n) {
#ifdef DGMLAB_AVX2_DISPATCH
  if (detmath::kHasAvx2) return quantise_pairs_avx2(f0, f1, range, b, nb, total, start, freq, n);
#endif
  quantise_pairs_scalar(f0, f1, range, b, nb, total, start, freq, n);
}

// plan_bucketed for the items top, top - 1, ..., top - count + 1 (count <= kPlanBlock) of models whose CDF at a
// bucket edge is Phi((e - mean) / std) (Model::standard_edge gives e, mean and std): the layout work per item,
// then both edges of every bucket through detmath::phi_standardised (bit-identical to the models' cdf_pair) and
// the quantised CDFs through quantise_pairs, each a vectorised pass over the block.
template <class MakeModel>
inline void plan_gaussian_block(MakeModel&& model, const int64_t* symbols, size_t top, size_t count,
                                BucketedCode* codes) {
  constexpr size_t kMax = Message::kPlanBlock;
  double e0[kMax], e1[kMax], mean[kMax], std[kMax], f0[kMax], f1[kMax], range[kMax];
  int32_t bucket[kMax], num_buckets[kMax];
  uint32_t total[kMax], start[kMax], freq[kMax];
  for (size_t c = 0; c < count; ++c) {
    const auto m = model(top - c);
    const int64_t symbol = symbols[top - c];
    int64_t b, first, next;
    m.locate(symbol, b, first, next);
    double m1, s1;
    m.standard_edge(b, first, e0[c], mean[c], std[c]);
    m.standard_edge(b + 1, next, e1[c], m1, s1);
    const int64_t nb = m.num_buckets(), t = int64_t{1} << m.precision();
    bucket[c] = static_cast<int32_t>(b);  // 0 <= b < NB < 2^30 (2 NB < 2^P, P <= 31)
    num_buckets[c] = static_cast<int32_t>(nb);
    total[c] = static_cast<uint32_t>(t);
    range[c] = static_cast<double>(t - 2 * nb);
    codes[c].offset = static_cast<uint64_t>(symbol - first);
    codes[c].width = static_cast<uint64_t>(next - first);
    codes[c].precision = m.precision();
  }
  detmath::phi_standardised(e0, mean, std, f0, count);
  detmath::phi_standardised(e1, mean, std, f1, count);
  quantise_pairs(f0, f1, range, bucket, num_buckets, total, start, freq, count);
  for (size_t c = 0; c < count; ++c) {
    codes[c].start = start[c];
    codes[c].freq = freq[c];
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
