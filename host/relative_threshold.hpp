// --threshold-rel R: the boundary R x max|w| of one tensor, compared exactly (hls4ml's pruning
// rule, without the float rounding of R * max).
#pragma once
#include <cstdint>

#include "host/rule.hpp"
#include "kernels/dtype.hpp"

namespace h5p {

// The smallest key (width w) whose magnitude is >= R x value(max_key), in exact rational
// arithmetic: apply() with this K prunes exactly the weights with |w| < R x max|w|. R >= 0;
// max_key is the tensor's largest non-NaN key (Inf: every finite weight is below when R > 0).
std::uint64_t relative_threshold_key(KeyWidth w, std::uint64_t max_key, const Decimal& r);

// Whether value(key) == R x value(max_key) exactly (then the weights at K are ties at the boundary).
bool equals_relative_threshold(KeyWidth w, std::uint64_t key, std::uint64_t max_key, const Decimal& r);

}  // namespace h5p
