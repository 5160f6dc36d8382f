// A message: a stack of N interleaved rANS streams, each with its own source of "initial bits".
//
// Arrays are split across streams deterministically: an array of n items is cut into N contiguous chunks, stream s
// taking items [floor(s n / N), floor((s + 1) n / N)). Within a stream, pushes go last item first, so pops return
// the items first to last (what autoregressive decoders need). Streams are independent, so they run in parallel.
//
// Every stream starts from a head of 62 random bits drawn from a seeded counter-based generator at its first push
// or pop, and popping past a stream's content (bits-back coding does this by design) draws further 32-bit words.
// A random head matters: a constant one (rANS' usual x = L) has bits that are not random, and once decoding mixes
// them down, what bits-back "samples" is no sample at all (far-tail values, say). `initial_bits_used()` counts the
// information drawn: the head's 31 bits above the baseline L that every stream carries (and to_bytes always writes
// in full), plus 32 per word, so that num_bits() - initial_bits_used() is exactly the information pushed.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

#include "rans.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace dgmlab {

// SplitMix64: the stream's initial-bits source and the key derivation (deterministic on every platform).
inline uint64_t splitmix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// alignas(64): streams of different threads never share a cache line.
class alignas(64) Stream {
 public:
  Stream() = default;
  Stream(uint64_t seed, uint64_t index) : key_(splitmix64(seed ^ splitmix64(index + 1))) {}

  // x' = C(s, x) for a symbol with start/frequency out of 2^precision.
  DGMLAB_LAMBDA_INLINE void push(uint32_t start, uint32_t freq, unsigned precision) {
    load();
    rans::enc_put(head_, start, freq, precision, [this](uint32_t w) { words_.push_back(w); });
  }

  // A uniform symbol s < 2^bits: the same code as push(s, 1, bits), without the division.
  DGMLAB_LAMBDA_INLINE void push_bits(uint32_t s, unsigned bits) {
    load();
    rans::enc_put_bits(head_, s, bits, [this](uint32_t w) { words_.push_back(w); });
  }

  // The slot of the next symbol.
  DGMLAB_LAMBDA_INLINE uint32_t peek(unsigned precision) {
    load();
    return rans::dec_get(head_, precision);
  }

  // s, x = D(x') once the caller has identified the symbol from peek().
  DGMLAB_LAMBDA_INLINE void pop(uint32_t start, uint32_t freq, unsigned precision) {
    rans::dec_advance(head_, start, freq, precision, [this]() { return next_word(); });
  }

  // Pops a uniform symbol of `bits` bits (the inverse of push_bits).
  DGMLAB_LAMBDA_INLINE uint32_t pop_bits(unsigned bits) {
    peek(bits);
    return rans::dec_get_bits(head_, bits, [this]() { return next_word(); });
  }

  // A run of pushes with the head in a register and the words in the caller's buffer (no call, no reallocation
  // between them): x = begin_run(), then rans::enc_put / enc_put_bits on x writing to the buffer, then
  // end_run(x, buffer, count) stores the head and appends the words.
  DGMLAB_LAMBDA_INLINE rans::State begin_run() {
    load();
    return head_;
  }
  DGMLAB_LAMBDA_INLINE void end_run(rans::State x, const uint32_t* words, size_t count) {
    head_ = x;
    words_.insert(words_.end(), words, words + count);
  }

  // Room for `more` words beyond the current ones without a reallocation (growing at least geometrically).
  void reserve_words(size_t more) {
    const size_t need = words_.size() + more;
    if (need > words_.capacity()) words_.reserve(std::max(need, 2 * words_.capacity()));
  }

  // Information content: 32 bits per word below the head plus log2(x / L) in the head.
  double num_bits() const { return 32.0 * static_cast<double>(words_.size()) + head_bits(head_); }

  rans::State head() const { return head_; }
  const std::vector<uint32_t>& words() const { return words_; }
  double initial_bits() const { return initial_bits_; }
  uint64_t draws() const { return draws_; }
  uint64_t key() const { return key_; }
  bool fresh() const { return fresh_; }

  // The word stack alone (serialize.hpp fills the words after the headers).
  void set_words(std::vector<uint32_t> words) { words_ = std::move(words); }

  // Rebuild from serialised fields (the caller validates them).
  void restore(bool fresh, rans::State head, std::vector<uint32_t> words, double initial_bits, uint64_t draws) {
    fresh_ = fresh;
    head_ = head;
    words_ = std::move(words);
    initial_bits_ = initial_bits;
    draws_ = draws;
  }

 private:
  // log2(x / L): the information in a head x (reporting only: never on the coding path).
  static double head_bits(rans::State x) { return std::log2(static_cast<double>(x)) - 31.0; }

