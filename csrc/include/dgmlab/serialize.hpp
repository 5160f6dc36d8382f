// Message <-> bytes. Little-endian layout, version 1:
//   "DGMLRANS" | u32 version | u32 num_streams | u64 seed
//   per stream: u8 fresh | u64 head | u64 draws | f64 initial_bits | u64 num_words | num_words x u32
//   u64 checksum (FNV-1a over 64-bit little-endian words of everything before it, zero-padded)
// Reading checks every length against the bytes present before it allocates or reads, so truncated, corrupt or
// foreign input raises std::invalid_argument and never reads out of bounds.
#pragma once

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "message.hpp"

namespace dgmlab {

inline constexpr char kMagic[8] = {'D', 'G', 'M', 'L', 'R', 'A', 'N', 'S'};
inline constexpr uint32_t kFormatVersion = 1;
inline constexpr uint32_t kMaxStreams = uint32_t{1} << 20;

// Little-endian hosts (x86-64, aarch64) move whole words with memcpy; others assemble them byte by byte.
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
inline constexpr bool kLittleEndian = true;
#else
inline constexpr bool kLittleEndian = false;
#endif

inline uint64_t checksum(const uint8_t* data, size_t n) {
  uint64_t h = 0xcbf29ce484222325ULL;
  const auto mix = [&](uint64_t w) {
    h = (h ^ w) * 0x100000001b3ULL;
    h ^= h >> 29;
  };
  size_t i = 0;
  if (kLittleEndian)
    for (; i + 8 <= n; i += 8) {
      uint64_t w;
      std::memcpy(&w, data + i, 8);
      mix(w);
    }
  for (; i < n; i += 8) {
    uint64_t w = 0;
    for (size_t j = 0; j < 8 && i + j < n; ++j) w |= uint64_t{data[i + j]} << (8 * j);
    mix(w);
  }
  return h;
}

namespace detail {

inline void put(std::vector<uint8_t>& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : p_(data), n_(size) {}
  uint64_t get(int bytes, const char* what) {
    need(static_cast<size_t>(bytes), what);
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= uint64_t{p_[pos_ + i]} << (8 * i);
    pos_ += static_cast<size_t>(bytes);
    return v;
  }
  void need(size_t bytes, const char* what) const {
    if (bytes > n_ - pos_)
      throw std::invalid_argument("message bytes are truncated: " + std::string(what) + " needs " +
                                  std::to_string(bytes) + " more bytes at offset " + std::to_string(pos_) + " of " +
                                  std::to_string(n_));
  }
  const uint8_t* here() const { return p_ + pos_; }
  void skip(size_t bytes) { pos_ += bytes; }
  size_t pos() const { return pos_; }

 private:
  const uint8_t* p_;
  size_t n_, pos_ = 0;
};

}  // namespace detail

inline std::vector<uint8_t> to_bytes(const Message& msg) {
  std::vector<uint8_t> out(kMagic, kMagic + 8);
  detail::put(out, kFormatVersion, 4);
  detail::put(out, msg.num_streams(), 4);
  detail::put(out, msg.seed(), 8);
  for (size_t s = 0; s < msg.num_streams(); ++s) {
    const Stream& st = msg.stream(s);
    detail::put(out, st.fresh() ? 1 : 0, 1);
    detail::put(out, st.head(), 8);
    detail::put(out, st.draws(), 8);
    uint64_t initial_bits;
    const double ib = st.initial_bits();
    std::memcpy(&initial_bits, &ib, sizeof ib);
    detail::put(out, initial_bits, 8);
    detail::put(out, st.words().size(), 8);
    const size_t at = out.size();
    out.resize(at + 4 * st.words().size());
    if (kLittleEndian && !st.words().empty()) {
      std::memcpy(out.data() + at, st.words().data(), 4 * st.words().size());
    } else {
      for (size_t i = 0; i < st.words().size(); ++i)
        for (int b = 0; b < 4; ++b) out[at + 4 * i + b] = static_cast<uint8_t>(st.words()[i] >> (8 * b));
    }
  }
  detail::put(out, checksum(out.data(), out.size()), 8);
  return out;
}

// Reading: the headers first (every length checked against the bytes present), then the words of all streams
// copied in parallel while one thread computes the checksum, which is then compared.
inline Message from_bytes(const uint8_t* data, size_t size) {
  detail::Reader in(data, size);
  in.need(8, "the magic number");
  if (std::memcmp(in.here(), kMagic, 8) != 0)
    throw std::invalid_argument("not a dgmlab message: bad magic number (expected bytes from Message.to_bytes())");
  in.skip(8);
  const uint64_t version = in.get(4, "the format version");
  if (version != kFormatVersion)
    throw std::invalid_argument("message format version " + std::to_string(version) + " is not supported (this build reads " +
                                std::to_string(kFormatVersion) + "): upgrade dgmlab");
  const uint64_t num_streams = in.get(4, "the stream count");
  if (num_streams < 1 || num_streams > kMaxStreams)
    throw std::invalid_argument("corrupt message: stream count " + std::to_string(num_streams) + " is out of range");
  Message msg(num_streams, in.get(8, "the seed"));
  struct Words {
    size_t at, count;
  };
  std::vector<Words> words(num_streams);
  for (size_t s = 0; s < num_streams; ++s) {
    const uint64_t fresh = in.get(1, "a stream header");
    const uint64_t head = in.get(8, "a stream header");
    const uint64_t draws = in.get(8, "a stream header");
    const uint64_t initial_bits_word = in.get(8, "a stream header");
    const uint64_t num_words = in.get(8, "a stream header");
    double initial_bits;
    std::memcpy(&initial_bits, &initial_bits_word, sizeof initial_bits);
    if (fresh > 1 || head < rans::kLower || head >= (rans::kLower << rans::kWordBits) || !(initial_bits >= 0))
      throw std::invalid_argument("corrupt message: stream " + std::to_string(s) + " has an invalid state");
    if (num_words > (size - in.pos()) / 4) in.need(SIZE_MAX, "the stream words");
    in.need(4 * num_words, "the stream words");
    words[s] = {in.pos(), num_words};
    in.skip(4 * num_words);
    msg.stream(s).restore(fresh == 1, head, {}, initial_bits, draws);
  }
  const size_t body = in.pos();
  const uint64_t stored = in.get(8, "the checksum");
  uint64_t computed = 0;
  const auto streams = static_cast<int64_t>(num_streams);
#pragma omp parallel if (size >= (size_t{1} << 20) && num_streams > 1)
  {
#pragma omp single nowait
    computed = checksum(data, body);
#pragma omp for schedule(dynamic, 1)
    for (int64_t s = 0; s < streams; ++s) {
      const Words w = words[static_cast<size_t>(s)];
      std::vector<uint32_t> stack(w.count);
      if (kLittleEndian) {
        if (w.count) std::memcpy(stack.data(), data + w.at, 4 * w.count);
      } else {
        for (size_t i = 0; i < w.count; ++i)
          for (int b = 0; b < 4; ++b) stack[i] |= uint32_t{data[w.at + 4 * i + b]} << (8 * b);
      }
      msg.stream(static_cast<size_t>(s)).set_words(std::move(stack));
    }
  }
  if (stored != computed) throw std::invalid_argument("corrupt message: checksum mismatch");
  if (in.pos() != size)
    throw std::invalid_argument("corrupt message: " + std::to_string(size - in.pos()) + " unexpected trailing bytes");
  return msg;
}

}  // namespace dgmlab
