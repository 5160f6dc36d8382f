// rANS with a 64-bit state and 32-bit renormalisation words (the layout of ryg_rans' rans64.h).
//
// Notation (Duda; Giesen): a symbol s has start c_s and frequency f_s out of M = 2^P.
//   encode  x' = C(s, x) = floor(x / f_s) * M + (x mod f_s) + c_s
//   decode  s, x = D(x'): s such that c_s <= x' mod M < c_s + f_s, then x = f_s * floor(x' / M) + (x' mod M) - c_s
// The state lives in I = [L, b L) with L = 2^31 and b = 2^32, so one 32-bit word moves per renormalisation.
// The words are a stack owned by the caller: encoding pushes them, decoding pops them (last in, first out).
#pragma once

#include <cassert>
#include <cstdint>

#include "detail/inline.hpp"

namespace dgmlab::rans {

using State = uint64_t;
inline constexpr State kLower = State{1} << 31;  // L: x >= L after every renormalisation
inline constexpr unsigned kWordBits = 32;        // log2 b
inline constexpr unsigned kMaxPrecision = 31;    // P <= 31 keeps L >> P an integer (b-uniqueness)

// Largest state from which encoding s needs no renormalisation: x_max = (L >> P) * b * f_s.
inline State enc_max(uint32_t freq, unsigned precision) {
  return ((kLower >> precision) << kWordBits) * freq;
}

// x' = C(s, x). `emit(word)` receives the renormalisation word, if any, before the state update.
template <class Emit>
DGMLAB_ALWAYS_INLINE void enc_put(State& x, uint32_t start, uint32_t freq, unsigned precision, Emit&& emit) {
  assert(freq > 0 && precision <= kMaxPrecision && uint64_t{start} + freq <= (uint64_t{1} << precision));
  if (x >= enc_max(freq, precision)) {
    emit(static_cast<uint32_t>(x));
    x >>= kWordBits;
  }
  x = ((x / freq) << precision) + (x % freq) + start;
  assert(x >= kLower && x < (kLower << kWordBits));
}

// C(s, x) for a uniform symbol s < 2^bits (f_s = 1, c_s = s): x' = x 2^bits + s, no division.
template <class Emit>
DGMLAB_ALWAYS_INLINE void enc_put_bits(State& x, uint32_t s, unsigned bits, Emit&& emit) {
  assert(bits <= kMaxPrecision && uint64_t{s} < (uint64_t{1} << bits));
  if (x >= ((kLower >> bits) << kWordBits)) {
    emit(static_cast<uint32_t>(x));
    x >>= kWordBits;
  }
  x = (x << bits) | s;
  assert(x >= kLower && x < (kLower << kWordBits));
}

// The slot x' mod M that identifies the next symbol to decode.
DGMLAB_ALWAYS_INLINE uint32_t dec_get(State x, unsigned precision) {
  return static_cast<uint32_t>(x & ((State{1} << precision) - 1));
}

// x = f_s floor(x'/M) + (x' mod M) - c_s, then refill from `next_word()` while below L.
template <class NextWord>
DGMLAB_ALWAYS_INLINE void dec_advance(State& x, uint32_t start, uint32_t freq, unsigned precision, NextWord&& next_word) {
  x = freq * (x >> precision) + (x & ((State{1} << precision) - 1)) - start;
  if (x < kLower) x = (x << kWordBits) | next_word();
  assert(x >= kLower && x < (kLower << kWordBits));
}

// D(x') for a uniform symbol of `bits` bits: x = x' / 2^bits, then refill.
template <class NextWord>
DGMLAB_ALWAYS_INLINE uint32_t dec_get_bits(State& x, unsigned bits, NextWord&& next_word) {
  const auto s = static_cast<uint32_t>(x & ((State{1} << bits) - 1));
  x >>= bits;
  if (x < kLower) x = (x << kWordBits) | next_word();
  assert(x >= kLower && x < (kLower << kWordBits));
  return s;
}

}  // namespace dgmlab::rans
