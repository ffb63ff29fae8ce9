// CPU kernels for sweeps: multi-prefix digit histograms and bucket tallies, so that every
// point of a sweep is answered from the same passes. The CpuBackend forwards to these.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/backend.hpp"

namespace h5p::cpu {

void histogram_multi(ConstTensor t, KeyWidth w, int shift, int bits, const std::vector<std::uint64_t>& prefixes,
                     std::uint64_t* hists, int threads);

void tally(ConstTensor t, KeyWidth w, const std::vector<std::uint64_t>& bounds, std::uint64_t* bucket_count,
           double* bucket_sum_sq, std::uint64_t* equal, int threads);

}  // namespace h5p::cpu
