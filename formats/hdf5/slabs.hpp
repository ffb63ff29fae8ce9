// Splits a dataset into row-major hyperslabs of at most max_elems elements, so that a
// tensor larger than memory is read and written in pieces, in position order.
#pragma once
#include <hdf5.h>

#include <cstddef>
#include <vector>

namespace h5p::h5 {

struct Slab {
  std::vector<hsize_t> offset;
  std::vector<hsize_t> count;
  std::size_t flat_begin = 0;  // row-major index of the slab's first element
  std::size_t n = 0;           // elements in the slab
};

// An empty shape is a scalar (one slab of one element); a zero extent gives no slabs.
std::vector<Slab> plan_slabs(const std::vector<hsize_t>& shape, std::size_t max_elems);

std::size_t element_count(const std::vector<hsize_t>& shape);

}  // namespace h5p::h5
