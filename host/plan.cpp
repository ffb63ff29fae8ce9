// Tensor selection. A dataset is a tensor when it is an IEEE float of 2, 4 or 8 bytes,
// its rank is >= min_ndim, it matches --include (if any) and not --exclude.
#include "host/plan.hpp"

#include <algorithm>

#include "common/errors.hpp"
#include "host/path_regex.hpp"

namespace h5p {

void validate_selection(const Selection& s) {
  if (s.include) PathRegex(*s.include, "--include");
  if (s.exclude) PathRegex(*s.exclude, "--exclude");
  if (s.min_ndim < 0) throw UsageError("--min-ndim must be >= 0");
}

bool is_selected(const h5::DatasetInfo& d, const Selection& s) {
  if (!d.float_type) return false;
  if (static_cast<int>(d.shape.size()) < s.min_ndim) return false;
  if (s.include && !PathRegex(*s.include, "--include").search(d.path)) return false;
  if (s.exclude && PathRegex(*s.exclude, "--exclude").search(d.path)) return false;
  return true;
}

Plan make_plan(hid_t file, const Selection& s) {
  Plan plan;
  plan.datasets = h5::list_datasets(file);
  for (const auto& d : plan.datasets) {
    if (!is_selected(d, s)) continue;
    plan.tensors.push_back({d.path, *d.float_type, d.shape, h5::element_count(d.shape)});
  }
  // list_datasets sorts by std::string order, which compares bytes as unsigned char.
  return plan;
}

void require_decodable(hid_t file, const Plan& plan, const std::string& file_name) {
  for (const PlannedTensor& t : plan.tensors) {
    h5::Handle d = h5::dataset_handle(H5Dopen2(file, t.path.c_str(), H5P_DEFAULT));
    if (!d.valid()) throw InputError("cannot open dataset " + t.path + " in '" + file_name + "'");
    h5::require_decodable(d, t.path, file_name);
  }
}

std::uint64_t Plan::total_elements() const {
  std::uint64_t n = 0;
  for (const auto& t : tensors) n += t.n;
  return n;
}

std::uint64_t Plan::total_bytes() const {
  std::uint64_t b = 0;
  for (const auto& t : tensors) b += t.n * dtype_size(t.dtype);
  return b;
}

std::uint64_t Plan::largest_tensor_bytes() const {
  std::uint64_t b = 0;
  for (const auto& t : tensors) b = std::max<std::uint64_t>(b, t.n * dtype_size(t.dtype));
  return b;
}

}  // namespace h5p
