// Tensor selection. A dataset is a tensor when it is an IEEE float of 2, 4 or 8 bytes, not
// optimizer state (unless --include-optimizer), its rank is >= min_ndim, it is not a bias
// (unless --include names it), it matches --include (if any) and not --exclude.
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

SelectReason selection_reason(const h5::DatasetInfo& d, const Selection& s, const FileLayout& layout) {
  if (!d.float_type) return SelectReason::dtype;
  if (!s.include_optimizer && is_optimizer_state(layout, d.path)) return SelectReason::optimizer;
  if (static_cast<int>(d.shape.size()) < s.min_ndim) return SelectReason::rank;
  // A bias is taken only when --include names it: an explicit choice of paths, recorded in the rule.
  if (!s.include && !bias_reason(layout, d.path).empty()) return SelectReason::bias;
  if (s.include && !PathRegex(*s.include, "--include").search(d.path)) return SelectReason::include;
  if (s.exclude && PathRegex(*s.exclude, "--exclude").search(d.path)) return SelectReason::exclude;
  return SelectReason::selected;
}

bool is_selected(const h5::DatasetInfo& d, const Selection& s, const FileLayout& layout) {
  return selection_reason(d, s, layout) == SelectReason::selected;
}

const char* reason_code(SelectReason r) {
  switch (r) {
    case SelectReason::selected: return "selected";
    case SelectReason::dtype: return "dtype";
    case SelectReason::optimizer: return "optimizer";
    case SelectReason::rank: return "rank";
    case SelectReason::bias: return "bias";
    case SelectReason::include: return "include";
    case SelectReason::exclude: return "exclude";
  }
  return "selected";
}

std::string reason_text(SelectReason r, const h5::DatasetInfo& d, const Selection& s, const FileLayout& layout) {
  switch (r) {
    case SelectReason::selected: return "selected";
    case SelectReason::dtype: return "not float16/32/64 (" + d.type_name + ")";
    case SelectReason::optimizer:
      return std::string("optimizer state (") + framework_name(layout.framework) + " " + layout.optimizer_prefix +
             "; --include-optimizer takes it)";
    case SelectReason::rank:
      return "rank " + std::to_string(d.shape.size()) + " < --min-ndim " + std::to_string(s.min_ndim);
    case SelectReason::bias: return bias_reason(layout, d.path);
    case SelectReason::include: return "not matched by --include";
    case SelectReason::exclude: return "matched by --exclude";
  }
  return "";
}

Plan make_plan(hid_t file, const Selection& s) {
  Plan plan;
  plan.datasets = h5::list_datasets(file);
  plan.layout = detect_layout(file, plan.datasets);
  for (const auto& d : plan.datasets) {
    if (!is_selected(d, s, plan.layout)) continue;
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
