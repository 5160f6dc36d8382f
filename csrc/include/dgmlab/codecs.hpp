// Entropy models: each turns its parameters into the Model concept of bucketed.hpp (or a table for categoricals).
// Models hold parameters only; coding is push_bucketed / pop_bucketed on a Stream (models never see a coder).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "bucketed.hpp"
#include "detmath.hpp"
#include "grid.hpp"

namespace dgmlab {

// Half-width of the central region, in units of the distribution's scale: beyond it lies < 1e-8 of the mass.
inline constexpr double kGaussianHalfWidth = 6.0;
inline constexpr double kLogisticHalfWidth = 16.0;

// CDF-at-edge and quantile-guess plumbing shared by the continuous models on a grid.
template <class Derived>
class GridModel {
 public:
  int64_t num_buckets() const { return layout_.num_buckets(); }
  int64_t bucket_of(int64_t k) const { return layout_.bucket_of(k); }
  DGMLAB_LAMBDA_INLINE int64_t bucket_begin(int64_t b) const { return layout_.bucket_begin(b); }
  void locate(int64_t k, int64_t& b, int64_t& first, int64_t& next) const { layout_.locate(k, b, first, next); }
  // F at the lower edge (k - 1/2) w of the bucket's first bin k.
  DGMLAB_LAMBDA_INLINE double cdf(int64_t, int64_t first) const { return static_cast<const Derived&>(*this).cdf_at(edge(first)); }
  // The lower edge (k - 1/2) w of bin k.
  DGMLAB_LAMBDA_INLINE double edge(int64_t k) const { return (static_cast<double>(k) - 0.5) * w_; }
  // Only a starting point, so x / w may be x * (1 / w): the division stays off the decoder's dependency chain.
  int64_t guess(double u) const {
    return layout_.bucket_of(layout_.symbol_at(static_cast<const Derived&>(*this).quantile_guess(u) * (1.0 / w_)));
  }
  unsigned precision() const { return kBucketPrecision; }

 protected:
  DGMLAB_LAMBDA_INLINE GridModel(const Grid& g, double left, double right, double scale)
      : layout_(g, left, right, scale), w_(g.bin_width) {}
  BucketLayout layout_;
  double w_;
};

// A location-scale model's search starting point straight from the slot: bucket ~ p + q Q(cf), with Q the
// standard quantile of the slot (one table load) and p, q set up with the model, off the decoder's dependency
// chain. Inside the layout's central region (everywhere for exact layouts) this is the bucket up to the table's
// resolution; elsewhere (geometric tails) the model's own guess takes over. Only speeds up decoding.
class SlotGuess {
 public:
  DGMLAB_LAMBDA_INLINE SlotGuess(const BucketLayout& layout, double loc, double scale, double inv_w)
      : first_(layout.central_first()), last_(layout.central_last()), exact_(layout.exact()) {
    const double per_bin = layout.per_bin() * inv_w;
    p_ = layout.origin() + loc * per_bin;
    q_ = scale * per_bin;
  }
  // The bucket, or -1 outside the central region. max(lo, r) before min(hi, .): NaN or huge r land in range.
  DGMLAB_LAMBDA_INLINE int64_t bucket(double quantile) const {
    const double r = p_ + q_ * quantile;
    if (exact_)
      return static_cast<int64_t>(std::min(std::max(0.0, r), static_cast<double>(last_)));
    const auto b = static_cast<int64_t>(
        std::min(std::max(static_cast<double>(first_ - 1), r), static_cast<double>(last_ + 1)));
    return b >= first_ && b <= last_ ? b : -1;
  }

