// Checked CUDA calls: H5P_CUDA_TRY throws h5p::DeviceError naming the call, file and line;
// the NOTHROW twin is for destructors, which must not throw.
#pragma once
#include <cuda_runtime.h>

namespace h5p::cuda {

[[noreturn]] void throw_cuda_error(cudaError_t err, const char* call, const char* file, int line);

inline void check(cudaError_t err, const char* call, const char* file, int line) {
  if (err != cudaSuccess) throw_cuda_error(err, call, file, line);
}

inline void check_nothrow(cudaError_t err) {
  if (err != cudaSuccess) cudaGetLastError();  // clear it; a destructor has no one to tell
}

}  // namespace h5p::cuda

#define H5P_CUDA_TRY(call) ::h5p::cuda::check((call), #call, __FILE__, __LINE__)
#define H5P_CUDA_TRY_NOTHROW(call) ::h5p::cuda::check_nothrow(call)
