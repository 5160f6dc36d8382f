// Array-level coding: validate every parameter once, then code item i of an n-item array on the stream that owns
// it (message.hpp's split), streams in parallel. Pushes run last item first within a stream, pops first to last.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "codecs.hpp"
#include "fine_gaussian.hpp"
#include "message.hpp"

namespace dgmlab {

[[noreturn]] inline void fail(const std::string& what) { throw std::invalid_argument(what); }

inline std::string at(const char* name, size_t i) { return std::string(name) + "[" + std::to_string(i) + "]"; }

inline void check_grid(const Grid& g) {
  if (!(std::isfinite(g.bin_width) && g.bin_width > 0))
    fail("bin_width: expected a finite value > 0, got " + std::to_string(g.bin_width));
  if (g.lo > g.hi) fail("support: expected lo <= hi, got (" + std::to_string(g.lo) + ", " + std::to_string(g.hi) + ")");
  if (g.lo < -kMaxSymbol || g.hi > kMaxSymbol) fail("support: bounds must lie within +-2^62");
}

// The first i < n with !ok(i), or n. A parallel scan: validation runs on every call, so a serial one would cap
// the speed-up from coding streams in parallel.
inline constexpr size_t kParallelCheck = size_t{1} << 15;

template <class Ok>
size_t first_failing(size_t n, Ok&& ok) {
  size_t bad = n;
  const auto count = static_cast<int64_t>(n);
#pragma omp parallel for reduction(min : bad) schedule(static) if (n >= kParallelCheck)
  for (int64_t i = 0; i < count; ++i)
    if (!ok(static_cast<size_t>(i))) bad = std::min(bad, static_cast<size_t>(i));
  return bad;
}

inline bool finite(double v) { return v - v == 0.0; }  // false for NaN and +-inf, without a branch per test

inline void check_finite(const char* name, const double* v, size_t n) {
  const size_t i = first_failing(n, [&](size_t j) { return finite(v[j]); });
  if (i < n) fail(at(name, i) + " = " + std::to_string(v[i]) + ": expected a finite value");
}

inline void check_positive(const char* name, const double* v, size_t n) {
  const size_t i = first_failing(n, [&](size_t j) { return finite(v[j]) & (v[j] > 0); });
  if (i < n) fail(at(name, i) + " = " + std::to_string(v[i]) + ": expected a finite value > 0");
}

inline void check_symbols(const int64_t* s, size_t n, int64_t lo, int64_t hi) {
  const size_t i = first_failing(n, [&](size_t j) { return (s[j] >= lo) & (s[j] <= hi); });
  if (i < n)
    fail(at("symbols", i) + " = " + std::to_string(s[i]) + ": outside the support [" + std::to_string(lo) + ", " +
         std::to_string(hi) + "]");
}

// Nonzero if any item of [begin, end) fails: finite loc, finite scale > 0, symbol (unless null) in [lo, lo + range]
// (unsigned arithmetic). Branch-free loops, so the compiler vectorises them.
DGMLAB_ALWAYS_INLINE uint64_t location_scale_failures(const double* loc, const double* scale, const int64_t* symbols,
                                                     size_t begin, size_t end, uint64_t lo, uint64_t range) {
  uint64_t bad = 0;
  for (size_t j = begin; j < end; ++j) bad |= static_cast<uint64_t>(!(finite(loc[j]) & finite(scale[j]) & (scale[j] > 0)));
  if (symbols)
    for (size_t j = begin; j < end; ++j) bad |= static_cast<uint64_t>(static_cast<uint64_t>(symbols[j]) - lo > range);
  return bad;
}

#ifdef DGMLAB_AVX2_DISPATCH
__attribute__((target("avx2"))) inline uint64_t location_scale_failures_avx2(const double* loc, const double* scale,
                                                                             const int64_t* symbols, size_t begin,
                                                                             size_t end, uint64_t lo, uint64_t range) {
  return location_scale_failures(loc, scale, symbols, begin, end, lo, range);
}
#endif

// Location-scale parameters and (unless null) symbols: one vectorised pass (in parallel on large arrays) that only
// says whether all are valid; on a failure the separate checks above name the argument and the first bad item, in
// the order they always have (means, then scales, then symbols).
inline void check_location_scale(const char* scale_name, const double* loc, const double* scale,
                                 const int64_t* symbols, size_t n, const Grid& g) {
  check_grid(g);
  const auto lo = static_cast<uint64_t>(g.lo), range = static_cast<uint64_t>(g.hi) - static_cast<uint64_t>(g.lo);
  constexpr size_t kBlock = 4096;
  const auto blocks = static_cast<int64_t>((n + kBlock - 1) / kBlock);
  uint64_t bad = 0;
#pragma omp parallel for reduction(| : bad) schedule(static) if (n >= kParallelCheck)
  for (int64_t k = 0; k < blocks; ++k) {
    const size_t begin = static_cast<size_t>(k) * kBlock, end = std::min(n, begin + kBlock);
#ifdef DGMLAB_AVX2_DISPATCH
    if (detmath::kHasAvx2) {
      bad |= location_scale_failures_avx2(loc, scale, symbols, begin, end, lo, range);
      continue;
    }
#endif
    bad |= location_scale_failures(loc, scale, symbols, begin, end, lo, range);
  }
  if (!bad) return;
  check_finite("mean", loc, n);
  check_positive(scale_name, scale, n);
  if (symbols) check_symbols(symbols, n, g.lo, g.hi);
}

// f(stream, i) pushes item i.
template <class F>
void push_each(Message& msg, size_t n, F&& f) {
  msg.for_each_item(n, true, f);
}

// plan(i) gives item i's BucketedCode; the streams then push the codes (see Message::push_planned).
template <class Plan>
void push_each_planned(Message& msg, size_t n, Plan&& plan) {
  msg.push_planned<BucketedCode>(
      n, [&](size_t top, size_t count, BucketedCode* codes) { for (size_t c = 0; c < count; ++c) codes[c] = plan(top - c); },
      [](Stream& st, const BucketedCode& c) { push_code(st, c); });
}

// The same for models whose CDF is a standardised normal one (see plan_gaussian_block): model(i) gives item i's
// model, and each block's bucket edges go through one vectorised Phi pass.
template <class MakeModel>
void push_each_gaussian(Message& msg, size_t n, const int64_t* symbols, MakeModel&& model) {
  msg.push_planned<BucketedCode>(
      n, [&](size_t top, size_t count, BucketedCode* codes) { plan_gaussian_block(model, symbols, top, count, codes); },
      [](Stream& st, const BucketedCode& c) { push_code(st, c); });
}

// f(stream, i) pops item i.
template <class F>
void pop_each(Message& msg, size_t n, F&& f) {
  msg.for_each_item(n, false, f);
}

// ---- the codecs over arrays -------------------------------------------------------------------------------------
inline void push_uniform(Message& msg, const int64_t* symbols, size_t n, uint64_t size) {
  check_symbols(symbols, n, 0, static_cast<int64_t>(size - 1));
  push_each(msg, n, [&](Stream& st, size_t i) { push_uniform(st, static_cast<uint64_t>(symbols[i]), size); });
}
inline void pop_uniform(Message& msg, int64_t* out, size_t n, uint64_t size) {
  pop_each(msg, n, [&](Stream& st, size_t i) { out[i] = static_cast<int64_t>(pop_uniform(st, size)); });
}

// Location-scale models on a grid (GaussianModel, LogisticModel): one (loc, scale) per symbol.
template <class Model>
void push_location_scale(Message& msg, const char* scale_name, const int64_t* symbols, const double* loc,
                         const double* scale, size_t n, const Grid& g) {
  check_location_scale(scale_name, loc, scale, symbols, n, g);
  push_each_planned(msg, n, [&](size_t i) { return plan_bucketed(Model(loc[i], scale[i], g), symbols[i]); });
}

template <class Model>
void pop_location_scale(Message& msg, const char* scale_name, int64_t* out, const double* loc, const double* scale,
                        size_t n, const Grid& g) {
  check_location_scale(scale_name, loc, scale, nullptr, n, g);
  // Inlined into the item loop: the model's loop-invariant work (1 / w, ...) is then done once per array.
  pop_each(msg, n, [&](Stream& st, size_t i) DGMLAB_LAMBDA_INLINE { out[i] = pop_bucketed(st, Model(loc[i], scale[i], g)); });
}

// Small supports (quantised Gaussians) take ExactGaussianModel: the same codes as GaussianModel, less work.
inline void push_gaussian(Message& msg, const int64_t* symbols, const double* mean, const double* std, size_t n,
                          const Grid& g) {
  check_location_scale("std", mean, std, symbols, n, g);
  if (ExactGrid::applies(g)) {
    const ExactGrid eg(g);
    push_each_gaussian(msg, n, symbols, [&](size_t i) DGMLAB_LAMBDA_INLINE { return ExactGaussianModel(mean[i], std[i], eg); });
    return;
  }
  if (has_avx512() && is_fine_grid(g)) {  // large supports: the layout and the CDFs of eight symbols per vector (fine_gaussian.hpp)
    msg.push_blocks<FineGaussianBlock>(
        n, [&](size_t first, size_t count, FineGaussianBlock& b) { plan_fine_block(g, mean, std, symbols, first, count, b); },
        push_fine_blocks);
    return;
  }
  push_each_gaussian(msg, n, symbols, [&](size_t i) DGMLAB_LAMBDA_INLINE { return GaussianModel(mean[i], std[i], g); });
}
inline void pop_gaussian(Message& msg, int64_t* out, const double* mean, const double* std, size_t n, const Grid& g) {
  if (ExactGrid::applies(g)) {
    check_location_scale("std", mean, std, nullptr, n, g);
    const ExactGrid eg(g);
    pop_each(msg, n, [&](Stream& st, size_t i) DGMLAB_LAMBDA_INLINE {
      out[i] = ExactGaussianModel(mean[i], std[i], eg).pop(st);
    });
    return;
  }
  pop_location_scale<GaussianModel>(msg, "std", out, mean, std, n, g);
}
inline void push_logistic(Message& msg, const int64_t* symbols, const double* mean, const double* scale, size_t n,
                          const Grid& g) {
  push_location_scale<LogisticModel>(msg, "scale", symbols, mean, scale, n, g);
}
inline void pop_logistic(Message& msg, int64_t* out, const double* mean, const double* scale, size_t n, const Grid& g) {
  pop_location_scale<LogisticModel>(msg, "scale", out, mean, scale, n, g);
}

// Mixture parameters are (n, k) row-major arrays.
inline void check_mixture(const double* logits, const double* means, const double* log_scales, size_t n, int k) {
  if (k < 1 || k > MixtureLogisticModel::kMaxComponents)
    fail("logits: expected 1.." + std::to_string(MixtureLogisticModel::kMaxComponents) + " mixture components, got " +
         std::to_string(k));
  check_finite("logits", logits, n * k);
  check_finite("means", means, n * k);
  check_finite("log_scales", log_scales, n * k);
  for (size_t i = 0; i < n * static_cast<size_t>(k); ++i)
    if (log_scales[i] < -700 || log_scales[i] > 700) fail(at("log_scales", i) + ": expected a value in [-700, 700]");
}
inline void push_mixlogistic(Message& msg, const int64_t* symbols, const double* logits, const double* means,
                             const double* log_scales, size_t n, int k, const Grid& g) {
  check_grid(g);
  check_mixture(logits, means, log_scales, n, k);
  check_symbols(symbols, n, g.lo, g.hi);
  push_each_planned(msg, n, [&](size_t i) {
    return plan_bucketed(MixtureLogisticModel(logits + i * k, means + i * k, log_scales + i * k, k, g), symbols[i]);
  });
}
inline void pop_mixlogistic(Message& msg, int64_t* out, const double* logits, const double* means,
                            const double* log_scales, size_t n, int k, const Grid& g) {
  check_grid(g);
  check_mixture(logits, means, log_scales, n, k);
  pop_each(msg, n, [&](Stream& st, size_t i) {
    out[i] = pop_bucketed(st, MixtureLogisticModel(logits + i * k, means + i * k, log_scales + i * k, k, g));
  });
}

inline void push_gaussian_buckets(Message& msg, const GaussianBucketsTable& t, const int64_t* symbols,
                                  const double* mean, const double* std, size_t n) {
  check_finite("mean", mean, n);
  check_positive("std", std, n);
  check_symbols(symbols, n, 0, t.size() - 1);
  push_each_gaussian(msg, n, symbols, [&](size_t i) { return GaussianBucketsModel(t, mean[i], std[i]); });
}
inline void pop_gaussian_buckets(Message& msg, const GaussianBucketsTable& t, int64_t* out, const double* mean,
                                 const double* std, size_t n) {
  check_finite("mean", mean, n);
  check_positive("std", std, n);
  pop_each(msg, n, [&](Stream& st, size_t i) { out[i] = pop_bucketed(st, GaussianBucketsModel(t, mean[i], std[i])); });
}

// Per-symbol categoricals: probs is (n, k) row-major; rows must be non-negative and sum to 1 within 1e-6.
inline void check_probs(const double* probs, size_t n, int64_t k, unsigned precision) {
  if (k < 1) fail("probs: expected at least one category");
  if (precision < 1 || precision > rans::kMaxPrecision) fail("precision: expected 1..31 bits");
  if (static_cast<uint64_t>(k) >= (uint64_t{1} << precision))
    fail("probs: " + std::to_string(k) + " categories need precision > " + std::to_string(precision) + " bits");
  for (size_t r = 0; r < n; ++r) {
    double total = 0;
    for (int64_t j = 0; j < k; ++j) {
      const double p = probs[r * k + j];
      if (!(std::isfinite(p) && p >= 0)) fail(at("probs", r * k + j) + ": expected a finite probability >= 0");
      total += p;
    }
    if (!(std::fabs(total - 1.0) <= 1e-6)) fail("probs: row " + std::to_string(r) + " sums to " + std::to_string(total) + ", expected 1");
  }
}
inline void push_categorical(Message& msg, const int64_t* symbols, const double* probs, size_t n, int64_t k,
                             unsigned precision) {
  check_probs(probs, n, k, precision);
  check_symbols(symbols, n, 0, k - 1);
  push_each(msg, n, [&](Stream& st, size_t i) { CategoricalRow(probs + i * k, k, precision).push(st, symbols[i]); });
}
inline void pop_categorical(Message& msg, int64_t* out, const double* probs, size_t n, int64_t k, unsigned precision) {
  check_probs(probs, n, k, precision);
  pop_each(msg, n, [&](Stream& st, size_t i) { out[i] = CategoricalRow(probs + i * k, k, precision).pop(st); });
}
inline void push_categorical(Message& msg, const CategoricalTable& t, const int64_t* symbols, size_t n) {
  check_symbols(symbols, n, 0, t.size() - 1);
  push_each(msg, n, [&](Stream& st, size_t i) { t.push(st, symbols[i]); });
}
inline void pop_categorical(Message& msg, const CategoricalTable& t, int64_t* out, size_t n) {
  pop_each(msg, n, [&](Stream& st, size_t i) { out[i] = t.pop(st); });
}

}  // namespace dgmlab
