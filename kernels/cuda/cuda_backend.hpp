// The CUDA backend's factory, in plain C++ (no CUDA types): the pipeline picks it with
// --backend cuda, or auto when a device is found.
#pragma once
#include <cstdint>
#include <memory>

#include "kernels/backend.hpp"

namespace h5p {

struct CudaBackendOptions {
  // Device memory the backend may hold for data and scratch; 0 means half of the free memory
  // of device 0 when the backend starts. Tensors larger than this are processed in chunks.
  std::uint64_t device_memory_limit = 0;
};

// Throws UsageError naming the reason when there is no usable device (or no CUDA in this build).
std::unique_ptr<Backend> make_cuda_backend(const CudaBackendOptions& options);

}  // namespace h5p
