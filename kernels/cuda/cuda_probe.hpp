// Plain C++ view of the CUDA devices this process can use (no CUDA types in this header).
#pragma once
#include <string>

namespace h5p {

struct CudaProbe {
  bool compiled = false;  // built with the CUDA toolkit (H5P_HAVE_CUDA)
  int devices = 0;        // usable devices; 0 when the driver or device is missing or too old
  std::string first_device;
  std::string reason;     // why there is no device, when devices == 0
};

// Any error from the runtime (e.g. "driver version is insufficient" on a build machine
// with the toolkit but no driver) means "no device".
CudaProbe probe_cuda();

}  // namespace h5p
