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
// Everything runs in double precision with detmath's host-and-device exp_hd/log_hd, so the CPU and CUDA kernels
// produce the same bits. csrc/src/mixlogistic_lanes.hpp transcribes these functions for the CPU's SIMD lanes: edit
// both together.
#pragma once

#include <cstdint>

#include "dgmlab/detmath.hpp"

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
    c.weight[k] = detmath::exp_hd(static_cast<double>(logits[k]) - lmax);
    total += c.weight[k];
  }
  for (int k = 0; k < c.K; ++k) {
    const double s = static_cast<double>(log_scales[k]);
    c.weight[k] /= total;
    c.mean[k] = static_cast<double>(means[k]);
    c.inv_scale[k] = detmath::exp_hd(-s);
    c.scale[k] = detmath::exp_hd(s);
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
    const bool negative = z < 0.0;
    const double e = detmath::exp_hd(detmath::select(negative, z, -z));
    const double big = 1.0 / (1.0 + e);  // sigma(|z|)
    const double small = e * big;        // sigma(-|z|)
    r.P += c.weight[k] * detmath::select(negative, small, big);
    r.Q += c.weight[k] * detmath::select(negative, big, small);
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
  return Eval{detmath::log_hd(t.P) - detmath::log_hd(t.Q), (t.pdf / t.P) / t.Q};
}

// The forward map in either form: value is y(x) (logit form) or MixLogCDF(x) (cdf form), log_derivative is
// log dy/dx = log pdf - log P - log Q or log pdf.
struct Forward {
  double value, log_derivative;
};

DGMLAB_HD Forward forward(double x, const Components& c, bool logit_form) {
  const Sums t = sums(x, c);
  const double log_pdf = detmath::log_hd(t.pdf);
  if (!logit_form) return Forward{t.P, log_pdf};
  const double log_p = detmath::log_hd(t.P), log_q = detmath::log_hd(t.Q);
  return Forward{log_p - log_q, (log_pdf - log_p) - log_q};
}

// The solver for one element as a state machine: solver_init, then while (!s.done) solver_update(s, evaluate(s.x,
// c)); the root is s.x. The CUDA kernel runs it one element per thread; the CPU kernels run the same operations on
// eight elements per SIMD vector (csrc/src/mixlogistic_lanes.hpp), hence the same bits.
//
// tol is relative to the smallest component scale: the solver stops once the bracket, or the last Newton
// correction, is below tol * min_k exp(s_k) (or the bracket is one ulp wide).
struct Solver {
  double target, lo, hi, x, dx, dx_old, tolx;
  int iterations;
  bool newton, done;
};

// Newton-bisection gives up after this many evaluations (bisection alone always ends: the bracket shrinks to an ulp).
constexpr int kMaxNewtonIterations = 4096;

// Bisection: the next point is the midpoint, unless the bracket is already small enough.
DGMLAB_HD void solver_bisect(Solver& s) {
  s.x = s.lo + 0.5 * (s.hi - s.lo);
  s.done = s.hi - s.lo <= s.tolx || s.x <= s.lo || s.x >= s.hi;
}

DGMLAB_HD void solver_init(Solver& s, double target, const Components& c, double tol, bool newton) {
  double lo = c.mean[0] + target * c.scale[0], hi = lo, smin = c.scale[0], guess = 0.0;
  for (int k = 0; k < c.K; ++k) {
    const double v = c.mean[k] + target * c.scale[k];
    lo = v < lo ? v : lo;
    hi = v > hi ? v : hi;
    smin = c.scale[k] < smin ? c.scale[k] : smin;
    guess += c.weight[k] * v;
  }
  // Widen by a few ulp so that rounding in mu + y e^s cannot leave the root outside.
  const double pad = 4.440892098500626e-16 * ((lo < 0.0 ? -lo : lo) + (hi < 0.0 ? -hi : hi));
  s.target = target;
  s.lo = lo - pad;
  s.hi = hi + pad;
  s.tolx = tol * smin;
  s.iterations = 0;
  s.newton = newton;
  s.done = false;
  if (!newton) {
    solver_bisect(s);
    return;
  }
  s.x = guess < s.lo ? s.lo : (guess > s.hi ? s.hi : guess);
  s.dx_old = s.dx = s.hi - s.lo;
}

// Takes f = evaluate(s.x) and moves to the next point (or finishes).
DGMLAB_HD void solver_update(Solver& s, const Eval& f) {
  const double r = f.y - s.target;
  if (!s.newton) {
    if (r < 0.0) s.lo = s.x; else s.hi = s.x;
    solver_bisect(s);
    return;
  }
  if (r == 0.0 || ++s.iterations >= kMaxNewtonIterations) {
    s.done = true;
    return;
  }
  if (r < 0.0) s.lo = s.x; else s.hi = s.x;
  // Newton step if it lands strictly inside the bracket and at least halves the step before last (rtsafe).
  const double step = r / f.dydx;
  const double xn = s.x - step;
  const double abs_2r = (r < 0.0 ? -r : r) * 2.0, lim = (s.dx_old < 0.0 ? -s.dx_old : s.dx_old) * f.dydx;
  s.dx_old = s.dx;
  if (xn > s.lo && xn < s.hi && abs_2r <= lim) {
    s.dx = step;
    s.x = xn;
  } else {
    s.dx = 0.5 * (s.hi - s.lo);
    s.x = s.lo + s.dx;
    if (s.x <= s.lo || s.x >= s.hi) {
      s.done = true;
      return;
    }
  }
  s.done = (s.dx < 0.0 ? -s.dx : s.dx) <= s.tolx || s.hi - s.lo <= s.tolx;
}

// Solves y(x) = target for one element.
DGMLAB_HD double solve(double target, const Components& c, double tol, bool newton) {
  Solver s;
  solver_init(s, target, c, tol, newton);
  while (!s.done) solver_update(s, evaluate(s.x, c));
  return s.x;
}

// sigma^-1(u) = log u - log(1 - u) for u in (0, 1); 1 - u is exact for u >= 1/2.
DGMLAB_HD double logit(double u) { return detmath::log_hd(u) - detmath::log_hd(1.0 - u); }

}  // namespace mixlogistic
}  // namespace dgmlab
