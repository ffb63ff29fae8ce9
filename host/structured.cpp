// Structured pruning's choice of slices: a stable order by exact norm, then slice index.
#include "host/structured.hpp"

#include <algorithm>
#include <numeric>

namespace h5p {

std::vector<std::uint64_t> smallest_slices(const SliceNorms& norms, std::uint64_t k) {
  std::vector<std::uint64_t> order(norms.slices());
  std::iota(order.begin(), order.end(), std::uint64_t{0});
  const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(k, order.size()));
  // Lower index first among equal norms: a strict weak order on (norm, index).
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(take), order.end(),
                    [&](std::uint64_t a, std::uint64_t b) {
                      const int c = norms.compare(a, b);
                      return c != 0 ? c < 0 : a < b;
                    });
  order.resize(take);
  std::sort(order.begin(), order.end());
  return order;
}

}  // namespace h5p
