// The sample's bounds against the true k-th key (a sort): scopes of tensors with different
// scales, heavy ties, mostly zeros, tiny tensors, and matrices whose columns differ in scale.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "host/key_sample.hpp"
#include "kernels/keys.hpp"

using namespace h5p;

namespace {

struct Tensor {
  std::vector<float> values;
};

// Adds t to the sample as the pipeline does: its values at sample.runs(), back to back.
void add(KeySample& sample, const Tensor& t) {
  std::vector<float> sampled;
  for (const auto& [first, count] : sample.runs(t.values.size()))
    sampled.insert(sampled.end(), t.values.begin() + first, t.values.begin() + first + count);
  sample.add(DType::f32, t.values.size(), sampled.data());
}

// rows x cols float32, column c scaled by 1 + (c % 4) * col_spread, every value rounded to
// `step` when step > 0 (ties), a `zeros` fraction exactly zero.
Tensor make(std::size_t rows, std::size_t cols, double scale, std::uint64_t seed, double col_spread = 0,
            double step = 0, double zeros = 0) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, scale);
  std::uniform_real_distribution<double> u(0, 1);
  Tensor t;
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c) {
      double v = normal(rng) * (1 + static_cast<double>(c % 4) * col_spread);
      if (step > 0) v = std::round(v / step) * step;
      if (u(rng) < zeros) v = 0;
      t.values.push_back(static_cast<float>(v));
    }
  return t;
}

// Checks bounds on the scope for several k: the k-th key inside, and a gather not much wider than
// the margin the sample's size allows (plus `tie_room`, a fraction of n for data whose ties are
// wider than that). Where a bound would hold more than half of n (k among a mass of equal keys,
// or tensors too small to sample), bounds may decline, when `may_decline`.
void check_scope(const std::vector<Tensor>& scope, const std::string& what, double tie_room = 0,
                 bool may_decline = false) {
  std::size_t n_all = 0;
  for (const Tensor& t : scope) n_all += t.values.size();
  KeySample sample(KeyWidth::k32, n_all);
  std::vector<std::uint64_t> keys;
  for (const Tensor& t : scope) {
    add(sample, t);
    for (float v : t.values) {
      std::uint32_t bits;
      std::memcpy(&bits, &v, 4);
      keys.push_back(key32(bits));
    }
  }
  std::sort(keys.begin(), keys.end());
  const double n = static_cast<double>(keys.size());
  for (double s : {0.0001, 0.1, 0.5, 0.9, 0.99, 1.0}) {
    const std::uint64_t k = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(s * n));
    const std::optional<KeyGather> b = sample.bounds(k, keys.size());
    if (!b && may_decline) continue;
    ASSERT_TRUE(b.has_value()) << what << " s=" << s;
    const std::uint64_t K = keys[k - 1];
    EXPECT_LE(b->lo, K) << what << " s=" << s;
    EXPECT_GE(b->hi, K) << what << " s=" << s;
    const auto first = std::lower_bound(keys.begin(), keys.end(), b->lo);
    const auto last = std::upper_bound(keys.begin(), keys.end(), b->hi);
    const double q = static_cast<double>(k) / n;
    const double margin = 8 * (std::sqrt(static_cast<double>(kSampleStride) * n * q * (1 - q)) +
                               std::sqrt(static_cast<double>(scope.size())) * kSampleStride);
    EXPECT_LE(static_cast<double>(last - first), 3 * margin + tie_room * n + 1000) << what << " s=" << s;
  }
}

}  // namespace

TEST(KeySample, BoundsHoldTheKthKey) {
  // Many layers of different scales, one large.
  std::vector<Tensor> layers;
  for (int i = 0; i < 12; ++i) layers.push_back(make(256, 512, 0.01 * (1 + i % 5), 100 + i));
  layers.push_back(make(2048, 1024, 0.02, 7));
  check_scope(layers, "layers");
  // Columns of four scales in rows a multiple of the sample's stride long.
  check_scope({make(1024, 1024, 0.05, 8, 3.0)}, "column scales");
  // Heavy ties, and mostly zeros (k among the zeros: more than half of n to gather).
  check_scope({make(512, 1024, 0.05, 9, 0, 0.01)}, "ties", 0.3);
  check_scope({make(512, 1024, 0.05, 10, 0, 0, 0.95)}, "mostly zeros", 0, true);
  // Tensors shorter than a stride, and single elements.
  std::vector<Tensor> tiny;
  for (int i = 0; i < 40; ++i) tiny.push_back(make(1 + i % 3, 7 * i + 1, 0.1 * (1 + i % 3), 200 + i));
  check_scope(tiny, "tiny", 1.0, true);
}

TEST(KeySample, NoBoundsPastTheCapOrWithoutASample) {
  KeySample empty(KeyWidth::k32, 0);
  EXPECT_FALSE(empty.bounds(1, 1000).has_value());
  const Tensor t = make(1024, 1024, 0.05, 3);
  KeySample sample(KeyWidth::k32, t.values.size());
  add(sample, t);
  EXPECT_EQ(sample.size(), t.values.size() / kSampleStride);
  ASSERT_TRUE(sample.bounds(t.values.size() / 2, t.values.size()).has_value());
  // The bounds would hold some thousands of keys: not with room for 100.
  EXPECT_FALSE(sample.bounds(t.values.size() / 2, 100).has_value());
}

TEST(KeySample, ALargeScopeIsSampledMoreSparsely) {
  const std::size_t n = std::size_t{64} << 30;  // 64 Gi weights: 1/256 would be 256 Mi keys
  KeySample sample(KeyWidth::k32, n);
  std::size_t taken = 0;
  for (const auto& run : sample.runs(n)) taken += run.second;
  EXPECT_LE(taken, kMaxSampleKeys + kSampleRun);
  EXPECT_GE(taken, kMaxSampleKeys / 2);
  KeySample usual(KeyWidth::k32, std::size_t{1} << 30);
  taken = 0;
  for (const auto& run : usual.runs(std::size_t{1} << 30)) taken += run.second;
  EXPECT_EQ(taken, (std::size_t{1} << 30) / kSampleStride);
}
