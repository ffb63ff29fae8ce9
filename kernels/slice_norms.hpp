// Exact Lp norms of a tensor's slices for structured pruning. Each slice's sum of |w| (p = 1)
// or of w^2 (p = 2) is held as an exact fixed-point integer, so slices compare exactly: no
// summation order (threads, blocks, slabs, backends) can change which slices are pruned.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/dtype.hpp"

namespace h5p {

class SliceNorms {
 public:
  // p is 1 or 2; std::invalid_argument otherwise.
  SliceNorms(DType dtype, int p, std::size_t slices);

  // Adds one element, given by its IEEE bits in the dtype, to slice s (an infinity makes the
  // slice's norm infinite; NaN is rejected before structured pruning runs).
  void add_bits(std::size_t s, std::uint64_t bits);
  // Adds another accumulator of the same dtype, p and slice count (exact, in any order).
  void merge(const SliceNorms& other);

  // <0, 0, >0 as the exact norm of slice a is below, equal to or above that of slice b
  // (infinite norms are equal to each other).
  int compare(std::size_t a, std::size_t b) const;
  // The norm (the p-th root of the sum) rounded to a float64, for reports only.
  double value(std::size_t s) const;

  std::size_t slices() const { return slices_; }
  DType dtype() const { return dtype_; }
  int p() const { return p_; }

 private:
  DType dtype_;
  int p_;
  std::size_t slices_;
  int frac_bits_;         // stored fraction bits of the dtype (10, 23, 52)
  std::uint64_t exp_mask_;
  std::size_t limbs_;     // 64-bit words per slice, least significant first
  std::vector<std::uint64_t> acc_;  // slices_ x limbs_: the sum in units of the smallest subnormal (^p)
  std::vector<std::uint64_t> inf_;  // infinities per slice
};

// Slice geometry of a row-major tensor cut along one axis: `slices` = its extent, `inner` =
// the product of the extents after it; element f (flat) lies in slice (f / inner) % slices.
struct SliceAxis {
  std::size_t slices = 1;
  std::size_t inner = 1;
};

}  // namespace h5p
