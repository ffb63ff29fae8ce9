// What pruning did to each tensor and in total. `prune`'s summary and a registry manifest
// hold the same record, so one type serves both (no field-by-field copies between them).
#pragma once
#include <hdf5.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kernels/dtype.hpp"

namespace h5p {

struct TensorResult {
  std::string path;
  DType dtype = DType::f32;
  std::vector<hsize_t> shape;
  std::uint64_t n = 0;
  std::uint64_t zeros_before = 0;  // +0.0 and -0.0 in the input
  std::uint64_t pruned = 0;        // positions the rule set to +0.0 (already-zero ones included)
  std::uint64_t zeros_after = 0;   // +0.0 and -0.0 in the output
  std::optional<double> requested_sparsity;
  std::optional<int> axis;  // N:M: the axis the groups of M run along; structured: the axis cut into slices
  int norm_p = 0;           // structured: 1 or 2 (L1, L2); 0 for the other rules
  std::uint64_t slices = 0;                    // structured: slices along the axis
  std::vector<std::uint64_t> removed_slices;   // structured: the zeroed slices, ascending
  double threshold = 0.0;  // magnitude boundary K as a float64
  std::uint64_t ties = 0;  // elements with |w| == K
  std::uint64_t ties_pruned = 0;
  double sum_sq_before = 0.0;
  double sum_sq_after = 0.0;
  // Known to the run that wrote the output only (a manifest does not record them).
  std::uint64_t bytes_before = 0;  // storage bytes of the tensor in the input file
  std::uint64_t bytes_after = 0;   // storage bytes of what replaces it in the output (all datasets)
  std::uint64_t stored = 0;        // sparse formats: values stored
  double break_even = -1.0;        // sparse formats: density above which the layout beats dense (< 0: none)

  double sparsity() const { return n ? static_cast<double>(pruned) / static_cast<double>(n) : 0.0; }
  double retained_l2() const;
  std::uint64_t newly_zeroed() const { return zeros_after - zeros_before; }  // nonzero before, zero now
};

// Sums over all tensors of one output.
struct PruneTotals {
  std::uint64_t n = 0;
  std::uint64_t pruned = 0;
  std::uint64_t zeros_before = 0;
  std::uint64_t zeros_after = 0;
  double sum_sq_before = 0.0;
  double sum_sq_after = 0.0;

  std::uint64_t newly_zeroed() const { return zeros_after - zeros_before; }
  void add(const TensorResult& t);
  double sparsity() const { return n ? static_cast<double>(pruned) / static_cast<double>(n) : 0.0; }
  double retained_l2() const;
};

// The fraction of the L2 norm that survives: sqrt(after / before), 1 for an all-zero tensor.
double retained_l2(double sum_sq_before, double sum_sq_after);

// "float16" | "float32" | "float64" back to the type; nullopt for anything else.
std::optional<DType> dtype_from_name(const std::string& name);

}  // namespace h5p