 private:
  double p_, q_;
  int64_t first_, last_;
  bool exact_;
};

// N(mean, std^2) on the grid.
class GaussianModel : public GridModel<GaussianModel> {
 public:
  DGMLAB_LAMBDA_INLINE GaussianModel(double mean, double std, const Grid& g)
      : GridModel(g, mean - kGaussianHalfWidth * std, mean + kGaussianHalfWidth * std, std), mean_(mean), std_(std) {}
  DGMLAB_LAMBDA_INLINE int64_t guess_slot(uint32_t cf) const {
    const int64_t b = SlotGuess(layout_, mean_, std_, 1.0 / w_).bucket(detmath::normal_quantile_of_slot(cf, kBucketPrecision));
    return b >= 0 ? b : guess(static_cast<double>(cf) * detmath::detail::pow2(-static_cast<int>(kBucketPrecision)));
  }
  DGMLAB_LAMBDA_INLINE double cdf_at(double x) const { return detmath::phi((x - mean_) / std_); }
  void cdf_pair(int64_t, int64_t first0, int64_t, int64_t first1, double& f0, double& f1) const {
    detmath::phi2((edge(first0) - mean_) / std_, (edge(first1) - mean_) / std_, f0, f1);
  }
  // F at bucket b's lower edge is phi((e - mean) / std) (plan_gaussian_block).
  void standard_edge(int64_t, int64_t first, double& e, double& mean, double& std) const {
    e = edge(first);
    mean = mean_;
    std = std_;
  }
  double quantile_guess(double u) const { return mean_ + std_ * detmath::normal_quantile_fast_guess(u); }

 private:
  double mean_, std_;
};

// N(mean, std^2) on a support of fewer than kExactSupport bins, where GaussianModel's layout is exact (one bucket
// per bin): the same integer CDF, without a layout per symbol, so that quantised Gaussians (the common case of
// small supports) code in a tight loop. ExactGrid holds what the layout would.
struct ExactGrid {
  int64_t lo, nb;
  double w, inv_w, last;  // last = NB - 1 as a double
  double magic_lo;        // kRoundMagic - lo: (r + kRoundMagic) - magic_lo = round(r) + lo, exactly
  explicit ExactGrid(const Grid& g)
      : lo(g.lo), nb(g.hi - g.lo + 1), w(g.bin_width), inv_w(1.0 / g.bin_width),
        last(static_cast<double>(g.hi - g.lo)), magic_lo(detmath::kRoundMagic - static_cast<double>(g.lo)) {}
  // As BucketLayout's exact case, and symbols within +-2^50, where doubles hold them (and one past) exactly.
  static bool applies(const Grid& g) {
    constexpr int64_t kExactDouble = int64_t{1} << 50;
    return static_cast<uint64_t>(g.hi) - static_cast<uint64_t>(g.lo) < kExactSupport && g.lo > -kExactDouble &&
           g.hi < kExactDouble;
  }
};

class ExactGaussianModel {
 public:
  DGMLAB_LAMBDA_INLINE ExactGaussianModel(double mean, double std, const ExactGrid& g) : mean_(mean), std_(std), g_(g) {}
  DGMLAB_LAMBDA_INLINE int64_t num_buckets() const { return g_.nb; }
  DGMLAB_LAMBDA_INLINE unsigned precision() const { return kBucketPrecision; }
  DGMLAB_LAMBDA_INLINE int64_t bucket_of(int64_t k) const { return k - g_.lo; }
  DGMLAB_LAMBDA_INLINE int64_t bucket_begin(int64_t b) const { return g_.lo + b; }
  DGMLAB_LAMBDA_INLINE void locate(int64_t k, int64_t& b, int64_t& first, int64_t& next) const {
    b = k - g_.lo;
    first = k;
    next = k + 1;
  }
  DGMLAB_LAMBDA_INLINE double edge(int64_t k) const { return (static_cast<double>(k) - 0.5) * g_.w; }
  DGMLAB_LAMBDA_INLINE double cdf(int64_t, int64_t first) const { return detmath::phi((edge(first) - mean_) / std_); }
  DGMLAB_LAMBDA_INLINE void standard_edge(int64_t, int64_t first, double& e, double& mean, double& std) const {
    e = edge(first);
    mean = mean_;
    std = std_;
  }
  // A bucket near the slot's quantile x: round(x / w - lo), clamped (the bin of x is floor(x / w + 1/2)).
  DGMLAB_LAMBDA_INLINE double guess_position(uint32_t cf) const {
    const double r = (mean_ * g_.inv_w - static_cast<double>(g_.lo)) +
                     std_ * g_.inv_w * detmath::normal_quantile_of_slot(cf, kBucketPrecision);
    return std::min(std::max(0.0, r), g_.last);
  }
  DGMLAB_LAMBDA_INLINE int64_t guess_slot(uint32_t cf) const {
    return static_cast<int64_t>(guess_position(cf) + 0.5);
  }
  int64_t guess(double u) const {  // unused while guess_slot exists; kept for the Model concept
    return guess_slot(static_cast<uint32_t>(u * detmath::detail::pow2(static_cast<int>(kBucketPrecision))));
  }

