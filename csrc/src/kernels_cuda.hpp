// CUDA launchers for the logistic-mixture kernels (csrc/cuda/mixlogistic.cu), built when DGMLAB_WITH_CUDA is set.
// Pointers are device pointers on `device`; work is queued on `stream` (a cudaStream_t as an integer, 0 = legacy
// default stream) and not waited for. `status` points to one device uint64 initialised to all ones; the kernel
// lowers it to index * 16 + code * 4 + arg for the first bad element (code 1: non-finite input, 2: CDF target
// outside (0, 1); arg as in kernels_cpu.hpp). Each launcher returns a CUDA error message, empty on success.
#pragma once

#include <cstdint>
#include <string>

namespace dgmlab {
namespace kernels {

// The CUDA kernels keep a thread's components in local arrays of this size.
constexpr int kCudaMaxComponents = 64;

std::string mixlogistic_inverse_cuda(int device, std::uintptr_t stream, bool is_double, const void* targets,
                                     const void* logits, const void* means, const void* log_scales, void* x,
                                     std::uint64_t* status, std::int64_t n, int K, double tol, bool newton,
                                     bool logit_form);

std::string mixlogistic_forward_cuda(int device, std::uintptr_t stream, bool is_double, const void* x,
                                     const void* logits, const void* means, const void* log_scales, void* value,
                                     void* log_derivative, std::uint64_t* status, std::int64_t n, int K,
                                     bool logit_form);

}  // namespace kernels
}  // namespace dgmlab
