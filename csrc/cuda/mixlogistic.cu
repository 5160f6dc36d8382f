// Logistic-mixture forward map and inverse on the GPU: one thread per element, the same header-only math
// (dgmlab/kernels/mixlogistic.hpp) as the CPU kernel, compiled with --fmad=false so both give the same bits.
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "dgmlab/kernels/mixlogistic.hpp"
#include "kernels_cuda.hpp"

namespace dgmlab {
namespace kernels {
namespace {

constexpr int kThreads = 256;

__device__ void report(std::uint64_t* status, std::int64_t i, int code, int arg) {
  atomicMin(reinterpret_cast<unsigned long long*>(status),
            static_cast<unsigned long long>(i) * 16ull + static_cast<unsigned long long>(code * 4 + arg));
}

// Grid-stride loop over the n elements. Element i's own input v = input[i] must be finite (and inside (0, 1) when
// `unit_interval`) and its mixture parameters valid; then body(i, v, c) runs with the mixture prepared in c, else
// fail(i) writes NaN outputs and the failure is reported.
template <class T, class Fail, class Body>
__device__ void for_each_element(const T* __restrict__ input, const T* __restrict__ logits,
                                 const T* __restrict__ means, const T* __restrict__ log_scales,
                                 std::uint64_t* status, std::int64_t n, int K, bool unit_interval, Fail fail,
                                 Body body) {
  double buf[4 * kCudaMaxComponents];
  const mixlogistic::Components c{K, buf, buf + K, buf + 2 * K, buf + 3 * K};
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const std::int64_t o = i * K;
    const double v = static_cast<double>(input[i]);
    int code = 0, arg = 0;
    if (!(v - v == 0.0)) {
      code = 1;
    } else if (unit_interval && !(v > 0.0 && v < 1.0)) {
      code = 2;
    } else if (const int bad = mixlogistic::prepare(logits + o, means + o, log_scales + o, c)) {
      code = 1;
      arg = bad;
    }
    if (code != 0) {
      fail(i);
      report(status, i, code, arg);
      continue;
    }
    body(i, v, c);
  }
}

template <class T>
__global__ void inverse_kernel(const T* __restrict__ targets, const T* __restrict__ logits,
                               const T* __restrict__ means, const T* __restrict__ log_scales, T* __restrict__ x,
                               std::uint64_t* status, std::int64_t n, int K, double tol, bool newton,
                               bool logit_form) {
  for_each_element(
      targets, logits, means, log_scales, status, n, K, !logit_form,
      [&](std::int64_t i) { x[i] = static_cast<T>(detmath::kNaN); },
      [&](std::int64_t i, double t, const mixlogistic::Components& c) {
        const double y = logit_form ? t : mixlogistic::logit(t);
        x[i] = static_cast<T>(mixlogistic::solve(y, c, tol, newton));
      });
}

template <class T>
__global__ void forward_kernel(const T* __restrict__ x, const T* __restrict__ logits, const T* __restrict__ means,
                               const T* __restrict__ log_scales, T* __restrict__ value,
                               T* __restrict__ log_derivative, std::uint64_t* status, std::int64_t n, int K,
                               bool logit_form) {
  for_each_element(
      x, logits, means, log_scales, status, n, K, false,
      [&](std::int64_t i) { value[i] = log_derivative[i] = static_cast<T>(detmath::kNaN); },
      [&](std::int64_t i, double xi, const mixlogistic::Components& c) {
        const mixlogistic::Forward r = mixlogistic::forward(xi, c, logit_form);
        value[i] = static_cast<T>(r.value);
        log_derivative[i] = static_cast<T>(r.log_derivative);
      });
}

// Runs launch() on `device` and restores the caller's current device.
template <class Launch>
std::string on_device(int device, Launch launch) {
  int previous = 0;
  cudaError_t err = cudaGetDevice(&previous);
  if (err == cudaSuccess) err = cudaSetDevice(device);
  if (err != cudaSuccess) return cudaGetErrorString(err);
  launch();
  err = cudaGetLastError();
  cudaSetDevice(previous);
  return err == cudaSuccess ? std::string() : std::string(cudaGetErrorString(err));
}

unsigned blocks_for(std::int64_t n) {
  const std::int64_t b = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(b < 65535 * 16 ? (b > 0 ? b : 1) : 65535 * 16);
}

}  // namespace

std::string mixlogistic_inverse_cuda(int device, std::uintptr_t stream, bool is_double, const void* targets,
                                     const void* logits, const void* means, const void* log_scales, void* x,
                                     std::uint64_t* status, std::int64_t n, int K, double tol, bool newton,
                                     bool logit_form) {
  const cudaStream_t s = reinterpret_cast<cudaStream_t>(stream);
  return on_device(device, [&] {
    if (is_double)
      inverse_kernel<double><<<blocks_for(n), kThreads, 0, s>>>(
          static_cast<const double*>(targets), static_cast<const double*>(logits),
          static_cast<const double*>(means), static_cast<const double*>(log_scales), static_cast<double*>(x),
          status, n, K, tol, newton, logit_form);
    else
      inverse_kernel<float><<<blocks_for(n), kThreads, 0, s>>>(
          static_cast<const float*>(targets), static_cast<const float*>(logits), static_cast<const float*>(means),
          static_cast<const float*>(log_scales), static_cast<float*>(x), status, n, K, tol, newton, logit_form);
  });
}

std::string mixlogistic_forward_cuda(int device, std::uintptr_t stream, bool is_double, const void* x,
                                     const void* logits, const void* means, const void* log_scales, void* value,
                                     void* log_derivative, std::uint64_t* status, std::int64_t n, int K,
                                     bool logit_form) {
  const cudaStream_t s = reinterpret_cast<cudaStream_t>(stream);
  return on_device(device, [&] {
    if (is_double)
      forward_kernel<double><<<blocks_for(n), kThreads, 0, s>>>(
          static_cast<const double*>(x), static_cast<const double*>(logits), static_cast<const double*>(means),
          static_cast<const double*>(log_scales), static_cast<double*>(value), static_cast<double*>(log_derivative),
          status, n, K, logit_form);
    else
      forward_kernel<float><<<blocks_for(n), kThreads, 0, s>>>(
          static_cast<const float*>(x), static_cast<const float*>(logits), static_cast<const float*>(means),
          static_cast<const float*>(log_scales), static_cast<float*>(value), static_cast<float*>(log_derivative),
          status, n, K, logit_form);
  });
}

}  // namespace kernels
}  // namespace dgmlab