  // pop_bucketed with the guess's two edges computed straight from the rounded guess as doubles: k = round(r) + lo
  // is exact (|k| < 2^50), so (k - 1/2) w is edge(first) bit for bit, without an int-to-double conversion on the
  // dependency chain. A wrong guess (rare) falls back to pop_bucketed's search.
  DGMLAB_LAMBDA_INLINE int64_t pop(Stream& st) const {
    const uint32_t cf = st.peek(kBucketPrecision);
    const double k = (guess_position(cf) + detmath::kRoundMagic) - g_.magic_lo;
    const int64_t b = static_cast<int64_t>(k) - g_.lo;
    const double t0 = ((k - 0.5) * g_.w - mean_) / std_, t1 = (((k + 1.0) - 0.5) * g_.w - mean_) / std_;
    const double f0 = detmath::phi(t0), f1 = detmath::phi(t1);
    const QuantiseShape q{g_.nb, kBucketPrecision};
    const uint32_t c0 = quantise_cdf(q, b, f0), c1 = quantise_cdf(q, b + 1, f1);
    if (c0 <= cf && cf < c1) {
      st.pop(c0, c1 - c0, kBucketPrecision);
      return g_.lo + b;
    }
    return pop_bucketed(st, *this);
  }

 private:
  double mean_, std_;
  const ExactGrid& g_;
};

// Logistic(mean, scale) on the grid: F(x) = sigmoid((x - mean) / scale).
class LogisticModel : public GridModel<LogisticModel> {
 public:
  LogisticModel(double mean, double scale, const Grid& g)
      : GridModel(g, mean - kLogisticHalfWidth * scale, mean + kLogisticHalfWidth * scale, scale),
        mean_(mean),
        scale_(scale) {}
  double cdf_at(double x) const { return detmath::sigmoid((x - mean_) / scale_); }
  int64_t guess_slot(uint32_t cf) const {
    const int64_t b =
        SlotGuess(layout_, mean_, scale_, 1.0 / w_).bucket(detmath::logistic_quantile_of_slot(cf, kBucketPrecision));
    return b >= 0 ? b : guess(static_cast<double>(cf) * detmath::detail::pow2(-static_cast<int>(kBucketPrecision)));
  }
  double quantile_guess(double u) const {
    const double v = std::clamp(u, 1e-300, 1.0 - 1e-16);
    return mean_ + scale_ * detmath::log(v / (1.0 - v));
  }

 private:
  double mean_, scale_;
};

// Mixture of K logistics (PixelCNN++ parameterisation: weight logits, means, log-scales), on the grid.
class MixtureLogisticModel : public GridModel<MixtureLogisticModel> {
 public:
  static constexpr int kMaxComponents = 64;

  MixtureLogisticModel(const double* logits, const double* means, const double* log_scales, int k, const Grid& g)
      : MixtureLogisticModel(Params(logits, means, log_scales, k), g) {}

  double cdf_at(double x) const {
    double f = 0;
    for (int i = 0; i < p_.k; ++i) f += p_.weight[i] * detmath::sigmoid((x - p_.mean[i]) * p_.inv_scale[i]);
    return std::min(1.0, f);  // rounding can take the weighted sum just past 1 (never below 0)
  }
  // No closed-form quantile: start the bucket search in the middle of the mixture's range.
  double quantile_guess(double) const { return 0.5 * (p_.left + p_.right); }

