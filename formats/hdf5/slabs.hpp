// Splits a dataset into row-major hyperslabs of at most max_elems elements, so that a
// tensor larger than memory is read and written in pieces, in position order.
#pragma once
#include <hdf5.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace h5p::h5 {

struct Slab {
  std::vector<hsize_t> offset;
  std::vector<hsize_t> count;
  std::size_t flat_begin = 0;  // row-major index of the slab's first element
  std::size_t n = 0;           // elements in the slab
};

// An empty shape is a scalar (one slab of one element); a zero extent gives no slabs. A plan
// of more than kMaxSlabs slabs is refused (InputError naming the shape) before it is built.
std::vector<Slab> plan_slabs(const std::vector<hsize_t>& shape, std::size_t max_elems);
inline constexpr std::size_t kMaxSlabs = std::size_t{1} << 22;

// The slab cut along its first axis into slabs of at most max_elems elements (at least one
// index of that axis each), in order, when it spans every other axis of `shape` whole; else the
// slab itself. Why: each write becomes its own hyperslab of whole rows.
std::vector<Slab> split_leading(const Slab& slab, const std::vector<hsize_t>& shape, std::size_t max_elems);

std::size_t element_count(const std::vector<hsize_t>& shape);

// Elements of `shape`, or nullopt when the product does not fit in 64 bits.
std::optional<std::uint64_t> checked_element_count(const std::vector<hsize_t>& shape);

// The largest dataset h5prune processes: a declared size above it comes from a damaged or
// hostile header (a 1.4 KB file declaring (2^55, 64) float32), refused before anything is
// planned or allocated. Checks n elements of esize bytes; "" when fine, else why not.
inline constexpr std::uint64_t kMaxDatasetBytes = std::uint64_t{1} << 50;  // 1 PiB
std::string implausible_size(const std::vector<hsize_t>& shape, std::size_t esize);

}  // namespace h5p::h5
