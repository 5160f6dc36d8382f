// The "linear AR" codec: vectors coded one coordinate at a time under a linear autoregressive Gaussian on the grid
// (thesis Section 3.5.4.1; the AR form comes from dgmlab/kernels/cholesky_ar.hpp).
//
// Block b of B holds d symbols k_0..k_{d-1}, value z_i = k_i w (w = bin width), and
//   z_i | z_<i ~ N(m_i, std_i^2),   m_i = mean_i + sum_{j<i} A_ij (z_j - mean_j)   (sum left to right),
// each coordinate coded with the grid Gaussian of codecs.hpp. Blocks are the items of message.hpp's stream split;
// within a block the encoder pushes coordinates d-1..0 and the decoder pops 0..d-1, so the decoder knows z_<i when
// it needs m_i and computes it with the same operations as the encoder: the same bits on every machine
// (-ffp-contract=off). Only the strictly lower triangle of A is read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "arrays.hpp"
#include "codecs.hpp"
#include "message.hpp"

namespace dgmlab {

// m_i for coordinate i of one block, from the symbols of coordinates < i.
inline double linear_ar_mean(const int64_t* k, const double* mean, const double* A, int d, int i, double w) {
  double m = 0.0;
  for (int j = 0; j < i; ++j) m += A[static_cast<size_t>(i) * d + j] * (static_cast<double>(k[j]) * w - mean[j]);
  return mean[i] + m;
}

inline void check_linear_ar(const double* mean, const double* A, const double* std, size_t B, int d, const Grid& g) {
  check_grid(g);
  if (d < 1) fail("d: expected at least one coordinate per block, got " + std::to_string(d));
  const size_t n = B * static_cast<size_t>(d);
  check_finite("mean", mean, n);
  check_positive("std", std, n);
  for (size_t b = 0; b < B; ++b)
    for (int i = 0; i < d; ++i)
      for (int j = 0; j < i; ++j) {
        const size_t e = (b * d + i) * d + j;
        if (!std::isfinite(A[e])) fail(at("coeffs", e) + ": expected a finite value");
      }
}

// symbols, mean, std: (B, d); A: (B, d, d) row-major.
inline void push_linear_ar(Message& msg, const int64_t* symbols, const double* mean, const double* A,
                           const double* std, size_t B, int d, const Grid& g) {
  check_linear_ar(mean, A, std, B, d, g);
  check_symbols(symbols, B * static_cast<size_t>(d), g.lo, g.hi);
  push_each(msg, B, [&](Stream& st, size_t b) {
    const size_t o = b * d;
    const double* Ab = A + o * d;
    for (int i = d; i-- > 0;) {
      const double m = linear_ar_mean(symbols + o, mean + o, Ab, d, i, g.bin_width);
      push_bucketed(st, GaussianModel(m, std[o + i], g), symbols[o + i]);
    }
  });
}

inline void pop_linear_ar(Message& msg, int64_t* out, const double* mean, const double* A, const double* std,
                          size_t B, int d, const Grid& g) {
  check_linear_ar(mean, A, std, B, d, g);
  pop_each(msg, B, [&](Stream& st, size_t b) {
    const size_t o = b * d;
    const double* Ab = A + o * d;
    for (int i = 0; i < d; ++i) {
      const double m = linear_ar_mean(out + o, mean + o, Ab, d, i, g.bin_width);
      out[o + i] = pop_bucketed(st, GaussianModel(m, std[o + i], g));
    }
  });
}

}  // namespace dgmlab