 private:
  struct Params {
    int k;
    double weight[kMaxComponents], mean[kMaxComponents], inv_scale[kMaxComponents];
    double left, right, min_scale;
    Params(const double* logits, const double* means, const double* log_scales, int k_) : k(k_) {
      const double top = *std::max_element(logits, logits + k);
      double total = 0;
      left = INFINITY;
      right = -INFINITY;
      min_scale = INFINITY;
      for (int i = 0; i < k; ++i) {
        weight[i] = detmath::exp(logits[i] - top);
        total += weight[i];
        const double s = detmath::exp(log_scales[i]);
        mean[i] = means[i];
        inv_scale[i] = 1.0 / s;
        left = std::min(left, means[i] - kLogisticHalfWidth * s);
        right = std::max(right, means[i] + kLogisticHalfWidth * s);
        min_scale = std::min(min_scale, s);
      }
      for (int i = 0; i < k; ++i) weight[i] /= total;
    }
  };
  MixtureLogisticModel(const Params& p, const Grid& g) : GridModel(g, p.left, p.right, p.min_scale), p_(p) {}
  Params p_;
};

// Prior-quantile ("max-entropy") buckets of a Gaussian latent (BB-ANS, Bit-Swap): 2^p buckets of equal mass under
// N(0, 1), edges e_i = Phi^-1(i / 2^p). A value under N(mean, std^2) is coded as the index of its bucket.
class GaussianBucketsTable {
 public:
  explicit GaussianBucketsTable(unsigned precision) : precision_(precision) {
    if (precision < 1 || precision > 18) throw std::invalid_argument("precision: expected 1..18 bits");
    const int64_t n = int64_t{1} << precision;
    edges_.resize(static_cast<size_t>(n) + 1);
    centres_.resize(static_cast<size_t>(n));
    edges_.front() = -INFINITY;
    edges_.back() = INFINITY;
    for (int64_t i = 1; i < n; ++i) edges_[i] = detmath::normal_quantile(std::ldexp(static_cast<double>(i), -precision));
    for (int64_t i = 0; i < n; ++i) centres_[i] = detmath::normal_quantile(std::ldexp(i + 0.5, -precision));
  }
  unsigned precision() const { return precision_; }
  int64_t size() const { return static_cast<int64_t>(centres_.size()); }
  const std::vector<double>& edges() const { return edges_; }
  const std::vector<double>& centres() const { return centres_; }

 private:
  unsigned precision_;
  std::vector<double> edges_, centres_;
};

class GaussianBucketsModel {
 public:
  GaussianBucketsModel(const GaussianBucketsTable& t, double mean, double std) : t_(t), mean_(mean), std_(std) {}
  int64_t num_buckets() const { return t_.size(); }
  // 2^p buckets each need frequency >= 2: keep that reserve at or below 2^-11 of the total.
  unsigned precision() const { return std::clamp(t_.precision() + 12, kBucketPrecision, 31u); }
  int64_t bucket_of(int64_t k) const { return k; }
  int64_t bucket_begin(int64_t b) const { return b; }
  void locate(int64_t k, int64_t& b, int64_t& first, int64_t& next) const {
    b = first = k;
    next = k + 1;
  }
  double cdf(int64_t b, int64_t) const { return detmath::phi(standardise(b)); }
  void cdf_pair(int64_t b0, int64_t, int64_t b1, int64_t, double& f0, double& f1) const {
    detmath::phi2(standardise(b0), standardise(b1), f0, f1);
  }
  void standard_edge(int64_t b, int64_t, double& e, double& mean, double& std) const {
    e = t_.edges()[static_cast<size_t>(b)];
    mean = mean_;
    std = std_;
  }
  int64_t guess(double u) const {
    const double x = mean_ + std_ * detmath::normal_quantile_fast_guess(u);
    return static_cast<int64_t>(detmath::phi(x) * detmath::detail::pow2(static_cast<int>(t_.precision())));
  }

