// The CPU mixture kernels on eight elements per SIMD vector: dgmlab/kernels/mixlogistic.hpp's prepare(), sums(),
// forward(), solver_init() and solver_update(), transcribed lane by lane with detmath::lanes' exp_hd / log_hd.
// Each lane performs exactly the scalar functions' IEEE operations in their order (branches become bit selects), so
// an element's result has the bits of mixlogistic::solve / forward, which the CUDA kernel runs one per thread.
// Edit together with mixlogistic.hpp; tests/kernels pins the bits. x86-64 with AVX-512 only (see detmath::lanes):
// the functions are compiled for AVX-512, the data structures for the baseline, and kernels_cpu.cpp calls in here
// only where the CPU has AVX-512.
//
// The inverse keeps W = 8 lanes busy: when a lane's element finishes (Newton takes 5 to 15 steps, varying by
// element), its result is written and the lane takes the next element, prepared eight at a time.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "dgmlab/detmath.hpp"
#include "dgmlab/kernels/mixlogistic.hpp"
#include "kernels_cpu.hpp"

#if defined(DGMLAB_LANES_AVX512)

namespace dgmlab {
namespace mixlogistic {
namespace lanes {

using detmath::lanes::exp_hd;
using detmath::lanes::log_hd;
using detmath::lanes::select;
using detmath::lanes::splat;
using detmath::lanes::Vd;
using detmath::lanes::Vi;
constexpr int W = detmath::lanes::kWidth;

// Mixture components of W elements, component k of lane l at [k * W + l]; weight_inv_scale = weight * inv_scale
// (the product sums() forms on every call, formed once).
struct LaneComponents {
  explicit LaneComponents(int K) : K(K), data(5 * static_cast<std::size_t>(K) * W) {}
  double* weight() { return data.data(); }
  double* mean() { return data.data() + static_cast<std::size_t>(K) * W; }
  double* inv_scale() { return data.data() + 2 * static_cast<std::size_t>(K) * W; }
  double* scale() { return data.data() + 3 * static_cast<std::size_t>(K) * W; }
  double* weight_inv_scale() { return data.data() + 4 * static_cast<std::size_t>(K) * W; }
  // Lane `to` of this := lane `from` of other.
  void copy_lane(int to, LaneComponents& other, int from) {
    for (std::size_t a = 0; a < data.size(); a += W) data[a + to] = other.data[a + from];
  }
  int K;
  std::vector<double> data;
};

// The solver state of W lanes, field by field (lane l of each at [l]), so that one lane can be refilled alone.
struct LaneSolver {
  alignas(64) double target[W], lo[W], hi[W], x[W], dx[W], dx_old[W], tolx[W], iterations[W];
  alignas(64) std::int64_t done[W];  // -1 (true) or 0
};

// Per-thread buffers of inverse_range: the lanes being solved and the next W elements, staged.
struct InverseWorkspace {
  explicit InverseWorkspace(int K) : lane(K), staged(K) {}
  LaneComponents lane, staged;
  LaneSolver solver, staged_solver;
};

#pragma GCC push_options
#pragma GCC target("avx512f")
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"  // everything here is inlined into AVX-512 callers (see detmath::lanes)

DGMLAB_LANES Vd load(const double* p) {
  Vd v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

DGMLAB_LANES void store(double* p, Vd v) { std::memcpy(p, &v, sizeof v); }

DGMLAB_LANES Vd abs_of(Vd v) { return select(v < 0.0, -v, v); }  // (v < 0.0 ? -v : v), as the scalar code has it

// prepare() for elements first .. first + W - 1 (lanes past `count` repeat element `first`). Returns each lane's
// prepare() code (0, or 1 / 2 / 3 for a non-finite logit / mean / log-scale) in `bad`.
template <class T>
DGMLAB_LANES void prepare(const T* logits, const T* means, const T* log_scales, std::int64_t first, int count,
                          LaneComponents& c, std::int64_t (&bad)[W]) {
  const int K = c.K;
  std::int64_t offset[W];
  for (int l = 0; l < W; ++l) offset[l] = (first + (l < count ? l : 0)) * K;
  const auto gather = [&](const T* a, int k) {
    double v[W];
    for (int l = 0; l < W; ++l) v[l] = static_cast<double>(a[offset[l] + k]);
    return load(v);
  };
  Vd lmax = gather(logits, 0);
  Vi code = Vi{};
  for (int k = K - 1; k >= 0; --k) {
    const Vd lk = gather(logits, k), mk = gather(means, k), sk = gather(log_scales, k);
    store(c.weight() + k * W, lk);
    store(c.mean() + k * W, mk);
    store(c.scale() + k * W, sk);  // the log-scale for now
    code = select(~(sk - sk == 0.0), Vi{} + 3, code);
    code = select(~(mk - mk == 0.0), Vi{} + 2, code);
    code = select(~(lk - lk == 0.0), Vi{} + 1, code);
    lmax = select(lk > lmax, lk, lmax);
  }
  std::memcpy(bad, &code, sizeof bad);
  Vd total = splat(0.0);
  for (int k = 0; k < K; ++k) {
    const Vd w = exp_hd(load(c.weight() + k * W) - lmax);
    store(c.weight() + k * W, w);
    total += w;
  }
  for (int k = 0; k < K; ++k) {
    const Vd s = load(c.scale() + k * W);
    const Vd w = load(c.weight() + k * W) / total;
    const Vd inv = exp_hd(-s);
    store(c.weight() + k * W, w);
    store(c.inv_scale() + k * W, inv);
    store(c.scale() + k * W, exp_hd(s));
    store(c.weight_inv_scale() + k * W, w * inv);
  }
}

// sums() on every lane.
struct Sums {
  Vd P, Q, pdf;
};

DGMLAB_LANES Sums sums(Vd x, LaneComponents& c) {
  Vd P = splat(0.0), Q = splat(0.0), pdf = splat(0.0);
  const double *weight = c.weight(), *mean = c.mean(), *inv_scale = c.inv_scale(), *wis = c.weight_inv_scale();
  for (int k = 0; k < c.K; ++k) {
    const Vd w = load(weight + k * W);
    const Vd z = (x - load(mean + k * W)) * load(inv_scale + k * W);
    const Vi negative = z < 0.0;
    const Vd e = exp_hd(select(negative, z, -z));
    const Vd big = 1.0 / (1.0 + e);
    const Vd small = e * big;
    P += w * select(negative, small, big);
    Q += w * select(negative, big, small);
    pdf += load(wis + k * W) * (small * big);
  }
  return Sums{P, Q, pdf};
}

// solver_init() on every lane: targets y, components c (prepared).
DGMLAB_LANES void solver_init(LaneSolver& s, Vd y, LaneComponents& c, double tol, bool newton) {
  const double *mean = c.mean(), *scale = c.scale(), *weight = c.weight();
  Vd lo = load(mean) + y * load(scale), hi = lo, smin = load(scale), guess = splat(0.0);
  for (int k = 0; k < c.K; ++k) {
    const Vd sk = load(scale + k * W);
    const Vd v = load(mean + k * W) + y * sk;
    lo = select(v < lo, v, lo);
    hi = select(v > hi, v, hi);
    smin = select(sk < smin, sk, smin);
    guess += load(weight + k * W) * v;
  }
  const Vd pad = 4.440892098500626e-16 * (abs_of(lo) + abs_of(hi));
  lo = lo - pad;
  hi = hi + pad;
  store(s.target, y);
  store(s.lo, lo);
  store(s.hi, hi);
  store(s.tolx, tol * smin);
  store(s.iterations, splat(0.0));
  Vd x, dx;
  Vi done;
  if (newton) {
    x = select(guess < lo, lo, select(guess > hi, hi, guess));
    dx = hi - lo;
    done = Vi{};
  } else {  // solver_bisect()
    x = lo + 0.5 * (hi - lo);
    dx = splat(0.0);
    done = (hi - lo <= load(s.tolx)) | (x <= lo) | (x >= hi);
  }
  store(s.x, x);
  store(s.dx, dx);
  store(s.dx_old, dx);
  std::memcpy(s.done, &done, sizeof done);
}

// solver_update() on every lane not done, given y(x) and dy/dx at each lane's x.
DGMLAB_LANES void solver_update(LaneSolver& s, Vd y, Vd dydx, bool newton) {
  Vi done;
  std::memcpy(&done, s.done, sizeof done);
  const Vi active = ~done;
  const Vd x = load(s.x), lo0 = load(s.lo), hi0 = load(s.hi), tolx = load(s.tolx);
  const Vd r = y - load(s.target);
  const Vi below = r < 0.0;
  if (!newton) {
    const Vd lo = select(active & below, x, lo0), hi = select(active & ~below, x, hi0);
    const Vd xn = lo + 0.5 * (hi - lo);  // solver_bisect()
    const Vi stop = (hi - lo <= tolx) | (xn <= lo) | (xn >= hi);
    store(s.lo, lo);
    store(s.hi, hi);
    store(s.x, select(active, xn, x));
    done |= active & stop;
    std::memcpy(s.done, &done, sizeof done);
    return;
  }
  // r == 0 or the iteration limit: done where x stands (the limit's count only grows where r != 0).
  const Vi zero = r == 0.0;
  const Vd iterations = select(active & ~zero, load(s.iterations) + 1.0, load(s.iterations));
  const Vi stop_here = active & (zero | (iterations >= static_cast<double>(kMaxNewtonIterations)));
  const Vi go = active & ~stop_here;
  const Vd lo = select(go & below, x, lo0), hi = select(go & ~below, x, hi0);
  const Vd step = r / dydx;
  const Vd xn = x - step;
  const Vd abs_2r = abs_of(r) * 2.0, lim = abs_of(load(s.dx_old)) * dydx;
  const Vd dx0 = load(s.dx);
  const Vi take_newton = (xn > lo) & (xn < hi) & (abs_2r <= lim);
  const Vd dx = select(take_newton, step, 0.5 * (hi - lo));
  const Vd xb = lo + dx;
  const Vd x_next = select(take_newton, xn, xb);
  const Vi stuck = ~take_newton & ((xb <= lo) | (xb >= hi));
  const Vi small = (abs_of(dx) <= tolx) | (hi - lo <= tolx);
  store(s.iterations, iterations);
  store(s.lo, lo);
  store(s.hi, hi);
  store(s.x, select(go, x_next, x));
  store(s.dx_old, select(go, dx0, load(s.dx_old)));
  store(s.dx, select(go, dx, dx0));
  done |= stop_here | (go & (stuck | small));
  std::memcpy(s.done, &done, sizeof done);
}

// The inverse on elements [first, last) for targets in logit form (logit_form) or CDF form; failures go to
// first_failure (the smallest index wins).
template <class T>
DGMLAB_LANES void inverse_range(const T* targets, const T* logits, const T* means, const T* log_scales, T* x,
                                std::int64_t first, std::int64_t last, double tol, bool newton, bool logit_form,
                                InverseWorkspace& ws, kernels::Failure& first_failure) {
  LaneSolver& s = ws.solver;
  std::int64_t element[W];    // the element each lane solves, or -1 (idle)
  std::int64_t staged_at[W];  // staged elements ready to start, in lanes staged_next .. staged_count - 1
  int staged_next = 0, staged_count = 0;
  std::int64_t next = first;  // the first element not yet staged
  for (int l = 0; l < W; ++l) {
    element[l] = -1;
    s.done[l] = -1;
  }
  const auto fail = [&](const kernels::Failure& f) {
    x[f.index] = static_cast<T>(NAN);
    if (first_failure.code == 0 || f.index < first_failure.index) first_failure = f;
  };
  // Stages the next W elements (fewer at the end): checks, prepare(), target in logit form, solver_init().
  const auto stage = [&]() {
    const int count = static_cast<int>(last - next < W ? last - next : W);
    std::int64_t bad[W];
    prepare(logits, means, log_scales, next, count, ws.staged, bad);
    double t[W];
    for (int l = 0; l < W; ++l) t[l] = static_cast<double>(targets[next + (l < count ? l : 0)]);
    const Vd tv = load(t);
    const Vd y = logit_form ? tv : log_hd(tv) - log_hd(1.0 - tv);  // logit()
    solver_init(ws.staged_solver, y, ws.staged, tol, newton);
    staged_next = staged_count = 0;
    for (int l = 0; l < count; ++l) {
      const std::int64_t i = next + l;
      if (!std::isfinite(t[l])) {
        fail(kernels::Failure{1, 0, i, -1, t[l]});
      } else if (!logit_form && !(t[l] > 0.0 && t[l] < 1.0)) {
        fail(kernels::Failure{2, 0, i, -1, t[l]});
      } else if (bad[l] != 0) {
        fail(kernels::Failure{1, static_cast<int>(bad[l]), i, -1, 0.0});
      } else if (ws.staged_solver.done[l]) {  // bisection whose bracket is already within tolerance
        x[i] = static_cast<T>(ws.staged_solver.x[l]);
      } else {
        staged_at[staged_count] = i;
        ws.staged_solver.target[staged_count] = ws.staged_solver.target[l];  // compact the lanes to start
        ws.staged_solver.lo[staged_count] = ws.staged_solver.lo[l];
        ws.staged_solver.hi[staged_count] = ws.staged_solver.hi[l];
        ws.staged_solver.x[staged_count] = ws.staged_solver.x[l];
        ws.staged_solver.dx[staged_count] = ws.staged_solver.dx[l];
        ws.staged_solver.tolx[staged_count] = ws.staged_solver.tolx[l];
        if (staged_count != l) ws.staged.copy_lane(staged_count, ws.staged, l);
        ++staged_count;
      }
    }
    next += count;
  };
  for (;;) {
    // Retire finished lanes and refill them.
    bool active = false;
    for (int l = 0; l < W; ++l) {
      if (!s.done[l]) {
        active = true;
        continue;
      }
      if (element[l] >= 0) x[element[l]] = static_cast<T>(s.x[l]);
      element[l] = -1;
      while (staged_next == staged_count && next < last) stage();
      if (staged_next == staged_count) continue;
      const int from = staged_next++;
      const LaneSolver& z = ws.staged_solver;
      element[l] = staged_at[from];
      s.target[l] = z.target[from];
      s.lo[l] = z.lo[from];
      s.hi[l] = z.hi[from];
      s.x[l] = z.x[from];
      s.dx[l] = s.dx_old[l] = z.dx[from];
      s.tolx[l] = z.tolx[from];
      s.iterations[l] = 0.0;
      s.done[l] = 0;
      ws.lane.copy_lane(l, ws.staged, from);
      active = true;
    }
    if (!active) return;
    const Sums t = sums(load(s.x), ws.lane);
    const Vd y = log_hd(t.P) - log_hd(t.Q);  // evaluate()
    const Vd dydx = (t.pdf / t.P) / t.Q;
    solver_update(s, y, dydx, newton);
  }
}

// The forward map on elements [first, last); failures go to first_failure (the first in the range wins).
template <class T>
DGMLAB_LANES void forward_range(const T* x, const T* logits, const T* means, const T* log_scales, T* value,
                                T* log_derivative, std::int64_t first, std::int64_t last, bool logit_form,
                                LaneComponents& c, kernels::Failure& first_failure) {
  for (std::int64_t b = first; b < last; b += W) {
    const int count = static_cast<int>(last - b < W ? last - b : W);
    std::int64_t bad[W];
    prepare(logits, means, log_scales, b, count, c, bad);
    double xs[W];
    for (int l = 0; l < W; ++l) xs[l] = static_cast<double>(x[b + (l < count ? l : 0)]);
    const Sums t = sums(load(xs), c);
    const Vd log_pdf = log_hd(t.pdf);
    double v[W], d[W];
    if (logit_form) {
      const Vd log_p = log_hd(t.P), log_q = log_hd(t.Q);
      store(v, log_p - log_q);
      store(d, (log_pdf - log_p) - log_q);
    } else {
      store(v, t.P);
      store(d, log_pdf);
    }
    for (int l = 0; l < count; ++l) {
      const std::int64_t i = b + l;
      kernels::Failure f;
      if (!std::isfinite(xs[l])) {
        f = kernels::Failure{1, 0, i, -1, xs[l]};
      } else if (bad[l] != 0) {
        f = kernels::Failure{1, static_cast<int>(bad[l]), i, -1, 0.0};
      } else {
        value[i] = static_cast<T>(v[l]);
        log_derivative[i] = static_cast<T>(d[l]);
        continue;
      }
      value[i] = log_derivative[i] = static_cast<T>(NAN);
      if (first_failure.code == 0) first_failure = f;
    }
  }
}

#pragma GCC diagnostic pop
#pragma GCC pop_options

}  // namespace lanes
}  // namespace mixlogistic
}  // namespace dgmlab

#endif  // DGMLAB_LANES_AVX512