  // Before a stream's first push or pop: head = 2^62 + r with r 62 random bits, of which log2(head / L) count as
  // information.
  DGMLAB_LAMBDA_INLINE void load() {
    if (fresh_) load_fresh();
  }
#if defined(__GNUC__)
  __attribute__((noinline))
#endif
  void load_fresh() {
    fresh_ = false;
    const uint64_t r = (uint64_t{draw()} << 32) | draw();
    head_ = (rans::State{1} << 62) | (r >> 2);
    initial_bits_ += head_bits(head_);
  }

  // The word below the head: from the stack, or from the initial-bits source once the stack is empty.
  uint32_t next_word() {
    if (words_.empty()) {
      initial_bits_ += 32;
      return draw();
    }
    const uint32_t w = words_.back();
    words_.pop_back();
    return w;
  }

  uint32_t draw() { return static_cast<uint32_t>(splitmix64(key_ + draws_++ * 0xd1b54a32d192ed03ULL) >> 32); }

  bool fresh_ = true;                // not loaded yet: never pushed to nor popped from
  rans::State head_ = rans::kLower;  // x in [L, bL); L only while fresh
  std::vector<uint32_t> words_;      // the stack below the head
  uint64_t key_ = 0;                 // initial-bits generator key
  uint64_t draws_ = 0;               // words drawn so far (the generator's counter)
  double initial_bits_ = 0;          // information drawn from the generator
};

// Which items of an n-item array stream s of N owns: [first, last).
inline std::pair<size_t, size_t> stream_chunk(size_t n, size_t num_streams, size_t s) {
  const auto cut = [&](size_t k) {
    return static_cast<size_t>((static_cast<unsigned __int128>(n) * k) / num_streams);
  };
  return {cut(s), cut(s + 1)};
}

// Blocks may offer words_hint(count): about how many words their first `count` entries push (push_blocks then
// reserves room for a stream's words up front: growing a large buffer step by step copies and page-faults it again).
template <class Block, class = void>
struct HasWordsHint : std::false_type {};
template <class Block>
struct HasWordsHint<Block, std::void_t<decltype(&Block::words_hint)>> : std::true_type {};

class Message {
 public:
  explicit Message(size_t num_streams = 1, uint64_t seed = 0) : seed_(seed) {
    streams_.reserve(num_streams);
    for (size_t s = 0; s < num_streams; ++s) streams_.emplace_back(seed, s);
  }

  size_t num_streams() const { return streams_.size(); }
  uint64_t seed() const { return seed_; }
  Stream& stream(size_t s) { return streams_[s]; }
  const Stream& stream(size_t s) const { return streams_[s]; }

  double num_bits() const {
    double bits = 0;
    for (const auto& st : streams_) bits += st.num_bits();
    return bits;
  }

  double initial_bits_used() const {
    double bits = 0;
    for (const auto& st : streams_) bits += st.initial_bits();
    return bits;
  }

  // Code item i of an n-item array on the stream that owns it: f(stream, i). Threads take contiguous ranges of
  // streams; each thread walks its range in groups of kLockstep streams that advance in lockstep, one item each in
  // turn, so that their independent dependency chains overlap in the CPU pipeline while the group touches few
  // memory regions at once (the hardware prefetchers follow a handful). `reverse` walks each chunk last item first
  // (for pushes). Each stream sees its items in the same order whatever the thread count or grouping.
  template <class F>
  void for_each_item(size_t n, bool reverse, F&& f) {
    for_each_group(n, [&](Stream* st, const Chunk* chunk, size_t group, size_t longest) {
      if (group == 1) {  // one stream (the usual single-threaded case): a plain loop
        for (size_t k = 0; k < longest; ++k) f(st[0], chunk[0].item(k, reverse));
        return;
      }
      for (size_t k = 0; k < longest; ++k)
        for (size_t j = 0; j < group; ++j)
          if (k < chunk[j].size) f(st[j], chunk[j].item(k, reverse));
    });
  }