 private:
  double standardise(int64_t b) const { return (t_.edges()[static_cast<size_t>(b)] - mean_) / std_; }
  const GaussianBucketsTable& t_;
  double mean_, std_;
};

// ---- categoricals ---------------------------------------------------------------------------------------------
// Quantised CDF of probabilities p_0..p_{K-1} (any positive total) at `precision` bits with frequency >= 1 each:
//   C(j) = floor(S_j / S_K * (2^P - K)) + j,  S_j = p_0 + ... + p_{j-1} summed left to right (monotone in j).
class CategoricalRow {
 public:
  CategoricalRow(const double* probs, int64_t k, unsigned precision) : p_(probs), k_(k), precision_(precision) {
    for (int64_t j = 0; j < k; ++j) total_ += probs[j];
    r_ = static_cast<double>(uint64_t{1} << precision) - static_cast<double>(k);
  }
  // C(j) for 0 <= j <= K, accumulating S_j from `prefix` = S_from.
  uint32_t cdf(int64_t j, double prefix_sum) const {
    if (j >= k_) return static_cast<uint32_t>(uint64_t{1} << precision_);
    return static_cast<uint32_t>(static_cast<uint64_t>(prefix_sum / total_ * r_)) + static_cast<uint32_t>(j);
  }
  void push(Stream& st, int64_t s) const {
    double prefix = 0;
    for (int64_t j = 0; j < s; ++j) prefix += p_[j];
    const uint32_t c0 = cdf(s, prefix), c1 = cdf(s + 1, prefix + p_[s]);
    st.push(c0, c1 - c0, precision_);
  }
  int64_t pop(Stream& st) const {
    const uint32_t cf = st.peek(precision_);
    double prefix = 0;
    uint32_t c0 = 0;
    int64_t s = 0;
    for (;; ++s) {
      const double next = prefix + p_[s];
      const uint32_t c1 = cdf(s + 1, next);
      if (cf < c1) {
        st.pop(c0, c1 - c0, precision_);
        return s;
      }
      prefix = next;
      c0 = c1;
    }
  }

 private:
  const double* p_;
  int64_t k_;
  unsigned precision_;
  double total_ = 0, r_ = 0;
};

// One categorical shared by all symbols: the quantised CDF as a table, and for precision <= 16 a slot -> symbol
// lookup table so decoding is one load.
class CategoricalTable {
 public:
  CategoricalTable(const double* probs, int64_t k, unsigned precision) : precision_(precision) {
    CategoricalRow row(probs, k, precision);
    cdf_.resize(static_cast<size_t>(k) + 1);
    double prefix = 0;
    for (int64_t j = 0; j <= k; ++j) {
      cdf_[j] = row.cdf(j, prefix);
      if (j < k) prefix += probs[j];
    }
    if (precision <= 16 && k <= 65536) {
      slot_to_symbol_.resize(size_t{1} << precision);
      for (int64_t j = 0; j < k; ++j)
        std::fill(slot_to_symbol_.begin() + cdf_[j], slot_to_symbol_.begin() + cdf_[j + 1], static_cast<uint16_t>(j));
    }
  }
  int64_t size() const { return static_cast<int64_t>(cdf_.size()) - 1; }
  unsigned precision() const { return precision_; }
  const std::vector<uint32_t>& cdf() const { return cdf_; }

  void push(Stream& st, int64_t s) const { st.push(cdf_[s], cdf_[s + 1] - cdf_[s], precision_); }
  int64_t pop(Stream& st) const {
    const uint32_t cf = st.peek(precision_);
    int64_t s;
    if (!slot_to_symbol_.empty()) {
      s = slot_to_symbol_[cf];
    } else {
      s = std::upper_bound(cdf_.begin(), cdf_.end(), cf) - cdf_.begin() - 1;
    }
    st.pop(cdf_[s], cdf_[s + 1] - cdf_[s], precision_);
    return s;
  }

 private:
  unsigned precision_;
  std::vector<uint32_t> cdf_;
  std::vector<uint16_t> slot_to_symbol_;
};

}  // namespace dgmlab
