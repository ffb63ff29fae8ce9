// Structured pruning's choice: of a tensor's slices along one axis, the k with the smallest
// exact Lp norms go, k = round_half_even(S x slices), equal norms taken lower index first.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/slice_norms.hpp"

namespace h5p {

// The slice indices to zero, ascending; k <= norms.slices().
std::vector<std::uint64_t> smallest_slices(const SliceNorms& norms, std::uint64_t k);

}  // namespace h5p
