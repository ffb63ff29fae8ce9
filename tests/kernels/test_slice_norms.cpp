// Exact slice norms and the choice of slices: ties that float64 sums miss, Inf, subnormals,
// float16 and float64 extremes, lower index first among equal norms.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "host/structured.hpp"
#include "kernels/slice_norms.hpp"

using namespace h5p;

namespace {

std::uint64_t bits64(double v) { return std::bit_cast<std::uint64_t>(v); }
std::uint64_t bits32(float v) { return std::bit_cast<std::uint32_t>(v); }

TEST(SliceNorms, EqualExactSumsThatFloat64RoundsApart) {
  // 2^53 + 1 + 1 is 2^53 + 2 exactly; a float64 running sum gives 2^53.
  SliceNorms n(DType::f64, 1, 2);
  for (double v : {9007199254740992.0, 1.0, 1.0}) n.add_bits(0, bits64(v));
  n.add_bits(1, bits64(9007199254740994.0));
  EXPECT_EQ(n.compare(0, 1), 0);
  EXPECT_EQ(smallest_slices(n, 1), std::vector<std::uint64_t>{0});
  n.add_bits(0, bits64(std::ldexp(1.0, -1074)));  // the smallest subnormal still counts
  EXPECT_GT(n.compare(0, 1), 0);
  EXPECT_EQ(smallest_slices(n, 1), std::vector<std::uint64_t>{1});
}

TEST(SliceNorms, SquaresOfFloat64AreExact) {
  // (1 + 2^-52)^2 = 1 + 2^-51 + 2^-104, and 1 + (2^-26)^2 + (2^-26)^2 = 1 + 2^-51: equal in
  // float64 (the 2^-104 is rounded off), one ulp of an ulp apart exactly.
  SliceNorms n(DType::f64, 2, 2);
  n.add_bits(0, bits64(1.0 + std::ldexp(1.0, -52)));
  for (double v : {1.0, std::ldexp(1.0, -26), -std::ldexp(1.0, -26)}) n.add_bits(1, bits64(v));
  EXPECT_GT(n.compare(0, 1), 0);
  EXPECT_EQ(smallest_slices(n, 1), std::vector<std::uint64_t>{1});
  SliceNorms m(DType::f64, 2, 2);
  m.add_bits(0, bits64(std::numeric_limits<double>::max()));
  m.add_bits(0, bits64(std::numeric_limits<double>::max()));
  m.add_bits(1, bits64(-std::numeric_limits<double>::max()));
  EXPECT_GT(m.compare(0, 1), 0);  // no overflow at the top of the range
}

TEST(SliceNorms, InfinityAndSignsAndMerge) {
  SliceNorms n(DType::f32, 1, 3);
  n.add_bits(0, bits32(-INFINITY));
  n.add_bits(1, bits32(INFINITY));
  n.add_bits(2, bits32(std::numeric_limits<float>::max()));
  EXPECT_EQ(n.compare(0, 1), 0);
  EXPECT_GT(n.compare(0, 2), 0);
  EXPECT_EQ(smallest_slices(n, 2), (std::vector<std::uint64_t>{0, 2}));
  SliceNorms a(DType::f32, 2, 2), b(DType::f32, 2, 2), whole(DType::f32, 2, 2);
  const float vals[] = {0.1f, -3.0f, 1e-40f, 7.5f, -0.0f};
  for (int i = 0; i < 5; ++i) {
    (i < 2 ? a : b).add_bits(i % 2, bits32(vals[i]));
    whole.add_bits(i % 2, bits32(vals[i]));
  }
  a.merge(b);
  EXPECT_EQ(a.compare(0, 1), whole.compare(0, 1));
  EXPECT_DOUBLE_EQ(a.value(0), whole.value(0));
  EXPECT_NEAR(whole.value(1), std::sqrt(9.0 + 7.5 * 7.5), 1e-12);
}

TEST(SliceNorms, Float16RangeAndValue) {
  SliceNorms n(DType::f16, 1, 2);
  const std::uint16_t max16 = 0x7bff, sub16 = 0x0001, one = 0x3c00;
  for (int i = 0; i < 1000; ++i) n.add_bits(0, max16);
  n.add_bits(1, one);
  n.add_bits(1, sub16);
  EXPECT_DOUBLE_EQ(n.value(0), 65504.0 * 1000);
  EXPECT_DOUBLE_EQ(n.value(1), 1.0 + std::ldexp(1.0, -24));
  EXPECT_GT(n.compare(0, 1), 0);
}

TEST(SmallestSlices, LowerIndexFirstAmongEqualNorms) {
  SliceNorms n(DType::f32, 2, 6);
  const float row[] = {2, 1, 2, 0, 1, 2};  // squares 4 1 4 0 1 4
  for (int i = 0; i < 6; ++i) n.add_bits(static_cast<std::size_t>(i), bits32(row[i]));
  EXPECT_EQ(smallest_slices(n, 0), std::vector<std::uint64_t>{});
  EXPECT_EQ(smallest_slices(n, 2), (std::vector<std::uint64_t>{1, 3}));
  EXPECT_EQ(smallest_slices(n, 4), (std::vector<std::uint64_t>{0, 1, 3, 4}));
  EXPECT_EQ(smallest_slices(n, 6), (std::vector<std::uint64_t>{0, 1, 2, 3, 4, 5}));
}

}  // namespace
