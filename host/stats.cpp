// Stats over every float dataset; NaN is counted and reported here, not an error.
#include "host/stats.hpp"

#include <cmath>

#include "common/errors.hpp"
#include "common/interrupt.hpp"
#include "kernels/backend.hpp"
#include "kernels/keys.hpp"

namespace h5p {

StatsResult run_stats(const std::string& path, const Selection& selection, std::uint64_t memory_limit,
                      int threads) {
  validate_selection(selection);
  h5::Handle file = h5::open_input(path);
  const Plan plan = make_plan(file, selection);
  auto backend = make_cpu_backend(threads);
  StatsResult out;
  std::vector<unsigned char> buf;
  for (const h5::DatasetInfo& d : plan.datasets) {
    if (!d.float_type) {
      ++out.other_datasets;
      continue;
    }
    StatsRow row;
    row.path = d.path;
    row.dtype = *d.float_type;
    row.shape = d.shape;
    row.selected = is_selected(d, selection);
    row.n = h5::element_count(d.shape);
    h5::Handle ds = h5::dataset_handle(H5Dopen2(file, d.path.c_str(), H5P_DEFAULT));
    h5::Handle dcpl = h5::plist_handle(H5Dget_create_plist(ds));
    if (auto bad = h5::unusable_filter(dcpl))
      throw InputError("dataset " + d.path + " in '" + path + "' uses filter " + *bad +
                       ", which this HDF5 library cannot decode");
    const std::size_t esize = dtype_size(row.dtype);
    TensorScan total;
    for (const h5::Slab& slab : h5::plan_slabs(d.shape, std::max<std::size_t>(1, memory_limit / 2 / esize))) {
      check_interrupt();
      buf.resize(slab.n * esize);
      h5::read_slab(ds, h5::memory_type(row.dtype), slab, buf.data(), path, d.path);
      const TensorScan s = backend->scan(ConstTensor{row.dtype, buf.data(), slab.n});
      total.nan += s.nan;
      total.zeros += s.zeros;
      total.min_abs_key = std::min(total.min_abs_key, s.min_abs_key);
      total.max_abs_key = std::max(total.max_abs_key, s.max_abs_key);
      total.sum_abs += s.sum_abs;
      total.sum_sq += s.sum_sq;
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
    out.total_n += row.n;
    out.total_zeros += row.zeros;
    out.tensors.push_back(std::move(row));
  }
  return out;
}

}  // namespace h5p
