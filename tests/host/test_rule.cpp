// Exact sparsity arithmetic (round half even, no floats), decimal, threshold and size parsing.
#include <gtest/gtest.h>

#include <cmath>

#include "common/errors.hpp"
#include "host/rule.hpp"

using namespace h5p;

namespace {
std::uint64_t k_of(const char* s, std::uint64_t n) { return sparsity_count(parse_decimal(s, "--sparsity"), n); }
}  // namespace

TEST(SparsityCount, RoundsHalfToEven) {
  EXPECT_EQ(k_of("0.35", 10), 4u) << "3.5 -> 4";
  EXPECT_EQ(k_of("0.25", 10), 2u) << "2.5 -> 2";
  EXPECT_EQ(k_of("0.45", 10), 4u) << "4.5 -> 4";
  EXPECT_EQ(k_of("0.5", 3), 2u) << "1.5 -> 2";
  EXPECT_EQ(k_of("0.5", 5), 2u) << "2.5 -> 2";
  EXPECT_EQ(k_of("0.5", 7), 4u) << "3.5 -> 4";
  EXPECT_EQ(k_of("0.5", 1), 0u) << "0.5 -> 0";
  EXPECT_EQ(k_of("0.3", 10), 3u);
}

TEST(SparsityCount, EndsAndZeroN) {
  EXPECT_EQ(k_of("0", 12345), 0u);
  EXPECT_EQ(k_of("1", 12345), 12345u);
  EXPECT_EQ(k_of("1.000", 7), 7u);
  EXPECT_EQ(k_of("0.9", 0), 0u);
}

TEST(SparsityCount, ExactBeyondFloatPrecision) {
  // Expected values from Python's fractions.Fraction, independent of this code.
  EXPECT_EQ(k_of("0.5", 16777217), 8388608u);
  EXPECT_EQ(k_of("0.9", 16777217), 15099495u);
  EXPECT_EQ(k_of("0.1", 1099511627783ull), 109951162778ull);
  EXPECT_EQ(k_of("0.7", 8589934597ull), 6012954218ull);
  EXPECT_EQ(k_of("0.123456789012345678", 9223372036854775807ull), 1138687895536349062ull);
  EXPECT_EQ(k_of("1", 18446744073709551615ull), 18446744073709551615ull);
}

TEST(SparsityCount, ManyDigitsStayExact) {
  // 0.25000000000000000001 * 10 = 2.5000000000000000001: above the half, so 3 (not 2).
  EXPECT_EQ(k_of("0.25000000000000000001", 10), 3u);
  EXPECT_EQ(k_of("0.24999999999999999999", 10), 2u);
  EXPECT_EQ(k_of("0.250000000000000000000000", 10), 2u);
  EXPECT_TRUE(parse_decimal("1.0000000000000000000001", "--sparsity").above_one());
  EXPECT_FALSE(parse_decimal("1.000", "--sparsity").above_one());
  EXPECT_FALSE(parse_decimal("0.999", "--sparsity").above_one());
  EXPECT_TRUE(parse_decimal("10e-1", "--sparsity").above_one() == false);
  EXPECT_TRUE(parse_decimal("2", "--sparsity").above_one());
}

TEST(ParseDecimal, AcceptsForms) {
  EXPECT_EQ(k_of("9e-1", 10), 9u);
  EXPECT_EQ(k_of(".5", 10), 5u);
  EXPECT_EQ(k_of("5E-1", 10), 5u);
  EXPECT_EQ(k_of("0.050", 100), 5u);
  const Decimal d = parse_decimal("0.350", "--sparsity");
  EXPECT_EQ(d.scale, 3);
  EXPECT_EQ(d.digits, "350");
  EXPECT_EQ(d.text, "0.350");
}

TEST(ParseDecimal, RejectsJunk) {
  for (const char* bad : {"", "abc", "0.5x", "-", ".", "1e", "nan", "inf", " 0.5"})
    EXPECT_THROW(parse_decimal(bad, "--sparsity"), UsageError) << "input '" << bad << "'";
}

TEST(ParseThreshold, ReadsFloat64) {
  EXPECT_EQ(parse_threshold("1e-3"), 1e-3);
  EXPECT_EQ(parse_threshold("0"), 0.0);
  EXPECT_FALSE(std::signbit(parse_threshold("-0")));
  EXPECT_EQ(parse_threshold("0.1"), 0.1);
  for (const char* bad : {"-1", "nan", "abc", "", "1e-3x", "-inf"})
    EXPECT_THROW(parse_threshold(bad), UsageError) << "input '" << bad << "'";
}

TEST(ParseSize, PowersOf1024) {
  EXPECT_EQ(parse_size("512M", "--memory-limit"), 512ull << 20);
  EXPECT_EQ(parse_size("64KiB", "--memory-limit"), 64ull << 10);
  EXPECT_EQ(parse_size("2g", "--memory-limit"), 2ull << 30);
  EXPECT_EQ(parse_size("1048576", "--memory-limit"), 1048576ull);
  for (const char* bad : {"1.5G", "M", "-1M", "12Q", ""})
    EXPECT_THROW(parse_size(bad, "--memory-limit"), UsageError) << "input '" << bad << "'";
}
