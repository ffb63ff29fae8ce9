// k-th key by radix histograms against a sort; exact threshold keys against brute force.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <optional>
#include <random>
#include <utility>

#include "kernels/keys.hpp"
#include "kernels/radix_select.hpp"

using namespace h5p;

namespace {

// Selects the k-th smallest key (1-based) with naive histograms over a key vector.
RadixSelection select_naive(const std::vector<std::uint64_t>& keys, KeyWidth w, std::uint64_t k) {
  RadixSelection sel(w, k);
  while (!sel.done()) {
    const DigitLayout d = sel.next_digit();
    std::vector<std::uint64_t> hist(std::size_t{1} << d.bits, 0);
    const int high = d.shift + d.bits;
    for (std::uint64_t key : keys)
      if (high >= 64 || (key >> high) == sel.prefix) ++hist[(key >> d.shift) & ((1ull << d.bits) - 1)];
    sel.consume(hist);
  }
  return sel;
}

void check_against_sort(std::vector<std::uint64_t> keys, KeyWidth w, const std::string& what) {
  std::vector<std::uint64_t> sorted = keys;
  std::sort(sorted.begin(), sorted.end());
  for (std::uint64_t k : {std::uint64_t{1}, std::uint64_t{2}, std::uint64_t{keys.size() / 3},
                          std::uint64_t{keys.size() / 2}, std::uint64_t{keys.size() - 1}, std::uint64_t{keys.size()}}) {
    if (k == 0 || k > keys.size()) continue;
    const RadixSelection sel = select_naive(keys, w, k);
    const std::uint64_t K = sorted[k - 1];
    const std::uint64_t below = std::lower_bound(sorted.begin(), sorted.end(), K) - sorted.begin();
    const std::uint64_t equal = std::upper_bound(sorted.begin(), sorted.end(), K) - sorted.begin() - below;
    ASSERT_EQ(sel.key(), K) << what << " k=" << k << " n=" << keys.size();
    ASSERT_EQ(sel.tie_quota(), k - below) << what << " k=" << k;
    ASSERT_EQ(sel.equal, equal) << what << " k=" << k;
  }
}

}  // namespace

TEST(RadixSelect, MatchesSortOnRandomKeys) {
  std::mt19937_64 rng(7);
  std::printf("seed 7\n");
  for (std::size_t n : {1, 255, 256, 257, 50000}) {
    std::vector<std::uint64_t> k16, k32, k64;
    std::normal_distribution<float> normal(0.0f, 0.05f);
    for (std::size_t i = 0; i < n; ++i) {
      const float v = normal(rng);
      k32.push_back(key32(std::bit_cast<std::uint32_t>(v)));
      k64.push_back(key64(std::bit_cast<std::uint64_t>(static_cast<double>(v) * 1.000000119)));
      k16.push_back(rng() % (kInfKey16 + 1));
    }
    check_against_sort(k16, KeyWidth::k16, "f16 n=" + std::to_string(n));
    check_against_sort(k32, KeyWidth::k32, "f32 n=" + std::to_string(n));
    check_against_sort(k64, KeyWidth::k64, "f64 n=" + std::to_string(n));
  }
}

TEST(RadixSelect, MatchesSortOnHeavyTies) {
  std::mt19937_64 rng(11);
  std::vector<std::uint64_t> keys;
  const std::uint16_t few[] = {0, 0x3C00, 0x3800, 0x0001, kInfKey16};  // 0, 1, 0.5, subnormal, Inf
  for (int i = 0; i < 10007; ++i) keys.push_back(few[rng() % 5]);
  check_against_sort(keys, KeyWidth::k16, "f16 five values");
  std::vector<std::uint64_t> zeros(999, 0);
  check_against_sort(zeros, KeyWidth::k32, "all zero");
  check_against_sort(std::vector<std::uint64_t>(77, kInfKey64), KeyWidth::k64, "all Inf");
}

TEST(ThresholdKey, NoRoundingToTheDtype) {
  // Smallest float32 key whose value is >= T, by brute force around the answer.
  for (double t : {0.1, 0.5, 1e-3, 1e-40, 1e-45, 3.4e38, 1e39, 0.30000000000000004}) {
    const std::uint64_t K = threshold_key(KeyWidth::k32, t);
    ASSERT_GE(key_value(KeyWidth::k32, K), t) << "t=" << t;
    if (K > 0) ASSERT_LT(key_value(KeyWidth::k32, K - 1), t) << "t=" << t;
  }
  EXPECT_EQ(threshold_key(KeyWidth::k32, 0.0), 0u);
  EXPECT_EQ(threshold_key(KeyWidth::k32, 0.5), 0x3F000000u);
  EXPECT_EQ(threshold_key(KeyWidth::k16, 1.0), 0x3C00u);
  EXPECT_EQ(threshold_key(KeyWidth::k32, INFINITY), kInfKey32);
  const double just_above = std::nextafter(static_cast<double>(0.1f), 1.0);
  EXPECT_EQ(threshold_key(KeyWidth::k32, just_above), key32(std::bit_cast<std::uint32_t>(0.1f)) + 1)
      << "a threshold between two floats is not rounded down to the lower one";
  for (double t : {0.1, 1e-7, 65504.0, 70000.0}) {
    const std::uint64_t K = threshold_key(KeyWidth::k16, t);
    ASSERT_GE(key_value(KeyWidth::k16, K), t);
    if (K > 0) ASSERT_LT(key_value(KeyWidth::k16, K - 1), t);
    const std::uint64_t K64 = threshold_key(KeyWidth::k64, t);
    EXPECT_EQ(K64, std::bit_cast<std::uint64_t>(t));
  }
}

TEST(RadixSelect, SelectGatheredMatchesSortInsideItsRange) {
  std::mt19937_64 rng(11);
  std::vector<std::uint64_t> keys;
  for (int i = 0; i < 5000; ++i) keys.push_back(rng() % 700);  // many ties
  std::vector<std::uint64_t> sorted = keys;
  std::sort(sorted.begin(), sorted.end());
  for (const auto& [lo, hi] : std::vector<std::pair<std::uint64_t, std::uint64_t>>{{0, 699}, {100, 200}, {350, 350}, {690, 5000}}) {
    std::vector<std::uint64_t> in;
    std::uint64_t below = 0;
    for (std::uint64_t k : keys) {
      below += k < lo;
      if (k >= lo && k <= hi) in.push_back(k);
    }
    for (std::uint64_t k = 1; k <= keys.size(); k += 37) {
      const std::optional<KthKey> got = select_gathered(in, below, k);
      const bool inside = k > below && k <= below + in.size();
      ASSERT_EQ(got.has_value(), inside) << lo << ".." << hi << " k=" << k;
      if (!got) continue;
      const std::uint64_t K = sorted[k - 1];
      EXPECT_EQ(got->key, K) << k;
      EXPECT_EQ(got->below, std::uint64_t(std::lower_bound(sorted.begin(), sorted.end(), K) - sorted.begin())) << k;
      EXPECT_EQ(got->equal, std::uint64_t(std::count(sorted.begin(), sorted.end(), K))) << k;
    }
  }
}
