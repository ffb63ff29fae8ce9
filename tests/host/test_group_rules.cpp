// Group rule specs (--rule REGEX=SPEC), the first match, and the exact relative threshold key
// against a brute-force scan of every float16 key with exact rational comparisons.
#include <gtest/gtest.h>

#include <cmath>

#include "common/errors.hpp"
#include "host/group_rules.hpp"
#include "host/relative_threshold.hpp"
#include "kernels/keys.hpp"

using namespace h5p;

TEST(GroupRules, ParsesEverySpecForm) {
  GroupRule g = parse_rule_option("embedding=0.3");
  EXPECT_EQ(g.match, "embedding");
  EXPECT_EQ(g.rule.mode, RuleMode::sparsity);
  EXPECT_EQ(g.rule.sparsity.text, "0.3");
  EXPECT_EQ(g.rule.scope, Scope::tensor);
  g = parse_rule_option("a=b=sparsity:0.8,global");  // '=' in the regex
  EXPECT_EQ(g.match, "a=b");
  EXPECT_EQ(g.rule.scope, Scope::global);
  g = parse_rule_option("conv=nm:2:4,axis=0,skip-unfit");
  EXPECT_EQ(g.rule.mode, RuleMode::nm);
  EXPECT_EQ(g.rule.nm_keep, 2u);
  EXPECT_EQ(g.rule.nm_group, 4u);
  ASSERT_TRUE(g.rule.nm_axis.has_value());
  EXPECT_EQ(*g.rule.nm_axis, 0);
  EXPECT_TRUE(g.rule.nm_skip_unfit);
  EXPECT_EQ(parse_rule_option("x=threshold:1e-3").rule.threshold, 1e-3);
  EXPECT_EQ(parse_rule_option("x=threshold-rel:0.25").rule.mode, RuleMode::threshold_rel);
  EXPECT_TRUE(parse_rule_option("out=skip").skip);
}

TEST(GroupRules, RejectsBadSpecs) {
  for (const char* bad : {"x", "=0.3", "x=", "x=0.3,axis=0", "x=threshold:1,global", "x=skip,global", "x=1.2",
                          "x=nm:5:4", "x=foo:1", "(=0.3", "x=0.3,global,tensor"})
    EXPECT_THROW(parse_rule_option(bad), UsageError) << bad;
}

TEST(GroupRules, FirstMatchWins) {
  const std::vector<GroupRule> rules{parse_rule_option("dense=0.5"), parse_rule_option("dense_1=0.9"),
                                     parse_rule_option("^/out=skip")};
  EXPECT_EQ(first_match(rules, "/dense_1/kernel"), std::optional<std::size_t>(0));
  EXPECT_EQ(first_match(rules, "/out/kernel"), std::optional<std::size_t>(2));
  EXPECT_EQ(first_match(rules, "/embedding"), std::nullopt);
}

namespace {
// value(key) < R x max, by exact rationals on the binary expansions (long double is not enough
// in general, but float16 values times a short decimal fit in 128-bit integers here).
bool below_exact(double v, double max, long long r_num, long long r_den) {
  // v < r_num / r_den * max  <=>  v * r_den < r_num * max; all terms are multiples of 2^-40.
  const auto scaled = [](double x) { return static_cast<__int128>(std::ldexp(x, 40)); };
  return scaled(v) * r_den < scaled(max) * r_num;
}
}  // namespace

TEST(RelativeThreshold, MatchesBruteForceOnEveryFloat16Key) {
  struct Case { const char* r; long long num, den; };
  for (Case c : {Case{"0.1", 1, 10}, Case{"0.3", 3, 10}, Case{"0.5", 1, 2}, Case{"1", 1, 1}, Case{"0.07", 7, 100}})
    for (std::uint64_t max_key : {0x3C00ull /* 1.0 */, 0x4900ull /* 10.0 */, 0x0001ull /* smallest subnormal */,
                                  0x3266ull /* ~0.2 */, 0x7BFFull /* 65504 */}) {
      const Decimal r = parse_decimal(c.r, "R");
      const std::uint64_t K = relative_threshold_key(KeyWidth::k16, max_key, r);
      const double max = key_value(KeyWidth::k16, max_key);
      for (std::uint64_t k = 0; k < 0x7C00; ++k) {
        const bool below = below_exact(key_value(KeyWidth::k16, k), max, c.num, c.den);
        ASSERT_EQ(k < K, below) << "R=" << c.r << " max=" << max << " key=" << k << " K=" << K;
      }
    }
}

TEST(RelativeThreshold, ZeroAndInfinity) {
  EXPECT_EQ(relative_threshold_key(KeyWidth::k32, 0x3F800000u, parse_decimal("0", "R")), 0u);
  EXPECT_EQ(relative_threshold_key(KeyWidth::k32, inf_key(KeyWidth::k32), parse_decimal("0.1", "R")),
            inf_key(KeyWidth::k32));
}
