// The logistic-mixture CDF map of Flow++ coupling layers and its inverse, one element at a time
// (Ho et al. 2019; thesis Section 3.2.2.1):
//
//   MixLogCDF(x; pi, mu, s) = sum_k pi_k sigma((x - mu_k) exp(-s_k))                      (3.15)
//   y(x) = sigma^-1(MixLogCDF(x))                                                        (3.14, before exp(a), b)
//
// With z_k = (x - mu_k) exp(-s_k) and e_k = exp(-|z_k|), both tails are sums of positive terms, so neither loses
// relative precision near 0 or 1:
//   P = MixLogCDF(x)     = sum_k pi_k sigma(z_k),   sigma(z) = 1/(1+e) if z >= 0, e/(1+e) if z < 0
//   Q = 1 - MixLogCDF(x) = sum_k pi_k sigma(-z_k)
//   y = log P - log Q,   dy/dx = pdf / (P Q),   pdf = sum_k pi_k exp(-s_k) e_k / (1 + e_k)^2.
// Valid while some component has |z_k| < 708 (otherwise every term underflows): |y| up to about 700.
//
// The inverse solves y(x) = y* inside the bracket [min_k(mu_k + y* e^{s_k}), max_k(mu_k + y* e^{s_k})]: at its left
// end every z_k <= y*, so y(x) <= y*, and symmetrically at its right end. Plain bisection is the reference; the
// default is a safeguarded Newton-bisection (rtsafe): a Newton step is taken only when it lands inside the current
// bracket and at least halves the step before last, otherwise the bracket is bisected.
//
// Everything runs in double precision with fpmath's deterministic exp/log, so the CPU and CUDA kernels produce the
// same bits.
#pragma once

#include <cstdint>

#include "dgmlab/kernels/fpmath.hpp"

