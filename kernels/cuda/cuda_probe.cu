// Device discovery through the CUDA runtime; compiled only when nvcc is found.
#include <cuda_runtime.h>

#include "kernels/cuda/cuda_probe.hpp"

namespace h5p {

CudaProbe probe_cuda() {
  CudaProbe p;
  p.compiled = true;
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    p.reason = cudaGetErrorString(err);
    cudaGetLastError();  // clear the sticky error
    return p;
  }
  if (count == 0) {
    p.reason = "no CUDA device found";
    return p;
  }
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) p.first_device = prop.name;
  p.devices = count;
  return p;
}

}  // namespace h5p
