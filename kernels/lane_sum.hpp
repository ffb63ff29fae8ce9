// The one summation order every backend follows for sums of squares and magnitudes, so that
// reports are identical on the CPU and the GPU: within a block, element o (counted from the
// block's start) adds into lane o % 32 in position order; the 32 lanes then fold in halves
// (lane j += lane j + 16, then + 8, 4, 2, 1), which is what a CUDA warp's shuffle-down
// reduction computes. Block results are added in block order by the caller.
#pragma once
#include <cstddef>

namespace h5p {

constexpr std::size_t kSumLanes = 32;

// Sum of value(i) for i in [begin, end) in the lane order above. Always inlined: the CPU
// backend's AVX2 copy passes lambdas built for AVX2, which GCC will not inline into a function
// built for the baseline; without this, value() was a call per element (a third of a scan).
template <typename F>
[[gnu::always_inline]] inline double lane_sum(std::size_t begin, std::size_t end, F&& value) {
  double lane[kSumLanes] = {};
  std::size_t i = begin;
  for (; i + kSumLanes <= end; i += kSumLanes) {
    // The values first, then one add per lane: the same additions, in a shape GCC vectorises
    // (the lanes stay in vector registers instead of a store and a load per element).
    double v[kSumLanes];
    for (std::size_t j = 0; j < kSumLanes; ++j) v[j] = value(i + j);
    for (std::size_t j = 0; j < kSumLanes; ++j) lane[j] += v[j];
  }
  for (std::size_t j = 0; i + j < end; ++j) lane[j] += value(i + j);
  for (std::size_t half = kSumLanes / 2; half > 0; half /= 2)
    for (std::size_t j = 0; j < half; ++j) lane[j] += lane[j + half];
  return lane[0];
}

// x, or 0.0 for a NaN (which adds nothing to the sums). A compare of x with itself, not isnan()
// or a test of the key: GCC vectorises a lane_sum over this form, and kept the others scalar.
[[gnu::always_inline]] inline double nan_to_zero(double x) { return x == x ? x : 0.0; }

}  // namespace h5p
