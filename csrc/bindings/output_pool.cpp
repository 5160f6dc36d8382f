// The pool behind pooled_array (output_pool.hpp).
#include "output_pool.hpp"

#include <cstddef>
#include <cstdlib>
#include <map>
#include <mutex>
#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace py = pybind11;

namespace dgmlab {
namespace bindings {
namespace {

constexpr std::size_t kMinPooledBytes = std::size_t{1} << 18;  // smaller blocks come from malloc's heap, pre-faulted
constexpr std::size_t kMaxFreeBytes = std::size_t{1} << 26;    // free blocks kept at most, in bytes
constexpr std::size_t kHeader = 64;  // the block's size sits in front of the data, which stays 64-byte aligned
// Blocks of at least a huge page start on a huge-page boundary and ask Linux for transparent huge pages (honoured
// where THP is "always" or "madvise"): one TLB entry per 2 MiB instead of 512, and one fault per 2 MiB on first use.
constexpr std::size_t kHugePage = std::size_t{1} << 21;

struct Pool {
  std::mutex mutex;
  std::multimap<std::size_t, void*> free_blocks;  // data bytes -> block
  std::size_t free_bytes = 0;
};

// Never destroyed: arrays may be freed after static destructors have run, at interpreter exit.
Pool& pool() {
  static Pool* p = new Pool;
  return *p;
}

void* take(std::size_t bytes) {
  {
    Pool& p = pool();
    std::lock_guard<std::mutex> lock(p.mutex);
    const auto it = p.free_blocks.find(bytes);
    if (it != p.free_blocks.end()) {
      void* block = it->second;
      p.free_blocks.erase(it);
      p.free_bytes -= bytes;
      return static_cast<char*>(block) + kHeader;
    }
  }
  const std::size_t align = kHeader + bytes >= kHugePage ? kHugePage : 64;
  const std::size_t size = (kHeader + bytes + align - 1) / align * align;
  void* block = std::aligned_alloc(align, size);
  if (block == nullptr) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (align == kHugePage) madvise(block, size, MADV_HUGEPAGE);  // advice only: failure leaves normal pages
#endif
  *static_cast<std::size_t*>(block) = bytes;
  return static_cast<char*>(block) + kHeader;
}

void give_back(void* data) {
  void* block = static_cast<char*>(data) - kHeader;
  const std::size_t bytes = *static_cast<std::size_t*>(block);
  {
    Pool& p = pool();
    std::lock_guard<std::mutex> lock(p.mutex);
    if (p.free_bytes + bytes <= kMaxFreeBytes) {
      p.free_blocks.emplace(bytes, block);
      p.free_bytes += bytes;
      return;
    }
  }
  std::free(block);
}

}  // namespace

py::array_t<double> pooled_array(const std::vector<py::ssize_t>& shape) {
  std::size_t count = 1;
  for (const py::ssize_t n : shape) count *= static_cast<std::size_t>(n);
  const std::size_t bytes = count * sizeof(double);
  if (bytes < kMinPooledBytes) return py::array_t<double>(shape);
  void* data = take(bytes);
  py::capsule owner(data, [](void* p) { give_back(p); });
  return py::array_t<double>(shape, static_cast<double*>(data), owner);
}

}  // namespace bindings
}  // namespace dgmlab
