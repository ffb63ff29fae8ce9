// Stats over every float dataset, and over every sparse layout group h5prune wrote (read back
// as the dense tensor it stands for); NaN is counted and reported here, not an error.
#include "host/stats.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include "common/errors.hpp"
#include "common/interrupt.hpp"
#include "formats/sparse/reader.hpp"
#include "kernels/backend.hpp"
#include "kernels/keys.hpp"
#include "host/input_check.hpp"

namespace h5p {
namespace {

// Scans the slabs read_slab(slab, buffer) provides and fills the row's statistics.
template <typename ReadSlab>
void scan_tensor(Backend& backend, StatsRow& row, std::uint64_t memory_limit, ReadSlab&& read_slab) {
  const std::size_t esize = dtype_size(row.dtype);
  std::vector<unsigned char> buf;
  TensorScan total;
  for (const h5::Slab& slab : h5::plan_slabs(row.shape, std::max<std::size_t>(1, memory_limit / 2 / esize))) {
    check_interrupt();
    buf.resize(slab.n * esize);
    read_slab(slab, buf.data());
    total.add(backend.scan(ConstTensor{row.dtype, buf.data(), slab.n}));
  }
  const KeyWidth w = native_key_width(row.dtype);
  row.zeros = total.zeros;
  row.nan = total.nan;
  const std::uint64_t finite_count = row.n - row.nan;
  if (finite_count > 0) {
    row.min_abs = key_value(w, total.min_abs_key);
    row.max_abs = key_value(w, total.max_abs_key);
    row.mean_abs = total.sum_abs / static_cast<double>(finite_count);
  }
  row.l2 = std::sqrt(total.sum_sq);
}

std::string parent_of(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

}  // namespace

StatsResult run_stats(const std::string& path, const Selection& selection, std::uint64_t memory_limit,
                      int threads) {
  validate_selection(selection);
  h5::Handle file = open_checked_input(path);
  const Plan plan = make_plan(file, selection);
  auto backend = make_cpu_backend(threads);
  StatsResult out;
  out.layout = plan.layout;
  std::map<std::string, bool> layout_group;  // parent path -> is a layout group
  std::map<std::string, bool> layout_done;
  for (const h5::DatasetInfo& d : plan.datasets) {
    // The datasets of a layout group make one row: the dense tensor they encode.
    const std::string parent = parent_of(d.path);
    auto it = layout_group.find(parent);
    if (it == layout_group.end()) it = layout_group.emplace(parent, sparse::is_layout_group(file, parent)).first;
    if (it->second) {
      if (layout_done[parent]) continue;
      layout_done[parent] = true;
      h5::Handle g = h5::group_handle(H5Gopen2(file, parent.c_str(), H5P_DEFAULT));
      const sparse::LayoutInfo info = sparse::read_layout(g, path, parent);
      StatsRow row;
      row.path = parent;
      row.dtype = info.dtype;
      row.shape = info.shape;
      row.n = info.n;
      row.format = sparse::format_name(info.format);
      row.stored = info.nnz;
      h5::DatasetInfo as_dense{parent, info.shape, info.dtype, std::string(dtype_name(info.dtype))};
      row.reason = selection_reason(as_dense, selection, plan.layout);
      row.reason_text = reason_text(row.reason, as_dense, selection, plan.layout);
      row.selected = row.reason == SelectReason::selected;
      sparse::DenseReader reader(g, info, std::max<std::size_t>(4096, memory_limit / 4 / (dtype_size(info.dtype) + 8)),
                                 path, parent);
      scan_tensor(*backend, row, memory_limit,
                  [&](const h5::Slab& slab, void* buf) { reader.read(slab.flat_begin, slab.n, buf); });
      out.total_n += row.n;
      out.total_zeros += row.zeros;
      out.tensors.push_back(std::move(row));
      continue;
    }
    if (!d.float_type) {
      ++out.other_datasets;
      out.others.push_back({d.path, d.type_name, d.shape});
      continue;
    }
    StatsRow row;
    row.path = d.path;
    row.dtype = *d.float_type;
    row.shape = d.shape;
    row.reason = selection_reason(d, selection, plan.layout);
    row.reason_text = reason_text(row.reason, d, selection, plan.layout);
    row.selected = row.reason == SelectReason::selected;
    row.n = h5::element_count(d.shape);
    h5::Handle ds = h5::dataset_handle(H5Dopen2(file, d.path.c_str(), H5P_DEFAULT));
    h5::require_decodable(ds, d.path, path);
    scan_tensor(*backend, row, memory_limit, [&](const h5::Slab& slab, void* buf) {
      h5::read_slab(ds, h5::memory_type(row.dtype), slab, buf, path, d.path);
    });
    out.total_n += row.n;
    out.total_zeros += row.zeros;
    out.tensors.push_back(std::move(row));
  }
  std::stable_sort(out.tensors.begin(), out.tensors.end(),
                   [](const StatsRow& a, const StatsRow& b) { return a.path < b.path; });
  return out;
}

}  // namespace h5p
