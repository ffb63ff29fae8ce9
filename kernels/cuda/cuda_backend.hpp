// The CUDA backend's factory, in plain C++ (no CUDA types): the pipeline picks it with
// --backend cuda, or auto when a device is found.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

#include "kernels/backend.hpp"

namespace h5p {

struct CudaBackendOptions {
  // Device memory the backend may hold for data and scratch; 0 means half of the free memory
  // of device 0 when the backend starts. Tensors larger than this are processed in chunks.
  std::uint64_t device_memory_limit = 0;
  // Calls on fewer elements run on the host (the CPU backend, same bits): for a small tensor
  // the copies, launches and synchronisation cost more than the work. 0 sends everything to
  // the device (the tests do, to exercise the kernels at every size).
  std::size_t host_below = std::size_t{1} << 16;
  int host_threads = 0;  // threads for the host's share (0: all cores), as --threads
  // For the tests, so that every card takes the histogram's rarer paths: at most this many
  // thread blocks per digit histogram (0: as many as are resident; fewer blocks means more
  // tiles each), and per-block rows in global memory instead of shared-memory counters.
  unsigned histogram_max_blocks = 0;
  bool histogram_in_rows = false;
};

// Throws UsageError naming the reason when there is no usable device (or no CUDA in this build).
std::unique_ptr<Backend> make_cuda_backend(const CudaBackendOptions& options);

}  // namespace h5p
