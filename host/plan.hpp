// Which tensors a run touches: float datasets that are not optimizer state, filtered by rank
// and by include/exclude regexes on their full path, in the byte order of their paths (the tie order).
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "formats/hdf5/file.hpp"
#include "host/framework.hpp"

namespace h5p {

struct Selection {
  std::optional<std::string> include;  // RE2 regex (host/path_regex), searched anywhere in the path
  std::optional<std::string> exclude;
  int min_ndim = 2;
  bool include_optimizer = false;  // --include-optimizer: optimizer state may be selected too
};

// Why a dataset is or is not a tensor of the run, checked in this order.
enum class SelectReason { selected, dtype, optimizer, rank, bias, include, exclude };

// "selected", "dtype", "optimizer", "rank", "bias", "include", "exclude" (stats --json `reason`).
const char* reason_code(SelectReason r);

// One line for people: "not float16/32/64 (int64)", "optimizer state (keras2)", ...
std::string reason_text(SelectReason r, const h5::DatasetInfo& d, const Selection& s, const FileLayout& layout);

struct PlannedTensor {
  std::string path;
  DType dtype;
  std::vector<hsize_t> shape;
  std::size_t n;
};

struct Plan {
  std::vector<PlannedTensor> tensors;    // selected, sorted by path bytes
  std::vector<h5::DatasetInfo> datasets;  // every dataset of the file, sorted by path
  FileLayout layout;                      // the framework layout the file was recognised as
  std::uint64_t total_elements() const;
  std::uint64_t total_bytes() const;
  std::uint64_t largest_tensor_bytes() const;
};

// Validates the regexes (UsageError on a bad pattern).
void validate_selection(const Selection& s);

SelectReason selection_reason(const h5::DatasetInfo& d, const Selection& s, const FileLayout& layout);
bool is_selected(const h5::DatasetInfo& d, const Selection& s, const FileLayout& layout);

Plan make_plan(hid_t file, const Selection& s);

// Throws InputError naming the dataset when a selected tensor uses a filter this HDF5
// library cannot decode (e.g. LZF or Blosc chunks written by h5py plugins).
void require_decodable(hid_t file, const Plan& plan, const std::string& file_name);

}  // namespace h5p
