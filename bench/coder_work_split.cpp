// Pushes then pops 64 streams of quantised or fine-grid Gaussians with the installed headers; callgrind counts only
// the push or the pop (client requests), per thread. Driven by bench/coder_work_split.py.
#include <dgmlab/arrays.hpp>
#include <valgrind/callgrind.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  const size_t n = std::stoul(argv[1]);
  const bool fine = std::string(argv[2]) == "fine", push = std::string(argv[3]) == "push";
  std::mt19937_64 rng(1);
  std::normal_distribution<double> normal;
  std::vector<double> mean(n), std_dev(n);
  std::vector<int64_t> symbols(n), out(n);
  const dgmlab::Grid g = fine ? dgmlab::Grid{std::ldexp(1.0, -32), -(int64_t{1} << 41), int64_t{1} << 41}
                              : dgmlab::Grid{1.0, -32, 31};
  for (size_t i = 0; i < n; ++i) {
    mean[i] = fine ? 0.5 * normal(rng) : 20.0 * (static_cast<double>(rng() % 1000) / 1000.0 - 0.5);
    std_dev[i] = fine ? std::ldexp(1.0, -14) : 0.5 + 7.5 * static_cast<double>(rng() % 64) / 63.0;
    const double x = std::floor((mean[i] + std_dev[i] * normal(rng)) / g.bin_width + 0.5);
    symbols[i] = std::max<int64_t>(g.lo, std::min<int64_t>(g.hi, static_cast<int64_t>(x)));
  }
  dgmlab::Message msg(64, 0);
  if (push) CALLGRIND_START_INSTRUMENTATION;
  dgmlab::push_gaussian(msg, symbols.data(), mean.data(), std_dev.data(), n, g);
  if (push) CALLGRIND_STOP_INSTRUMENTATION;
  if (!push) {
    CALLGRIND_START_INSTRUMENTATION;
    dgmlab::pop_gaussian(msg, out.data(), mean.data(), std_dev.data(), n, g);
    CALLGRIND_STOP_INSTRUMENTATION;
    if (out != symbols) return std::puts("decoded symbols differ"), 1;
  }
  return 0;
}
