// Output arrays whose memory is recycled across calls.
//
// A kernel that returns megabytes of fresh output pays for the first touch of every page (a page fault and the
// kernel zeroing it): for batch 4096 of 12 x 12, cholesky_to_ar's two 4.7 MB outputs took 3.4 ms of faults against
// 3.3 ms of arithmetic. Arrays from pooled_array give their block back to a small process-wide pool when Python frees
// them, and the next call that asks for the same number of bytes gets that block, its pages already mapped.
#pragma once

#include <pybind11/numpy.h>

#include <vector>

namespace dgmlab {
namespace bindings {

// An uninitialised C-contiguous float64 array of `shape`, starting on a 64-byte boundary. Blocks of at least
// 256 KiB come from the pool (exact size match) or a new allocation (on a 2 MiB boundary with transparent huge
// pages requested when at least 2 MiB), and go back to it when the array is freed, up to 64 MiB of free blocks in
// all (beyond that they are released); smaller ones are plain numpy arrays.
pybind11::array_t<double> pooled_array(const std::vector<pybind11::ssize_t>& shape);

}  // namespace bindings
}  // namespace dgmlab
