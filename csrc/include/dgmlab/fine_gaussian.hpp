// The encoder's plan for Gaussians on large supports (GaussianModel's bucketed layout, the fine grids of local
// bits-back), eight symbols per AVX-512 vector where the CPU has it.
//
// Each symbol has its own (mean, std), so its bucket layout (grid.hpp) is rebuilt per symbol: on the scalar path
// that is most of a push. plan_fine_block_avx512 computes the layout, the symbol's bucket and both of its edges,
// Phi at the edges and the quantised CDF for eight symbols at once with the same IEEE operations as the scalar code
// (GaussianModel, detmath::phi, quantise_cdf), lane by lane, and exact 64-bit integer arithmetic, so every code is
// bit-identical to the scalar plan's. Lanes outside the usual case (a symbol in a geometric tail bucket or an end
// bin, a layout whose central region needs the coarsening loop, a position beyond +-2^62) take the scalar plan.
// The function is compiled for AVX-512 with fp-contract off, so no compiler setting fuses a multiply and an add.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "bucketed.hpp"
#include "codecs.hpp"
#include "detmath.hpp"
#include "grid.hpp"
#include "message.hpp"

namespace dgmlab {

// What pushing items first .. first + count - 1 writes, one array per field (entry c is item first + c): the offset
// inside the bucket, uniform over `width` values (in `bits` bits when width is a power of two up to 2^31, else
// kGeneralWidth), then the bucket with start/freq out of 2^kBucketPrecision.
struct FineGaussianBlock {
  static constexpr size_t kMax = Message::kPlanBlock;
  static constexpr uint32_t kGeneralWidth = 64;
  uint64_t offset[kMax], width[kMax];
  uint32_t start[kMax], freq[kMax], bits[kMax];

