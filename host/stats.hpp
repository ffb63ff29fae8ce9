// `stats`: per-tensor counts and magnitudes of every float dataset, streamed in slabs.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "host/plan.hpp"

namespace h5p {

struct StatsRow {
  std::string path;
  DType dtype;
  std::vector<hsize_t> shape;
  std::uint64_t n = 0, zeros = 0, nan = 0;
  double min_abs = 0, max_abs = 0, mean_abs = 0, l2 = 0;
  bool selected = false;
  SelectReason reason = SelectReason::selected;  // why it is (not) selected
  std::string reason_text;                       // the same for people
  std::string format = "dense";  // or the sparse layout of an h5prune group (csr, coo, bitmask, nm)
  std::uint64_t stored = 0;      // sparse layouts: values stored
  double sparsity() const { return n ? static_cast<double>(zeros) / static_cast<double>(n) : 0.0; }
};

// A dataset that is not a float tensor: listed with its type, never selected.
struct OtherDataset {
  std::string path;
  std::string type_name;
  std::vector<hsize_t> shape;
};

struct StatsResult {
  std::vector<StatsRow> tensors;    // float datasets, path order
  std::uint64_t other_datasets = 0;  // non-float datasets (copied unchanged by prune)
  std::vector<OtherDataset> others;  // the same, path order
  FileLayout layout;                 // the framework layout the file was recognised as
  std::uint64_t total_n = 0, total_zeros = 0;
};

StatsResult run_stats(const std::string& path, const Selection& selection, std::uint64_t memory_limit, int threads);

}  // namespace h5p
