// Stand-in for builds without the CUDA toolkit: no device can be used.
#include "kernels/cuda/cuda_probe.hpp"

namespace h5p {

CudaProbe probe_cuda() {
  CudaProbe p;
  p.reason = "built without CUDA";
  return p;
}

}  // namespace h5p
