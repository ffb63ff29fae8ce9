// Thread and warp helpers shared by the kernels: indices, and the warp reductions whose order
// kernels/lane_sum.hpp fixes for both backends.
#pragma once
#include <cstddef>

namespace h5p::cuda {

constexpr unsigned kFullWarp = 0xFFFFFFFFu;  // every lane takes part

__device__ __forceinline__ std::size_t global_thread() { return blockIdx.x * std::size_t{blockDim.x} + threadIdx.x; }
__device__ __forceinline__ std::size_t global_warp() { return global_thread() / 32; }
__device__ __forceinline__ unsigned lane_id() { return threadIdx.x & 31u; }

// Lane 0 ends with the warp's total (integer: the order does not matter).
__device__ __forceinline__ unsigned long long warp_sum(unsigned long long v) {
  for (int half = 16; half > 0; half /= 2) v += __shfl_down_sync(kFullWarp, v, half);
  return v;
}

// The lane fold of kernels/lane_sum.hpp: lane 0 ends with ((l0 + l16) + (l8 + l24)) + ...
// Explicit round-to-nearest adds, so the compiler cannot fuse them with a multiply.
__device__ __forceinline__ double warp_fold(double v) {
  for (int half = 16; half > 0; half /= 2) v = __dadd_rn(v, __shfl_down_sync(kFullWarp, v, half));
  return v;
}

}  // namespace h5p::cuda