  // A little over the words that entries 0 .. count - 1 push: their information (bits + P - log2 freq, rounded
  // up) over 32 bits a word, plus one word in eight.
  size_t words_hint(size_t count) const {
    size_t info = 0;
    for (size_t c = 0; c < count; ++c)
      info += std::min<uint32_t>(bits[c], kDigitBits) + kBucketPrecision + 1 - log2_floor(freq[c]);
    return info / 32 + count / 8 + 1;
  }
};

// The scalar plan of one item: exactly plan_gaussian_block's computation for GaussianModel.
DGMLAB_ALWAYS_INLINE void plan_fine_item(const GaussianModel& m, int64_t symbol, FineGaussianBlock& out, size_t c) {
  int64_t b, first, next;
  m.locate(symbol, b, first, next);
  double e0, e1, mean, std, mean1, std1;
  m.standard_edge(b, first, e0, mean, std);
  m.standard_edge(b + 1, next, e1, mean1, std1);
  const uint32_t c0 = quantise_cdf(m, b, detmath::phi((e0 - mean) / std));
  const uint32_t c1 = quantise_cdf(m, b + 1, detmath::phi((e1 - mean) / std));
  const auto width = static_cast<uint64_t>(next - first);
  out.offset[c] = static_cast<uint64_t>(symbol - first);
  out.width[c] = width;
  out.start[c] = c0;
  out.freq[c] = c1 - c0;
  out.bits[c] = is_pow2(width) && width <= kDigitTotal ? log2_floor(width) : FineGaussianBlock::kGeneralWidth;
}

inline void plan_fine_block_scalar(const Grid& g, const double* mean, const double* std, const int64_t* symbols,
                                   size_t first, size_t count, FineGaussianBlock& out) {
  for (size_t c = 0; c < count; ++c) {
    const size_t i = first + c;
    plan_fine_item(GaussianModel(mean[i], std[i], g), symbols[i], out, c);
  }
}

// What G streams in lockstep do with their planned blocks (see Message::push_blocks): stream j pushes entries
// count[j] - 1, ..., 0 of its block, each the offset and then the bucket, with its head in a register and its
// words in a local buffer (at most two words an entry) until the end of the block.
template <size_t G>
DGMLAB_ALWAYS_INLINE void push_fine_group(Stream* st, const FineGaussianBlock* blk, const size_t* count) {
  rans::State x[G];
  uint32_t words[G][2 * FineGaussianBlock::kMax];
  size_t used[G], longest = 0;
  for (size_t j = 0; j < G; ++j) {
    used[j] = 0;
    if (count[j]) x[j] = st[j].begin_run();  // a stream with nothing to push stays untouched
    longest = std::max(longest, count[j]);
  }
  for (size_t k = 0; k < longest; ++k)
    for (size_t j = 0; j < G; ++j) {
      if (k >= count[j]) continue;
      const FineGaussianBlock& b = blk[j];
      const size_t c = count[j] - 1 - k;
      const auto emit = [&](uint32_t w) DGMLAB_LAMBDA_INLINE { words[j][used[j]++] = w; };
      if (b.bits[c] < FineGaussianBlock::kGeneralWidth) {
        rans::enc_put_bits(x[j], static_cast<uint32_t>(b.offset[c]), b.bits[c], emit);  // bits = 0: nothing
      } else {  // the rare general width: through the stream
        st[j].end_run(x[j], words[j], used[j]);
        used[j] = 0;
        push_uniform(st[j], b.offset[c], b.width[c]);
        x[j] = st[j].begin_run();
      }
      rans::enc_put(x[j], b.start[c], b.freq[c], kBucketPrecision, emit);
    }
  for (size_t j = 0; j < G; ++j)
    if (count[j]) st[j].end_run(x[j], words[j], used[j]);
}

inline void push_fine_blocks(Stream* st, const FineGaussianBlock* blk, const size_t* count, size_t group) {
  static_assert(Message::kLockstep == 4, "one case per group size");
  switch (group) {
    case 1: return push_fine_group<1>(st, blk, count);
    case 2: return push_fine_group<2>(st, blk, count);
    case 3: return push_fine_group<3>(st, blk, count);
    default: return push_fine_group<4>(st, blk, count);
  }
}

#if defined(DGMLAB_AVX2_DISPATCH)
#define DGMLAB_AVX512_DISPATCH 1

inline const bool kHasAvx512 = (__builtin_cpu_init(), __builtin_cpu_supports("avx512f") &&
                                                          __builtin_cpu_supports("avx512dq") &&
                                                          __builtin_cpu_supports("avx512cd") &&
                                                          detmath::simd_allows("avx512"));

namespace avx512 {

#if defined(__clang__)  // Clang has no optimize attribute; it never fuses separate intrinsics unless fp-contract=fast
#define DGMLAB_AVX512_FN __attribute__((target("avx512f,avx512dq,avx512cd")))
#else
#define DGMLAB_AVX512_FN __attribute__((target("avx512f,avx512dq,avx512cd"), optimize("fp-contract=off")))
#endif

// detmath::phi on eight lanes: the same IEEE operations in the same order (see phi and phi_standardised_avx2).
DGMLAB_AVX512_FN DGMLAB_ALWAYS_INLINE __m512d phi8(__m512d t) {
  using dgmlab::detail::kPhiPieces;
  const __m512d lo = _mm512_set1_pd(dgmlab::detail::kPhiLo), hi = _mm512_set1_pd(dgmlab::detail::kPhiHi);
  const __m512d one = _mm512_set1_pd(1.0), two = _mm512_set1_pd(2.0), zero = _mm512_setzero_pd();
  const __mmask8 in = _mm512_cmp_pd_mask(t, lo, _CMP_GE_OQ) & _mm512_cmp_pd_mask(t, hi, _CMP_LT_OQ);
  const __m512d tc = _mm512_mask_blend_pd(in, lo, t);  // lanes outside [lo, hi) (NaN too): any valid piece
  const __m512d v = _mm512_mul_pd(_mm512_sub_pd(tc, lo), _mm512_set1_pd(dgmlab::detail::kPhiPiecesPerUnit));
  const __m256i i = _mm512_cvttpd_epi32(v);
  const __m512d u = _mm512_sub_pd(_mm512_sub_pd(_mm512_mul_pd(two, v), one), _mm512_cvtepi32_pd(_mm256_add_epi32(i, i)));
  const __m512d u2 = _mm512_mul_pd(u, u), u4 = _mm512_mul_pd(u2, u2);
  // Each lane's eight coefficients (one row of the table), transposed into c[k] = coefficient k of every lane.
  alignas(32) int idx[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(idx), i);
  __m512d r[8];
  for (int l = 0; l < 8; ++l) r[l] = _mm512_loadu_pd(kPhiPieces[idx[l]]);
  __m512d t2[8], s[8], c[8];
  for (int l = 0; l < 8; l += 2) {
    t2[l] = _mm512_unpacklo_pd(r[l], r[l + 1]);      // coefficients 0, 2, 4, 6 of lanes l, l + 1
    t2[l + 1] = _mm512_unpackhi_pd(r[l], r[l + 1]);  // 1, 3, 5, 7
  }
  for (int h = 0; h < 2; ++h) {  // lanes 0..3, then 4..7
    s[4 * h + 0] = _mm512_shuffle_f64x2(t2[4 * h + 0], t2[4 * h + 2], 0x88);  // coefficients 0, 4
    s[4 * h + 1] = _mm512_shuffle_f64x2(t2[4 * h + 0], t2[4 * h + 2], 0xDD);  // 2, 6
    s[4 * h + 2] = _mm512_shuffle_f64x2(t2[4 * h + 1], t2[4 * h + 3], 0x88);  // 1, 5
    s[4 * h + 3] = _mm512_shuffle_f64x2(t2[4 * h + 1], t2[4 * h + 3], 0xDD);  // 3, 7
  }
  c[0] = _mm512_shuffle_f64x2(s[0], s[4], 0x88);
  c[4] = _mm512_shuffle_f64x2(s[0], s[4], 0xDD);
  c[2] = _mm512_shuffle_f64x2(s[1], s[5], 0x88);
  c[6] = _mm512_shuffle_f64x2(s[1], s[5], 0xDD);
  c[1] = _mm512_shuffle_f64x2(s[2], s[6], 0x88);
  c[5] = _mm512_shuffle_f64x2(s[2], s[6], 0xDD);
  c[3] = _mm512_shuffle_f64x2(s[3], s[7], 0x88);
  c[7] = _mm512_shuffle_f64x2(s[3], s[7], 0xDD);
  // ((c0 + c1 u) + (c2 + c3 u) u2) + ((c4 + c5 u) + (c6 + c7 u) u2) u4, as in phi()
  const __m512d low = _mm512_add_pd(_mm512_add_pd(c[0], _mm512_mul_pd(c[1], u)),
                                    _mm512_mul_pd(_mm512_add_pd(c[2], _mm512_mul_pd(c[3], u)), u2));
  const __m512d high = _mm512_add_pd(_mm512_add_pd(c[4], _mm512_mul_pd(c[5], u)),
                                     _mm512_mul_pd(_mm512_add_pd(c[6], _mm512_mul_pd(c[7], u)), u2));
  const __m512d p = _mm512_add_pd(low, _mm512_mul_pd(high, u4));
  const __m512d q = _mm512_min_pd(_mm512_max_pd(p, zero), one);  // std::min(1, std::max(0, p))
  const __m512d outside = _mm512_maskz_mov_pd(_mm512_cmp_pd_mask(t, hi, _CMP_GE_OQ), one);
  return _mm512_mask_blend_pd(in, outside, q);
}

// floor(log2 v) for v >= 1.
DGMLAB_AVX512_FN DGMLAB_ALWAYS_INLINE __m512i floor_log2(__m512i v) {
  return _mm512_sub_epi64(_mm512_set1_epi64(63), _mm512_lzcnt_epi64(v));
}

// BucketLayout::global_index(k) for a symbol k (broadcast) on every lane's layout (a, z, m, shift).
DGMLAB_AVX512_FN DGMLAB_ALWAYS_INLINE __m512i global_index(__m512i k, __m512i a, __m512i z, __m512i m, __m512i shift) {
  const __m512i one = _mm512_set1_epi64(1);
  const __m512i central = _mm512_srlv_epi64(_mm512_sub_epi64(k, a), shift);
  const __m512i below = _mm512_sub_epi64(
      _mm512_set1_epi64(-1),
      _mm512_srli_epi64(floor_log2(_mm512_add_epi64(_mm512_srlv_epi64(_mm512_sub_epi64(_mm512_sub_epi64(a, k), one), shift), one)), 3));
  const __m512i above = _mm512_add_epi64(
      m, _mm512_srli_epi64(floor_log2(_mm512_add_epi64(_mm512_srlv_epi64(_mm512_sub_epi64(k, z), shift), one)), 3));
  const __mmask8 lt_a = _mm512_cmplt_epi64_mask(k, a), ge_z = _mm512_cmpge_epi64_mask(k, z);
  return _mm512_mask_blend_epi64(lt_a, _mm512_mask_blend_epi64(ge_z, central, above), below);
}

}  // namespace avx512

// plan_fine_block_scalar on eight items per vector; lanes outside the usual case take plan_fine_item.
DGMLAB_AVX512_FN inline void plan_fine_block_avx512(const Grid& g, const double* mean, const double* std,
                                                    const int64_t* symbols, size_t first, size_t count,
                                                    FineGaussianBlock& out) {
  using namespace avx512;
  const double inv_w_s = 1.0 / g.bin_width;
  const __m512d inv_w = _mm512_set1_pd(inv_w_s), w = _mm512_set1_pd(g.bin_width);
  const __m512d half = _mm512_set1_pd(0.5), six = _mm512_set1_pd(kGaussianHalfWidth), one_d = _mm512_set1_pd(1.0);
  const __m512i one = _mm512_set1_epi64(1), lo = _mm512_set1_epi64(g.lo), hi = _mm512_set1_epi64(g.hi);
  const __m512i lo1 = _mm512_set1_epi64(g.lo + 1), hi1 = _mm512_set1_epi64(g.hi - 1);
  const __m512i total = _mm512_set1_epi64(int64_t{1} << kBucketPrecision);
  const double kLimit = 0x1p62;  // to_symbol's clamp: beyond it, the scalar plan
  // Pushes walk each stream's items downwards, a block at a time: prefetch the inputs of the block after next (the
  // hardware prefetchers leave this plan waiting on memory: ~20% of an encode in a C++ harness).
  if (first >= 2 * FineGaussianBlock::kMax)
    for (size_t line = 0; line < FineGaussianBlock::kMax; line += 8) {
      const size_t i = first - 2 * FineGaussianBlock::kMax + line;
      __builtin_prefetch(mean + i);
      __builtin_prefetch(std + i);
      __builtin_prefetch(symbols + i);
    }
  for (size_t j = 0; j < count; j += 8) {
    const __mmask8 active = count - j >= 8 ? 0xff : static_cast<__mmask8>((1u << (count - j)) - 1);
    const size_t i0 = first + j;
    const __m512d mu = _mm512_maskz_loadu_pd(active, mean + i0);
    const __m512d sd = _mm512_mask_blend_pd(active, one_d, _mm512_maskz_loadu_pd(active, std + i0));
    const __m512i k = _mm512_maskz_loadu_epi64(active, symbols + i0);
    // GaussianModel(mean, std, g): BucketLayout(g, mean - 6 std, mean + 6 std, std).
    const __m512d six_sd = _mm512_mul_pd(six, sd);
    const __m512d left = _mm512_sub_pd(mu, six_sd), right = _mm512_add_pd(mu, six_sd);
    const __m512i expo = _mm512_sub_epi64(
        _mm512_and_si512(_mm512_srli_epi64(_mm512_castpd_si512(_mm512_mul_pd(sd, inv_w)), 52), _mm512_set1_epi64(0x7ff)),
        _mm512_set1_epi64(1023));
    const __m512i shift = _mm512_min_epi64(_mm512_max_epi64(_mm512_sub_epi64(expo, _mm512_set1_epi64(5)),
                                                            _mm512_setzero_si512()), _mm512_set1_epi64(59));
    const __m512d span = _mm512_min_pd(_mm512_max_pd(_mm512_mul_pd(_mm512_sub_pd(right, left), inv_w), _mm512_setzero_pd()),
                                       _mm512_set1_pd(0x1p60));
    const __m512i whole_t = _mm512_cvttpd_epi64(span);  // ceil_shift(span, shift)
    const __m512i whole = _mm512_mask_add_epi64(whole_t, _mm512_cmp_pd_mask(_mm512_cvtepi64_pd(whole_t), span, _CMP_LT_OQ),
                                                whole_t, one);
    const __m512i width_w = _mm512_sllv_epi64(one, shift);
    __m512i m = _mm512_srlv_epi64(_mm512_sub_epi64(_mm512_add_epi64(whole, width_w), one), shift);
    __mmask8 unusual = _mm512_cmpgt_epi64_mask(m, _mm512_set1_epi64(kMaxCentralBuckets)) &
                       _mm512_cmplt_epi64_mask(shift, _mm512_set1_epi64(59));
    m = _mm512_max_epi64(m, one);
    const __m512i mw = _mm512_sllv_epi64(m, shift);
    const __m512d v = _mm512_add_pd(_mm512_mul_pd(left, inv_w), half);  // to_symbol(left / w + 1/2)
    unusual |= ~(_mm512_cmp_pd_mask(v, _mm512_set1_pd(-kLimit), _CMP_GT_OQ) &
                 _mm512_cmp_pd_mask(v, _mm512_set1_pd(kLimit), _CMP_LT_OQ));
    const __m512i vt = _mm512_cvttpd_epi64(v);
    const __m512i vf = _mm512_mask_sub_epi64(vt, _mm512_cmp_pd_mask(_mm512_cvtepi64_pd(vt), v, _CMP_GT_OQ), vt, one);
    const __m512i a = _mm512_min_epi64(_mm512_max_epi64(vf, _mm512_sub_epi64(lo1, mw)), hi);
    const __m512i z = _mm512_add_epi64(a, mw);
    const __m512i g_first = global_index(lo1, a, z, m, shift);
    const __m512i nb = _mm512_sub_epi64(_mm512_add_epi64(global_index(hi1, a, z, m, shift), _mm512_set1_epi64(3)), g_first);
    // locate(k): the usual case is a symbol in the central region, strictly inside the support.
    unusual |= ~(_mm512_cmpge_epi64_mask(k, a) & _mm512_cmplt_epi64_mask(k, z) & _mm512_cmpgt_epi64_mask(k, lo) &
                 _mm512_cmplt_epi64_mask(k, hi));
    unusual &= active;
    const __m512i jj = _mm512_srlv_epi64(_mm512_sub_epi64(k, a), shift);
    const __m512i b = _mm512_sub_epi64(_mm512_add_epi64(jj, one), g_first);
    const __m512i start_sym = _mm512_max_epi64(lo1, _mm512_add_epi64(a, _mm512_sllv_epi64(jj, shift)));
    const __m512i next_sym = _mm512_mask_blend_epi64(
        _mm512_cmpeq_epi64_mask(_mm512_add_epi64(b, one), _mm512_sub_epi64(nb, one)),
        _mm512_add_epi64(a, _mm512_sllv_epi64(_mm512_add_epi64(jj, one), shift)), hi);
    // F at both edges, then the quantised CDF (quantise_cdf).
    const __m512d e0 = _mm512_mul_pd(_mm512_sub_pd(_mm512_cvtepi64_pd(start_sym), half), w);
    const __m512d e1 = _mm512_mul_pd(_mm512_sub_pd(_mm512_cvtepi64_pd(next_sym), half), w);
    const __m512d f0 = phi8(_mm512_div_pd(_mm512_sub_pd(e0, mu), sd));
    const __m512d f1 = phi8(_mm512_div_pd(_mm512_sub_pd(e1, mu), sd));
    const __m512d range = _mm512_cvtepi64_pd(_mm512_sub_epi64(total, _mm512_add_epi64(nb, nb)));
    const __m512i b2 = _mm512_add_epi64(b, b);
    const __m512i c0 = _mm512_maskz_add_epi64(_mm512_cmpgt_epi64_mask(b, _mm512_setzero_si512()),
                                              _mm512_cvttpd_epi64(_mm512_mul_pd(f0, range)), b2);
    const __m512i c1 = _mm512_mask_blend_epi64(
        _mm512_cmpge_epi64_mask(_mm512_add_epi64(b, one), nb),
        _mm512_add_epi64(_mm512_cvttpd_epi64(_mm512_mul_pd(f1, range)), _mm512_add_epi64(b2, _mm512_set1_epi64(2))), total);
    const __m512i width = _mm512_sub_epi64(next_sym, start_sym);
    const __mmask8 pow2 = _mm512_cmpeq_epi64_mask(width, width_w) & _mm512_cmple_epi64_mask(shift, _mm512_set1_epi64(31));
    _mm512_mask_storeu_epi64(out.offset + j, active, _mm512_sub_epi64(k, start_sym));
    _mm512_mask_storeu_epi64(out.width + j, active, width);
    _mm512_mask_cvtepi64_storeu_epi32(out.start + j, active, c0);
    _mm512_mask_cvtepi64_storeu_epi32(out.freq + j, active, _mm512_sub_epi64(c1, c0));
    _mm512_mask_cvtepi64_storeu_epi32(out.bits + j, active,
                                      _mm512_mask_blend_epi64(pow2, _mm512_set1_epi64(FineGaussianBlock::kGeneralWidth), shift));
    for (unsigned lanes = unusual; lanes; lanes &= lanes - 1) {
      const size_t c = j + static_cast<size_t>(__builtin_ctz(lanes));
      plan_fine_item(GaussianModel(mean[first + c], std[first + c], g), symbols[first + c], out, c);
    }
  }
}
#undef DGMLAB_AVX512_FN
#endif

// Whether the fine-grid plan runs AVX-512 code on this CPU.
inline bool has_avx512() {
#ifdef DGMLAB_AVX512_DISPATCH
  return kHasAvx512;
#else
  return false;
#endif
}

// Supports whose GaussianModel layout is not exact (kExactSupport bins or more): what plan_fine_block_avx512 handles.
inline bool is_fine_grid(const Grid& g) {
  return static_cast<uint64_t>(g.hi) - static_cast<uint64_t>(g.lo) >= static_cast<uint64_t>(kExactSupport);
}

inline void plan_fine_block(const Grid& g, const double* mean, const double* std, const int64_t* symbols, size_t first,
                            size_t count, FineGaussianBlock& out, bool dispatched = true) {
#ifdef DGMLAB_AVX512_DISPATCH
  if (dispatched && kHasAvx512 && is_fine_grid(g)) return plan_fine_block_avx512(g, mean, std, symbols, first, count, out);
#endif
  (void)dispatched;
  plan_fine_block_scalar(g, mean, std, symbols, first, count, out);
}

}  // namespace dgmlab
