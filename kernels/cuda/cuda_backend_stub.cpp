// Stand-in for builds without the CUDA toolkit: asking for the CUDA backend is a usage error.
#include "common/errors.hpp"
#include "kernels/cuda/cuda_backend.hpp"

namespace h5p {

std::unique_ptr<Backend> make_cuda_backend(const CudaBackendOptions&) {
  throw UsageError("--backend cuda: this build of h5prune has no CUDA backend (built without the CUDA toolkit)");
}

}  // namespace h5p
