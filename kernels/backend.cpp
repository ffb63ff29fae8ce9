// What only backends that work in host memory do: gathering keys into a host vector. A device
// backend keeps its radix passes (histograms digit by digit, then tie counts) instead.
#include "kernels/backend.hpp"

#include <stdexcept>

namespace h5p {

TensorScan Backend::scan_gather(ConstTensor, KeyWidth, KeyGather&, double) {
  throw std::logic_error("the " + name() + " backend does not gather keys");
}

void Backend::gather_keys(ConstTensor, KeyWidth, KeyGather&) {
  throw std::logic_error("the " + name() + " backend does not gather keys");
}

}  // namespace h5p
