// Magnitude keys: order, -0.0, subnormals, Inf and NaN in every width; exact widening.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <random>

#include "kernels/cpu/typed_keys.hpp"
#include "kernels/keys.hpp"

using namespace h5p;

namespace {
// float16 decoded from its fields, independently of the code under test.
double half_value(std::uint16_t h) {
  const int exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
  const double sign = (h & 0x8000) ? -1.0 : 1.0;
  if (exp == 31) return mant ? std::numeric_limits<double>::quiet_NaN() : sign * INFINITY;
  if (exp == 0) return sign * std::ldexp(mant, -24);
  return sign * std::ldexp(1024 + mant, exp - 25);
}
std::uint64_t k32(float f) { return key32(std::bit_cast<std::uint32_t>(f)); }
}  // namespace

TEST(Keys, Float32OrderIsMagnitudeOrder) {
  const float sub_min = std::numeric_limits<float>::denorm_min();
  const std::vector<float> ascending{0.0f, sub_min, 2 * sub_min, std::numeric_limits<float>::min() / 2,
                                     std::numeric_limits<float>::min(), 1e-10f, 0.5f, 1.0f, 3e38f, INFINITY};
  for (std::size_t i = 1; i < ascending.size(); ++i)
    EXPECT_LT(k32(ascending[i - 1]), k32(ascending[i])) << "i=" << i;
  EXPECT_EQ(k32(-0.0f), k32(0.0f));
  EXPECT_EQ(k32(-1.5f), k32(1.5f));
  EXPECT_EQ(k32(-INFINITY), kInfKey32);
  EXPECT_GT(k32(std::numeric_limits<float>::quiet_NaN()), kInfKey32);
  EXPECT_GT(k32(-std::numeric_limits<float>::quiet_NaN()), kInfKey32);
}

TEST(Keys, Float16MagnitudeOfEveryPatternIsExact) {
  for (std::uint32_t b = 0; b < 65536; ++b) {
    const double got = cpu::Half::abs_value(static_cast<std::uint16_t>(b));
    const double want = std::fabs(half_value(static_cast<std::uint16_t>(b)));
    // The CPU's wider keys of a float16 (computed) are the shared widening's, in both widths.
    const std::uint16_t h = static_cast<std::uint16_t>(b);
    EXPECT_EQ(cpu::Half::key<KeyWidth::k32>(h), widen16to32(key16(h))) << std::hex << b;
    EXPECT_EQ(cpu::Half::key<KeyWidth::k64>(h), widen32to64(widen16to32(key16(h)))) << std::hex << b;
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got)) << std::hex << b;
    } else {
      EXPECT_EQ(cpu::Half::key<KeyWidth::k32>(h), k32(static_cast<float>(want))) << std::hex << b;
      EXPECT_EQ(std::bit_cast<std::uint64_t>(got), std::bit_cast<std::uint64_t>(want)) << std::hex << b << ": " << got
                                                                                       << " vs " << want;
    }
  }
}

TEST(Keys, Float64AndFloat16Specials) {
  EXPECT_EQ(key64(std::bit_cast<std::uint64_t>(-0.0)), 0u);
  EXPECT_EQ(key64(std::bit_cast<std::uint64_t>(-std::numeric_limits<double>::infinity())), kInfKey64);
  EXPECT_GT(key64(std::bit_cast<std::uint64_t>(std::nan(""))), kInfKey64);
  EXPECT_EQ(key16(0x8000), 0u);       // -0.0
  EXPECT_EQ(key16(0xFC00), kInfKey16);  // -Inf
  EXPECT_GT(key16(0x7E00), kInfKey16);  // NaN
  EXPECT_LT(key16(0x0001), key16(0x0400));  // smallest subnormal < smallest normal
}

TEST(Keys, Float16WideningIsExactForEveryValue) {
  for (std::uint32_t h = 0; h <= kInfKey16; ++h) {
    const double expect = half_value(static_cast<std::uint16_t>(h));
    ASSERT_EQ(key_value(KeyWidth::k16, h), expect) << "half bits 0x" << std::hex << h;
    const std::uint32_t w32 = widen16to32(static_cast<std::uint16_t>(h));
    ASSERT_EQ(static_cast<double>(std::bit_cast<float>(w32)), expect) << "half bits 0x" << std::hex << h;
    if (h > 0) ASSERT_LT(widen16to32(static_cast<std::uint16_t>(h - 1)), w32) << "monotonic at 0x" << std::hex << h;
  }
  EXPECT_GT(widen16to32(0x7E00), kInfKey32) << "NaN stays NaN";
}

TEST(Keys, Float32WideningIsExact) {
  std::mt19937_64 rng(20261127);
  std::printf("seed 20261127\n");
  std::vector<std::uint32_t> samples;
  for (std::uint32_t m = 1; m < (1u << 23); m = m * 3 + 1) samples.push_back(m);  // subnormals
  for (int i = 0; i < 200000; ++i) samples.push_back(static_cast<std::uint32_t>(rng()) & 0x7F7FFFFFu);
  samples.push_back(0);
  samples.push_back(kInfKey32);
  for (std::uint32_t k : samples) {
    const double expect = static_cast<double>(std::bit_cast<float>(k));
    ASSERT_EQ(std::bit_cast<double>(widen32to64(k)), expect) << "float bits 0x" << std::hex << k;
    ASSERT_EQ(key_value(KeyWidth::k32, k), expect);
  }
  EXPECT_GT(widen32to64(0x7FC00000u), kInfKey64) << "NaN stays NaN";
}

TEST(Keys, ElementKeyAcrossWidthsComparesTrueValues) {
  const std::uint16_t half_one = 0x3C00;
  const float f = 1.0f;
  const double d = 1.0;
  EXPECT_EQ(element_key(DType::f16, KeyWidth::k64, &half_one, 0), element_key(DType::f64, KeyWidth::k64, &d, 0));
  EXPECT_EQ(element_key(DType::f32, KeyWidth::k64, &f, 0), element_key(DType::f64, KeyWidth::k64, &d, 0));
  const float tenth = 0.1f;
  const double dtenth = 0.1;
  EXPECT_NE(element_key(DType::f32, KeyWidth::k64, &tenth, 0), element_key(DType::f64, KeyWidth::k64, &dtenth, 0))
      << "0.1f and 0.1 are different values";
}
