// Which tensors a run touches: float datasets filtered by rank and by include/exclude
// regexes on their full path, in the byte order of their paths (the tie order).
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "formats/hdf5/file.hpp"

namespace h5p {

struct Selection {
  std::optional<std::string> include;  // RE2 regex (host/path_regex), searched anywhere in the path
  std::optional<std::string> exclude;
  int min_ndim = 2;
};

struct PlannedTensor {
  std::string path;
  DType dtype;
  std::vector<hsize_t> shape;
  std::size_t n;
};

struct Plan {
  std::vector<PlannedTensor> tensors;    // selected, sorted by path bytes
  std::vector<h5::DatasetInfo> datasets;  // every dataset of the file, sorted by path
  std::uint64_t total_elements() const;
  std::uint64_t total_bytes() const;
  std::uint64_t largest_tensor_bytes() const;
};

// Validates the regexes (UsageError on a bad pattern).
void validate_selection(const Selection& s);

bool is_selected(const h5::DatasetInfo& d, const Selection& s);

Plan make_plan(hid_t file, const Selection& s);

// Throws InputError naming the dataset when a selected tensor uses a filter this HDF5
// library cannot decode (e.g. LZF or Blosc chunks written by h5py plugins).
void require_decodable(hid_t file, const Plan& plan, const std::string& file_name);

}  // namespace h5p
