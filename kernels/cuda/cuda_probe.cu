// Device discovery through the CUDA runtime; compiled only when nvcc is found.
#include <cuda_runtime.h>

#include <string>

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
  if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) {
    p.reason = "cannot read the properties of CUDA device 0";
    cudaGetLastError();
    return p;
  }
  p.first_device = prop.name;
  // The kernels are built for compute capability 8.0 and 9.0 (with PTX for newer devices) and
  // use sm_80 features; an older device cannot run them.
  if (prop.major < 8) {
    p.reason = std::string("CUDA device 0 (") + prop.name + ") has compute capability " + std::to_string(prop.major) +
               "." + std::to_string(prop.minor) + "; h5prune's kernels need 8.0 or newer";
    return p;
  }
  p.devices = count;
  return p;
}

}  // namespace h5p
