// CPU structured-pruning kernels (OpenMP); the CpuBackend forwards its entry points here.
// Semantics are those documented in kernels/backend.hpp.
#pragma once
#include <cstdint>

#include "kernels/backend.hpp"

namespace h5p::cpu {

void slice_norms(ConstTensor t, std::uint64_t begin, SliceAxis axis, SliceNorms& norms, int threads);
NmResult zero_slices(MutTensor t, std::uint64_t begin, SliceAxis axis, const std::uint8_t* drop, int threads);

}  // namespace h5p::cpu
