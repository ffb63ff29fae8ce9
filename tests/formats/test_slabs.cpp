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

// split_leading cuts a slab of whole rows into slabs of whole rows that cover it in order, each
// within the bound (or one row when a row is larger); other slabs come back whole.
TEST(Slabs, SplitLeadingCoversTheSlabInWholeRows) {
  const std::vector<std::vector<hsize_t>> shapes{{7}, {257}, {5, 3, 4}, {2, 1, 3, 5}, {3, 300}, {40, 7}};
  for (const auto& shape : shapes) {
    for (std::size_t piece : {1, 5, 12, 60, 1000}) {
      for (const Slab& slab : plan_slabs(shape, piece)) {
        for (std::size_t max : {1, 2, 7, 21, 100, 5000}) {
          const auto parts = split_leading(slab, shape, max);
          ASSERT_FALSE(parts.empty());
          std::size_t expect = slab.flat_begin;
          std::vector<std::size_t> covered;
          for (const Slab& p : parts) {
            ASSERT_EQ(p.flat_begin, expect);
            const auto flat = flat_indices(shape, p);
            ASSERT_EQ(flat.size(), p.n);
            for (std::size_t i = 0; i < flat.size(); ++i) ASSERT_EQ(flat[i], expect + i);
            expect += p.n;
            if (parts.size() > 1) {
              const std::size_t row = p.n / p.count[0];
              ASSERT_TRUE(p.n <= max || p.count[0] == 1) << "part of " << p.n << " elements over " << max;
              ASSERT_EQ(p.n % row, 0u);
            }
          }
          ASSERT_EQ(expect, slab.flat_begin + slab.n) << "the parts do not cover the slab";
        }
      }
    }
  }
}

TEST(Slabs, SplitLeadingLeavesPartialRowsWhole) {
  // A slab of part of one row (a 300-element row cut at 60) cannot be cut into whole rows.
  const auto slabs = plan_slabs({3, 300}, 60);
  ASSERT_GT(slabs.size(), 3u);
  const auto parts = split_leading(slabs[1], {3, 300}, 10);
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(parts[0].flat_begin, slabs[1].flat_begin);
  EXPECT_EQ(parts[0].n, slabs[1].n);
  // Rows of 300 cut to at most 400 elements: one row per part.
  const auto rows = split_leading(plan_slabs({3, 300}, 900)[0], {3, 300}, 400);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[2].offset[0], 2u);
  EXPECT_EQ(rows[2].count[0], 1u);
}
