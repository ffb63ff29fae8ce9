// The out-of-line thrower behind H5P_CUDA_TRY.
#include <string>

#include "common/errors.hpp"
#include "kernels/cuda/cuda_check.cuh"

namespace h5p::cuda {

void throw_cuda_error(cudaError_t err, const char* call, const char* file, int line) {
  cudaGetLastError();  // clear a non-sticky error so later calls are not blamed for it
  throw DeviceError(std::string("CUDA error ") + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ") in " +
                    call + " at " + file + ":" + std::to_string(line));
}

}  // namespace h5p::cuda
