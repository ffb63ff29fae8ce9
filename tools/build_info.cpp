// What this binary is: version, git revision, and whether CUDA support was compiled in.
#include "kernels/cuda/cuda_probe.hpp"
#include "tools/commands.hpp"
#include "tools/version.hpp"

namespace h5p::cli {

bool built_with_cuda() {
#ifdef H5P_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

std::string build_description() {
  std::string s = std::string(H5PRUNE_VERSION) + " (git " + H5PRUNE_GIT_REVISION + ", CUDA " +
                  (built_with_cuda() ? "yes" : "no");
  if (built_with_cuda()) {
    const CudaProbe p = probe_cuda();
    s += p.devices > 0 ? ", device: " + p.first_device : ", no device: " + p.reason;
  }
  return s + ")";
}

}  // namespace h5p::cli
