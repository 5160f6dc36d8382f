// Encode fine-grid Gaussians and a categorical, serialise, decode from the bytes, compare exactly.
#include <dgmlab/arrays.hpp>
#include <dgmlab/serialize.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

int main() {
  const size_t n = 10000;
  const dgmlab::Grid grid{std::ldexp(1.0, -32), -(int64_t{1} << 41), int64_t{1} << 41};
  std::vector<double> mean(n), std(n);
  std::vector<int64_t> symbols(n), decoded(n), cats(n), cats_out(n);
  for (size_t i = 0; i < n; ++i) {
    mean[i] = static_cast<double>(i % 101) / 64.0 - 0.75;
    std[i] = std::ldexp(1.0, -static_cast<int>(i % 20));
    symbols[i] = static_cast<int64_t>(std::floor(mean[i] / grid.bin_width)) + static_cast<int64_t>(i % 977) - 488;
    cats[i] = static_cast<int64_t>((i * 7) % 4);
  }
  const double probs[4] = {0.1, 0.2, 0.3, 0.4};
  const dgmlab::CategoricalTable table(probs, 4, 16);

  dgmlab::Message msg(4, 0);
  dgmlab::push_gaussian(msg, symbols.data(), mean.data(), std.data(), n, grid);
  dgmlab::push_categorical(msg, table, cats.data(), n);
  const std::vector<uint8_t> bytes = dgmlab::to_bytes(msg);

  dgmlab::Message back = dgmlab::from_bytes(bytes.data(), bytes.size());
  const double drawn = back.initial_bits_used();
  dgmlab::pop_categorical(back, table, cats_out.data(), n);
  dgmlab::pop_gaussian(back, decoded.data(), mean.data(), std.data(), n, grid);
  if (decoded != symbols || cats_out != cats || back.initial_bits_used() != drawn) {
    std::puts("MISMATCH");
    return 1;
  }
  std::printf("ok %zu bytes, %.1f bits\n", bytes.size(), msg.num_bits());
  return 0;
}