  // Pushes n items in two phases per block of kPlanBlock items a stream: plan(first, count, block) computes what
  // items first .. first + count - 1 write into a Block (model evaluation only: independent across items, so the
  // CPU overlaps them, or vector instructions evaluate several at once), then apply(streams, blocks, counts, group)
  // runs the serial rANS steps of a group's blocks: stream j pushes its block's entries counts[j] - 1, ..., 0
  // (entry c is item first + c; counts[j] may be 0), interleaved across the group so that their dependency chains
  // overlap. The streams see exactly what for_each_item(n, true, ...) with f = push(stream, plan(i)) gives them.
  template <class Block, class Plan, class Apply>
  void push_blocks(size_t n, Plan&& plan, Apply&& apply) {
    for_each_group(n, [&](Stream* st, const Chunk* chunk, size_t group, size_t longest) {
      Block blocks[kLockstep];
      size_t count[kLockstep];
      for (size_t k0 = 0; k0 < longest; k0 += kPlanBlock) {
        const size_t block = std::min(kPlanBlock, longest - k0);
        for (size_t j = 0; j < group; ++j) {  // items item(k, true) for k in [k0, end): chunk[j].first + size - end ..
          const size_t end = std::min(k0 + block, chunk[j].size);
          count[j] = end > k0 ? end - k0 : 0;
          if (count[j]) plan(chunk[j].first + chunk[j].size - end, count[j], blocks[j]);
          if constexpr (HasWordsHint<Block>::value)  // room for the stream's words, estimated from its first block
            if (k0 == 0 && count[j]) st[j].reserve_words(blocks[j].words_hint(count[j]) * chunk[j].size / count[j] + 64);
        }
        apply(st, static_cast<const Block*>(blocks), static_cast<const size_t*>(count), group);
      }
    });
  }

  // push_blocks with a block of Codes: plan_block(top, count, codes) fills codes[c] for item top - c, and
  // apply(stream, code) pushes one.
  template <class Code, class PlanBlock, class Apply>
  void push_planned(size_t n, PlanBlock&& plan_block, Apply&& apply) {
    struct Codes {
      Code code[kPlanBlock];
    };
    push_blocks<Codes>(
        n, [&](size_t first, size_t count, Codes& b) { plan_block(first + count - 1, count, b.code); },
        [&](Stream* st, const Codes* b, const size_t* count, size_t group) {
          if (group == 1) {  // one stream (the usual single-threaded case): a plain loop
            for (size_t k = 0; k < count[0]; ++k) apply(st[0], b[0].code[k]);
            return;
          }
          for (size_t k = 0; k < kPlanBlock; ++k)
            for (size_t j = 0; j < group; ++j)
              if (k < count[j]) apply(st[j], b[j].code[k]);
        });
  }

  static constexpr size_t kLockstep = 4;    // streams a thread advances together
  static constexpr size_t kPlanBlock = 32;  // items a stream plans ahead in push_planned
  static constexpr size_t kTailStreams = 2;  // single-stream groups a thread at the end of a parallel call

 private:
  // The items [first, first + size) of one stream.
  struct Chunk {
    size_t first, size;
    size_t item(size_t k, bool reverse) const { return reverse ? first + size - 1 - k : first + k; }
  };

  // g(streams, chunks, group, longest) for each group of up to kLockstep consecutive streams; no allocation, and
  // the parallel loop splits streams, never items, so threads share no stream. Groups are at most count / threads
  // streams, so that every thread gets one, and threads take them as they finish (dynamic): a thread that other
  // processes slow down does not hold the rest up. Which thread codes a stream never changes its bits.
  template <class G>
  void for_each_group(size_t n, G&& g) {
    const size_t count = streams_.size();
    const bool parallel = n >= 4096 && count > 1;
    size_t threads = 1;
#ifdef _OPENMP
    if (parallel) threads = static_cast<size_t>(std::max(1, omp_get_max_threads()));
#endif
    const size_t size = std::clamp<size_t>(count / threads, 1, kLockstep);
    // With several threads, the last kTailStreams streams a thread are groups of one: the thread that finishes
    // first then waits for at most one stream's work, not a whole group's (6% of the work for 64 streams on 2).
    const size_t tail = threads > 1 ? std::min(count, kTailStreams * threads) : 0;
    const size_t head_end = count - tail, head_groups = (head_end + size - 1) / size;
    const auto groups = static_cast<int64_t>(head_groups + tail);
#pragma omp parallel for schedule(dynamic, 1) if (parallel)
    for (int64_t k = 0; k < groups; ++k) {
      const auto uk = static_cast<size_t>(k);
      const size_t s0 = uk < head_groups ? uk * size : head_end + (uk - head_groups);
      const size_t group = uk < head_groups ? std::min(size, head_end - s0) : 1;
      Chunk chunk[kLockstep];
      size_t longest = 0;
      for (size_t j = 0; j < group; ++j) {
        const auto [first, last] = stream_chunk(n, count, s0 + j);
        chunk[j] = {first, last - first};
        longest = std::max(longest, last - first);
      }
      g(&streams_[s0], chunk, group, longest);
    }
  }


 private:
  uint64_t seed_;
  std::vector<Stream> streams_;
};

}  // namespace dgmlab
