// Slab planning covers every element once, in row-major order, within the size bound.
#include <gtest/gtest.h>

#include "formats/hdf5/slabs.hpp"

using namespace h5p::h5;

namespace {

// Row-major flat index of every element of the slab's box, in iteration order.
std::vector<std::size_t> flat_indices(const std::vector<hsize_t>& shape, const Slab& s) {
  std::vector<std::size_t> out;
  const std::size_t rank = shape.size();
  if (rank == 0) return {0};
  std::vector<hsize_t> idx(rank, 0);
  while (true) {
    std::size_t flat = 0;
    for (std::size_t j = 0; j < rank; ++j) flat = flat * shape[j] + (s.offset[j] + idx[j]);
    out.push_back(flat);
    std::size_t j = rank;
    while (j > 0) {
      --j;
      if (++idx[j] < s.count[j]) break;
      idx[j] = 0;
      if (j == 0) return out;
    }
  }
}

}  // namespace

TEST(Slabs, CoverRowMajorInOrder) {
  const std::vector<std::vector<hsize_t>> shapes{{}, {1}, {7}, {257}, {5, 3, 4}, {2, 1, 3, 5}, {3, 300}, {4, 0, 2}};
  for (const auto& shape : shapes) {
    for (std::size_t max : {1, 2, 3, 5, 12, 13, 60, 100, 1000}) {
      const auto slabs = plan_slabs(shape, max);
      std::size_t expect = 0;
      for (const Slab& s : slabs) {
        ASSERT_LE(s.n, max) << "rank " << shape.size() << " max " << max;
        ASSERT_EQ(s.flat_begin, expect) << "rank " << shape.size() << " max " << max;
        const auto flat = flat_indices(shape, s);
        ASSERT_EQ(flat.size(), s.n);
        for (std::size_t i = 0; i < flat.size(); ++i) ASSERT_EQ(flat[i], expect + i) << "max " << max;
        expect += s.n;
      }
      EXPECT_EQ(expect, element_count(shape)) << "rank " << shape.size() << " max " << max;
    }
  }
}

TEST(Slabs, WholeWhenItFits) {
  const auto slabs = plan_slabs({10, 20}, 200);
  ASSERT_EQ(slabs.size(), 1u);
  EXPECT_EQ(slabs[0].n, 200u);
}
