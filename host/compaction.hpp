// Writes one pruned tensor as a sparse layout group (csr, coo, bitmask, nm): counts the
// survivors, creates the group's datasets with the smallest index dtypes, then compacts the
// pruned slabs in position order through the backend and appends them.
#pragma once
#include <hdf5.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "formats/sparse/layout.hpp"
#include "kernels/backend.hpp"

namespace h5p {

// Visits the pruned tensor's slabs in position order as (values, flat position of the first).
using SlabVisitor = std::function<void(MutTensor slab, std::uint64_t flat_begin)>;

struct CompactionJob {
  std::string path;      // tensor path, for messages
  std::string out_file;  // for messages
  DType dtype = DType::f32;
  std::vector<hsize_t> shape;
  std::uint64_t n = 0;
  sparse::Format format = sparse::Format::csr;
  bool compress = false;
  std::uint64_t limit32 = sparse::kNoLimit;  // see sparse::unsigned_index_type
  unsigned nm_keep = 0, nm_group = 0;        // the rule was --nm N:M when nm_group > 0
  std::size_t piece_elements = 1 << 20;      // elements compacted at once (bounds the buffers)
  // Runs the visitor over the pruned tensor. The first run prunes (and takes the statistics);
  // each further run must give the same values (re-read and re-pruned when streamed).
  std::function<void(const SlabVisitor&)> for_each_pruned_slab;
};

struct CompactionResult {
  std::uint64_t stored = 0;  // values stored (survivors; for nm, N per group)
};

// Creates the layout group `name` in out_group (link properties lcpl) for the tensor read
// from source_dataset; the source's attributes are copied onto the group first.
CompactionResult write_compacted(Backend& backend, const CompactionJob& job, hid_t source_dataset,
                                 const std::string& in_file, hid_t out_group, const std::string& name, hid_t lcpl);

// Break-even density of a format for this tensor, uncompressed: above it the layout takes more
// bytes than the dense tensor. Negative when the format has none (dense, nm).
double break_even_density(sparse::Format f, DType dtype, const std::vector<hsize_t>& shape,
                          std::uint64_t limit32 = sparse::kNoLimit);

}  // namespace h5p
