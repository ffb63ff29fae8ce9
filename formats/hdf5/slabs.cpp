// Row-major slab planning: whole leading-axis blocks when they fit, finer splits otherwise.
#include "formats/hdf5/slabs.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "common/errors.hpp"

namespace h5p::h5 {

std::size_t element_count(const std::vector<hsize_t>& shape) {
  std::size_t n = 1;
  for (hsize_t d : shape) n *= static_cast<std::size_t>(d);
  return n;
}

std::optional<std::uint64_t> checked_element_count(const std::vector<hsize_t>& shape) {
  std::uint64_t n = 1;
  for (hsize_t d : shape)
    if (__builtin_mul_overflow(n, static_cast<std::uint64_t>(d), &n)) return std::nullopt;
  return n;
}

namespace {
std::string shape_text(const std::vector<hsize_t>& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + ")";
}
}  // namespace

std::string implausible_size(const std::vector<hsize_t>& shape, std::size_t esize) {
  const auto n = checked_element_count(shape);
  std::uint64_t bytes = 0;
  if (!n || __builtin_mul_overflow(*n, static_cast<std::uint64_t>(esize), &bytes))
    return "declares shape " + shape_text(shape) + ", more elements than fit in 64 bits";
  if (bytes > kMaxDatasetBytes)
    return "declares shape " + shape_text(shape) + ", " + std::to_string(bytes) + " bytes, more than the 1 PiB h5prune handles";
  return "";
}

std::vector<Slab> plan_slabs(const std::vector<hsize_t>& shape, std::size_t max_elems) {
  if (max_elems == 0) throw std::invalid_argument("plan_slabs: max_elems must be positive");
  const std::size_t rank = shape.size();
  const std::size_t n = element_count(shape);
  std::vector<Slab> slabs;
  if (n == 0) return slabs;
  if (rank == 0 || n <= max_elems) {
    slabs.push_back({std::vector<hsize_t>(rank, 0), shape, 0, n});
    return slabs;
  }
  // inner[j]: elements in one index step of axis j. Split the first axis whose step fits.
  std::vector<std::size_t> inner(rank, 1);
  for (std::size_t j = rank - 1; j > 0; --j) inner[j - 1] = inner[j] * shape[j];
  std::size_t axis = 0;
  while (inner[axis] > max_elems) ++axis;  // inner[rank-1] == 1 <= max_elems ends the loop
  const hsize_t step = std::min<hsize_t>(shape[axis], max_elems / inner[axis]);
  // Count before building: the plan itself must not be what exhausts memory.
  long double count = static_cast<long double>((shape[axis] + step - 1) / step);
  for (std::size_t j = 0; j < axis; ++j) count *= static_cast<long double>(shape[j]);
  if (count > static_cast<long double>(kMaxSlabs))
    throw InputError("a dataset of shape " + shape_text(shape) + " would need more than " + std::to_string(kMaxSlabs) +
                     " slabs of " + std::to_string(max_elems) + " elements; raise --memory-limit");

  std::vector<hsize_t> index(axis, 0);  // current position on the axes before `axis`
  std::size_t flat = 0;
  while (true) {
    for (hsize_t start = 0; start < shape[axis]; start += step) {
      Slab s;
      s.offset.assign(rank, 0);
      s.count.assign(shape.begin(), shape.end());
      for (std::size_t j = 0; j < axis; ++j) {
        s.offset[j] = index[j];
        s.count[j] = 1;
      }
      s.offset[axis] = start;
      s.count[axis] = std::min<hsize_t>(step, shape[axis] - start);
      s.flat_begin = flat;
      s.n = static_cast<std::size_t>(s.count[axis]) * inner[axis];
      flat += s.n;
      slabs.push_back(std::move(s));
    }
    // Advance the odometer over the leading axes.
    std::size_t j = axis;
    while (j > 0) {
      --j;
      if (++index[j] < shape[j]) break;
      index[j] = 0;
      if (j == 0) return slabs;
    }
    if (axis == 0) return slabs;
  }
}

std::vector<Slab> split_leading(const Slab& slab, const std::vector<hsize_t>& shape, std::size_t max_elems) {
  const std::size_t rank = shape.size();
  if (rank == 0 || slab.count.size() != rank || slab.offset.size() != rank || slab.n == 0) return {slab};
  std::size_t row = 1;  // elements per index of the first axis
  for (std::size_t d = 1; d < rank; ++d) {
    if (slab.offset[d] != 0 || slab.count[d] != shape[d]) return {slab};
    row *= static_cast<std::size_t>(shape[d]);
  }
  const hsize_t step = std::max<hsize_t>(1, static_cast<hsize_t>(max_elems / row));
  if (step >= slab.count[0]) return {slab};
  std::vector<Slab> parts;
  for (hsize_t at = 0; at < slab.count[0]; at += step) {
    Slab part = slab;
    part.offset[0] = slab.offset[0] + at;
    part.count[0] = std::min(step, slab.count[0] - at);
    part.flat_begin = slab.flat_begin + static_cast<std::size_t>(at) * row;
    part.n = static_cast<std::size_t>(part.count[0]) * row;
    parts.push_back(std::move(part));
  }
  return parts;
}

}  // namespace h5p::h5