namespace dgmlab {
namespace mixlogistic {

// One element's K components in the form the evaluation needs.
struct Components {
  int K;
  double* weight;     // pi_k = softmax(logits)_k
  double* mean;       // mu_k
  double* inv_scale;  // exp(-s_k)
  double* scale;      // exp(s_k)
};

// Fills c from raw parameters (any storage type). Returns 0, or which array holds a non-finite value:
// 1 logits, 2 means, 3 log_scales.
template <class T>
DGMLAB_HD int prepare(const T* logits, const T* means, const T* log_scales, Components c) {
  double lmax = static_cast<double>(logits[0]);
  int bad = 0;
  for (int k = c.K - 1; k >= 0; --k) {
    const double l = static_cast<double>(logits[k]);
    const double m = static_cast<double>(means[k]);
    const double s = static_cast<double>(log_scales[k]);
    bad = !(s - s == 0.0) ? 3 : bad;  // x - x is 0 exactly for finite x, NaN otherwise
    bad = !(m - m == 0.0) ? 2 : bad;
    bad = !(l - l == 0.0) ? 1 : bad;
    lmax = l > lmax ? l : lmax;
  }
  if (bad != 0) return bad;
  double total = 0.0;
  for (int k = 0; k < c.K; ++k) {
    c.weight[k] = fpmath::exp(static_cast<double>(logits[k]) - lmax);
    total += c.weight[k];
  }
  for (int k = 0; k < c.K; ++k) {
    const double s = static_cast<double>(log_scales[k]);
    c.weight[k] /= total;
    c.mean[k] = static_cast<double>(means[k]);
    c.inv_scale[k] = fpmath::exp(-s);
    c.scale[k] = fpmath::exp(s);
  }
  return 0;
}

// P = MixLogCDF(x), Q = 1 - MixLogCDF(x) and the mixture density pdf(x) (the formulas in the header comment).
struct Sums {
  double P, Q, pdf;
};

DGMLAB_HD Sums sums(double x, const Components& c) {
  Sums r{0.0, 0.0, 0.0};
  for (int k = 0; k < c.K; ++k) {
    const double z = (x - c.mean[k]) * c.inv_scale[k];
    const double e = fpmath::exp(z < 0.0 ? z : -z);
    const double big = 1.0 / (1.0 + e);  // sigma(|z|)
    const double small = e * big;        // sigma(-|z|)
    r.P += c.weight[k] * (z < 0.0 ? small : big);
    r.Q += c.weight[k] * (z < 0.0 ? big : small);
    r.pdf += (c.weight[k] * c.inv_scale[k]) * (small * big);
  }
  return r;
}

// y(x) = log P - log Q and dy/dx = pdf / (P Q): what the solver iterates on.
struct Eval {
  double y, dydx;
};

DGMLAB_HD Eval evaluate(double x, const Components& c) {
  const Sums t = sums(x, c);
  return Eval{fpmath::log(t.P) - fpmath::log(t.Q), (t.pdf / t.P) / t.Q};
}

// The forward map in either form: value is y(x) (logit form) or MixLogCDF(x) (cdf form), log_derivative is
// log dy/dx = log pdf - log P - log Q or log pdf.
struct Forward {
  double value, log_derivative;
};

DGMLAB_HD Forward forward(double x, const Components& c, bool logit_form) {
  const Sums t = sums(x, c);
  const double log_pdf = fpmath::log(t.pdf);
  if (!logit_form) return Forward{t.P, log_pdf};
  const double log_p = fpmath::log(t.P), log_q = fpmath::log(t.Q);
  return Forward{log_p - log_q, (log_pdf - log_p) - log_q};
}

// Solves y(x) = target. tol is relative to the smallest component scale: the solver stops once the bracket, or the
// last Newton correction, is below tol * min_k exp(s_k) (or the bracket is one ulp wide).
DGMLAB_HD double solve(double target, const Components& c, double tol, bool newton) {
  double lo = c.mean[0] + target * c.scale[0], hi = lo, smin = c.scale[0], guess = 0.0;
  for (int k = 0; k < c.K; ++k) {
    const double v = c.mean[k] + target * c.scale[k];
    lo = v < lo ? v : lo;
    hi = v > hi ? v : hi;
    smin = c.scale[k] < smin ? c.scale[k] : smin;
    guess += c.weight[k] * v;
  }
  const double tolx = tol * smin;
  // Widen by a few ulp so that rounding in mu + y e^s cannot leave the root outside.
  const double pad = 4.440892098500626e-16 * ((lo < 0.0 ? -lo : lo) + (hi < 0.0 ? -hi : hi));
  lo -= pad;
  hi += pad;
  if (!newton) {
    for (;;) {
      const double mid = lo + 0.5 * (hi - lo);
      if (hi - lo <= tolx || mid <= lo || mid >= hi) return mid;
      if (evaluate(mid, c).y < target) lo = mid; else hi = mid;
    }
  }
  double x = guess < lo ? lo : (guess > hi ? hi : guess);
  double dx_old = hi - lo, dx = dx_old;
  Eval f = evaluate(x, c);
  for (int it = 0; it < 4096; ++it) {
    const double r = f.y - target;
    if (r == 0.0) return x;
    if (r < 0.0) lo = x; else hi = x;
    const double step = r / f.dydx;
    const double xn = x - step;
    const double abs_r_dx = (r < 0.0 ? -r : r) * 2.0, lim = (dx_old < 0.0 ? -dx_old : dx_old) * f.dydx;
    dx_old = dx;
    if (xn > lo && xn < hi && abs_r_dx <= lim) {
      dx = step;
      x = xn;
    } else {
      dx = 0.5 * (hi - lo);
      x = lo + dx;
      if (x <= lo || x >= hi) return x;
    }
    if ((dx < 0.0 ? -dx : dx) <= tolx || hi - lo <= tolx) return x;
    f = evaluate(x, c);
  }
  return x;
}

// sigma^-1(u) = log u - log(1 - u) for u in (0, 1); 1 - u is exact for u >= 1/2.
DGMLAB_HD double logit(double u) { return fpmath::log(u) - fpmath::log(1.0 - u); }

}  // namespace mixlogistic
}  // namespace dgmlab
