// CPU backend: histograms, scan and apply against a stable sort by (magnitude, position),
// for every dtype, odd sizes, heavy ties and specials; identical for 1 and 2 threads.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>

#include "kernels/backend.hpp"
#include "kernels/keys.hpp"
#include "kernels/radix_select.hpp"

using namespace h5p;

namespace {

// Raw little-endian bits of a random tensor: mostly normal values, plus ties and specials.
std::vector<unsigned char> make_tensor(DType t, std::size_t n, std::uint64_t seed, bool heavy_ties) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 0.1);
  std::vector<unsigned char> bytes(n * dtype_size(t));
  for (std::size_t i = 0; i < n; ++i) {
    double v = heavy_ties ? std::round(normal(rng) * 20) / 20 : normal(rng);
    const unsigned r = rng() % 100;
    if (r == 0) v = -0.0;
    if (r == 1) v = INFINITY;
    if (r == 2) v = 0.0;
    if (t == DType::f64) {
      std::memcpy(&bytes[i * 8], &v, 8);
    } else if (t == DType::f32) {
      float f = static_cast<float>(v);
      if (r == 3) f = std::numeric_limits<float>::denorm_min() * 3;
      std::memcpy(&bytes[i * 4], &f, 4);
    } else {
      // float16 from a small set of bit patterns (includes subnormals, -0 and Inf)
      const std::uint16_t few[] = {0x0000, 0x8000, 0x0001, 0x03FF, 0x3C00, 0xBC00, 0x2E66, 0x7C00};
      std::uint16_t h = heavy_ties ? few[rng() % 8] : static_cast<std::uint16_t>(rng() % 0x7C00) | (rng() % 2 ? 0x8000 : 0);
      std::memcpy(&bytes[i * 2], &h, 2);
    }
  }
  return bytes;
}

// Reference: positions of the k smallest keys, ties by position (stable sort).
std::vector<bool> reference_mask(DType t, KeyWidth w, const std::vector<unsigned char>& bytes, std::size_t n,
                                 std::uint64_t k) {
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return element_key(t, w, bytes.data(), a) < element_key(t, w, bytes.data(), b);
  });
  std::vector<bool> mask(n, false);
  for (std::uint64_t i = 0; i < k; ++i) mask[order[i]] = true;
  return mask;
}

// The host's selection loop, written out: histograms, then apply with the tie quota.
ApplyResult prune_k(Backend& be, DType t, std::vector<unsigned char>& bytes, std::size_t n, std::uint64_t k) {
  const KeyWidth w = native_key_width(t);
  std::uint64_t K = 0, quota = 0;
  if (k > 0) {
    RadixSelection sel(w, k);
    while (!sel.done()) {
      const DigitLayout d = sel.next_digit();
      std::vector<std::uint64_t> hist(std::size_t{1} << d.bits, 0);
      be.histogram(ConstTensor{t, bytes.data(), n}, w, {d.shift, d.bits, sel.prefix}, hist.data());
      sel.consume(hist);
    }
    K = sel.key();
    quota = sel.tie_quota();
  }
  return be.apply(MutTensor{t, bytes.data(), n}, w, K, quota);
}

bool is_positive_zero(DType t, const unsigned char* p) {
  for (std::size_t b = 0; b < dtype_size(t); ++b)
    if (p[b] != 0) return false;
  return true;
}

}  // namespace

TEST(CpuBackend, ApplyMatchesStableSortReference) {
  auto one = make_cpu_backend(1);
  auto two = make_cpu_backend(2);
  std::printf("seeds: 1000 + n\n");
  for (DType t : {DType::f16, DType::f32, DType::f64}) {
    for (std::size_t n : {0, 1, 255, 256, 257, 40000}) {
      for (bool ties : {false, true}) {
        const auto input = make_tensor(t, n, 1000 + n, ties);
        for (const double s : {0.0, 0.35, 0.5, 0.9, 1.0}) {
          const std::uint64_t k = static_cast<std::uint64_t>(std::llround(s * n));
          auto a = input, b = input;
          const ApplyResult ra = prune_k(*one, t, a, n, k);
          const ApplyResult rb = prune_k(*two, t, b, n, k);
          const std::string what = std::string(dtype_name(t)) + " n=" + std::to_string(n) + " ties=" +
                                   std::to_string(ties) + " k=" + std::to_string(k);
          ASSERT_EQ(a, b) << "1 vs 2 threads differ: " << what;
          ASSERT_EQ(ra.pruned, k) << what;
          ASSERT_EQ(ra.kept_sum_sq, rb.kept_sum_sq) << what;
          const auto mask = reference_mask(t, native_key_width(t), input, n, k);
          const std::size_t es = dtype_size(t);
          for (std::size_t i = 0; i < n; ++i) {
            if (mask[i]) {
              ASSERT_TRUE(is_positive_zero(t, &a[i * es])) << what << " i=" << i << " should be +0.0";
            } else {
              ASSERT_EQ(0, std::memcmp(&a[i * es], &input[i * es], es)) << what << " i=" << i << " should be kept";
            }
          }
        }
      }
    }
  }
}

TEST(CpuBackend, ScanCountsNanZerosAndSums) {
  const std::vector<float> v{1.0f, -2.0f, 0.0f, -0.0f, NAN, INFINITY, 3.0f};
  auto be = make_cpu_backend(2);
  const TensorScan s = be->scan(ConstTensor{DType::f32, v.data(), v.size()});
  EXPECT_EQ(s.n, 7u);
  EXPECT_EQ(s.nan, 1u);
  EXPECT_EQ(s.zeros, 2u);
  EXPECT_EQ(s.min_abs_key, 0u);
  EXPECT_EQ(s.max_abs_key, kInfKey32);
  const std::vector<float> finite{1.0f, -2.0f, 0.0f, 3.0f};
  const TensorScan f = be->scan(ConstTensor{DType::f32, finite.data(), finite.size()});
  EXPECT_EQ(f.sum_sq, 14.0);
  EXPECT_EQ(f.sum_abs, 6.0);
}

TEST(CpuBackend, ThresholdApplyPrunesStrictlyBelow) {
  std::vector<float> v{0.1f, -0.1f, 0.2f, 0.05f, -0.0f, 1e-45f};
  auto be = make_cpu_backend(2);
  const std::uint64_t K = threshold_key(KeyWidth::k32, 0.1);
  const ApplyResult r = be->apply(MutTensor{DType::f32, v.data(), v.size()}, KeyWidth::k32, K, 0);
  // float(0.1) = 0.100000001490116 >= 0.1: kept; 0.05, -0.0 and the subnormal are pruned.
  EXPECT_EQ(r.pruned, 3u);
  EXPECT_EQ(v[0], 0.1f);
  EXPECT_EQ(v[1], -0.1f);
  EXPECT_FALSE(std::signbit(v[4])) << "-0.0 pruned becomes +0.0";
  EXPECT_EQ(std::bit_cast<std::uint32_t>(v[5]), 0u);
}

TEST(CpuBackend, MixedWidthsCompareTrueValues) {
  // 0.1f widened to float64 is above 0.1 (double): a 64-bit threshold between them separates them.
  const float f = 0.1f;
  const double d = 0.1;
  auto be = make_cpu_backend(1);
  std::vector<std::uint64_t> hist(1u << 15, 0);
  be->histogram(ConstTensor{DType::f32, &f, 1}, KeyWidth::k64, {48, 15, 0}, hist.data());
  be->histogram(ConstTensor{DType::f64, &d, 1}, KeyWidth::k64, {48, 15, 0}, hist.data());
  EXPECT_EQ(std::accumulate(hist.begin(), hist.end(), std::uint64_t{0}), 2u);
  float fv = f;
  const ApplyResult r = be->apply(MutTensor{DType::f32, &fv, 1}, KeyWidth::k64, std::bit_cast<std::uint64_t>(0.1), 0);
  EXPECT_EQ(r.pruned, 0u) << "0.1f is larger than 0.1";
}

TEST(CpuBackend, FusedScanHistogramEqualsSeparatePasses) {
  for (DType t : {DType::f16, DType::f32, DType::f64}) {
    for (std::size_t n : {0, 1, 257, 70001}) {
      const auto data = make_tensor(t, n, 77 + n, false);
      auto be = make_cpu_backend(2);
      const KeyWidth w = KeyWidth::k64;  // widest: exercises the widening keys too
      const DigitLayout d = digit_layout(w).front();
      std::vector<std::uint64_t> fused(std::size_t{1} << d.bits, 0), separate(fused.size(), 0);
      const TensorScan a = be->scan_histogram(ConstTensor{t, data.data(), n}, w, {d.shift, d.bits, 0}, fused.data());
      be->histogram(ConstTensor{t, data.data(), n}, w, {d.shift, d.bits, 0}, separate.data());
      const TensorScan b = be->scan(ConstTensor{t, data.data(), n});
      const std::string what = std::string(dtype_name(t)) + " n=" + std::to_string(n);
      EXPECT_EQ(fused, separate) << what;
      EXPECT_EQ(a.zeros, b.zeros) << what;
      EXPECT_EQ(a.nan, b.nan) << what;
      // Same blocks, possibly another lane order in the last block: equal to rounding.
      if (std::isinf(b.sum_sq)) EXPECT_EQ(a.sum_sq, b.sum_sq) << what;  // the data holds Inf
      else EXPECT_NEAR(a.sum_sq, b.sum_sq, 1e-12 * b.sum_sq) << what;
    }
  }
}

TEST(CpuBackend, HistogramMultiEqualsOneHistogramPerPrefix) {
  for (DType t : {DType::f16, DType::f32, DType::f64}) {
    const std::size_t n = 100003;
    const auto data = make_tensor(t, n, 99, true);
    auto be = make_cpu_backend(2);
    const KeyWidth w = native_key_width(t);
    const auto layout = digit_layout(w);
    if (layout.size() < 2) continue;  // float16 has a single digit
    const DigitLayout top = layout[0], next = layout[1];
    std::vector<std::uint64_t> first(std::size_t{1} << top.bits, 0);
    be->histogram(ConstTensor{t, data.data(), n}, w, {top.shift, top.bits, 0}, first.data());
    std::vector<std::uint64_t> prefixes;
    for (std::size_t b = 0; b < first.size(); ++b)
      if (first[b] > 0) prefixes.push_back(b);
    const std::size_t bins = std::size_t{1} << next.bits;
    std::vector<std::uint64_t> multi(prefixes.size() * bins, 0);
    be->histogram_multi(ConstTensor{t, data.data(), n}, w, next.shift, next.bits, prefixes, multi.data());
    for (std::size_t j = 0; j < prefixes.size(); ++j) {
      std::vector<std::uint64_t> one(bins, 0);
      be->histogram(ConstTensor{t, data.data(), n}, w, {next.shift, next.bits, prefixes[j]}, one.data());
      ASSERT_TRUE(std::equal(one.begin(), one.end(), multi.begin() + j * bins)) << dtype_name(t) << " prefix " << prefixes[j];
    }
  }
}

TEST(CpuBackend, TallyCountsBelowEveryBound) {
  for (DType t : {DType::f16, DType::f32, DType::f64}) {
    const std::size_t n = 70001;
    const auto data = make_tensor(t, n, 5, true);
    const KeyWidth w = native_key_width(t);
    std::vector<std::uint64_t> keys(n);
    for (std::size_t i = 0; i < n; ++i) keys[i] = element_key(t, w, data.data(), i);
    std::vector<std::uint64_t> sorted = keys;
    std::sort(sorted.begin(), sorted.end());
    std::vector<std::uint64_t> bounds{0, sorted[n / 7], sorted[n / 2], sorted[n / 2] + 1, sorted[n - 2], inf_key(w)};
    std::sort(bounds.begin(), bounds.end());
    bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());
    const std::size_t m = bounds.size();
    std::vector<std::uint64_t> count(m + 1, 0), equal(m, 0);
    std::vector<double> sq(m + 1, 0.0);
    make_cpu_backend(2)->tally(ConstTensor{t, data.data(), n}, w, bounds, count.data(), sq.data(), equal.data());
    std::uint64_t below = 0;
    for (std::size_t i = 0; i < m; ++i) {
      below += count[i];
      const auto expect_below = static_cast<std::uint64_t>(std::lower_bound(sorted.begin(), sorted.end(), bounds[i]) - sorted.begin());
      const auto expect_equal = static_cast<std::uint64_t>(std::upper_bound(sorted.begin(), sorted.end(), bounds[i]) - sorted.begin()) - expect_below;
      EXPECT_EQ(below, expect_below) << dtype_name(t) << " bound #" << i;
      EXPECT_EQ(equal[i], expect_equal) << dtype_name(t) << " bound #" << i;
    }
    EXPECT_EQ(below + count[m], n);
  }
}

// Pins the summation order the CUDA backend reproduces (kernels/lane_sum.hpp): element 1 and
// element 17 share lane 1 and meet lane 0 (1e16) only at the last fold, so the two 1s survive
// as 1e16 + 2. Adding in position order, or folding neighbours first, loses them (1e16).
TEST(CpuBackend, SumsFollowTheLaneOrder) {
  std::vector<double> v(18, 0.0);
  v[0] = 1e16;
  v[1] = 1.0;
  v[17] = -1.0;  // magnitudes are summed: |-1| = 1
  const TensorScan s = make_cpu_backend(1)->scan(ConstTensor{DType::f64, v.data(), v.size()});
  EXPECT_EQ(s.sum_abs, 1e16 + 2.0);
  double sequential = 0.0;
  for (double x : v) sequential += std::fabs(x);
  EXPECT_EQ(sequential, 1e16) << "the data no longer tell the orders apart";
}

namespace {

// The keys of t in [lo, hi] in position order, and how many lie below lo: what a gather must find.
std::pair<std::vector<std::uint64_t>, std::uint64_t> filter_keys(DType t, KeyWidth w, const std::vector<unsigned char>& bytes,
                                                                 std::size_t n, std::uint64_t lo, std::uint64_t hi) {
  std::vector<std::uint64_t> keys;
  std::uint64_t below = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint64_t k = element_key(t, w, bytes.data(), i);
    below += k < lo;
    if (k >= lo && k <= hi) keys.push_back(k);
  }
  return {keys, below};
}

}  // namespace

TEST(CpuBackend, GatherEqualsAFilterInPositionOrder) {
  for (DType t : {DType::f16, DType::f32, DType::f64}) {
    for (std::size_t n : {0, 1, 17, 257, 70001}) {
      for (bool ties : {false, true}) {
        const auto data = make_tensor(t, n, 91 + n, ties);
        for (KeyWidth w : {native_key_width(t), KeyWidth::k64}) {
          // Ranges: around the middle key, one key, the whole key space, and none (lo > every key).
          std::vector<std::uint64_t> sorted;
          for (std::size_t i = 0; i < n; ++i) sorted.push_back(element_key(t, w, data.data(), i));
          std::sort(sorted.begin(), sorted.end());
          const std::uint64_t mid = n ? sorted[n / 2] : 0, q1 = n ? sorted[n / 4] : 0;
          const std::pair<std::uint64_t, std::uint64_t> ranges[] = {{q1, mid}, {mid, mid}, {0, w == KeyWidth::k16 ? 0x7FFFull : w == KeyWidth::k32 ? 0x7FFFFFFFull : ~0ull >> 1}, {inf_key(w) + 1, inf_key(w) + 1}};
          for (const auto& [lo, hi] : ranges) {
            for (int threads : {1, 2}) {
              auto be = make_cpu_backend(threads);
              const auto [want, want_below] = filter_keys(t, w, data, n, lo, hi);
              const std::string what = std::string(dtype_name(t)) + " n=" + std::to_string(n) + " ties=" +
                                       std::to_string(ties) + " lo=" + std::to_string(lo) + " hi=" +
                                       std::to_string(hi) + " threads=" + std::to_string(threads);
              // In two calls (the halves), as the host passes a tensor in pieces.
              KeyGather g;
              g.lo = lo;
              g.hi = hi;
              g.cap = n + 1;
              const std::size_t half = n / 2, esize = dtype_size(t);
              const TensorScan a = be->scan_gather(ConstTensor{t, data.data(), half}, w, g);
              const TensorScan b = be->scan_gather(ConstTensor{t, data.data() + half * esize, n - half}, w, g);
              EXPECT_FALSE(g.overflow) << what;
              EXPECT_EQ(g.keys, want) << what;
              EXPECT_EQ(g.below, want_below) << what;
              const TensorScan whole = be->scan(ConstTensor{t, data.data(), n});
              EXPECT_EQ(a.zeros + b.zeros, whole.zeros) << what;
              EXPECT_EQ(a.nan + b.nan, whole.nan) << what;
              KeyGather pass;
              pass.lo = lo;
              pass.hi = hi;
              pass.cap = n + 1;
              be->gather_keys(ConstTensor{t, data.data(), n}, w, pass);
              EXPECT_EQ(pass.keys, want) << what;
              EXPECT_EQ(pass.below, want_below) << what;
              // One key over the cap: overflow, no keys kept, and later calls gather nothing.
              if (!want.empty()) {
                KeyGather small;
                small.lo = lo;
                small.hi = hi;
                small.cap = want.size() - 1;
                be->gather_keys(ConstTensor{t, data.data(), n}, w, small);
                EXPECT_TRUE(small.overflow) << what;
                EXPECT_TRUE(small.keys.empty()) << what;
                small.cap = n + 1;
                be->scan_gather(ConstTensor{t, data.data(), n}, w, small);
                EXPECT_TRUE(small.overflow && small.keys.empty()) << what;
              }
            }
          }
        }
      }
    }
  }
}

TEST(CpuBackend, ScanGatherSumsEqualScanHistogram) {
  for (DType t : {DType::f16, DType::f32, DType::f64}) {
    const std::size_t n = 3 * kSumBlock + 123;
    const auto data = make_tensor(t, n, 5, false);
    auto be = make_cpu_backend(2);
    const KeyWidth w = native_key_width(t);
    const DigitLayout d = digit_layout(w).front();
    std::vector<std::uint64_t> hist(std::size_t{1} << d.bits, 0);
    KeyGather g;
    g.lo = 1;
    g.hi = 0x100;
    g.cap = n;
    // Chained in whole blocks, as the scan's pieces are: the same sum, bit for bit.
    const TensorScan first = be->scan_gather(ConstTensor{t, data.data(), kSumBlock}, w, g);
    const TensorScan rest = be->scan_gather(ConstTensor{t, data.data() + kSumBlock * dtype_size(t), n - kSumBlock}, w, g, first.sum_sq);
    const TensorScan ref = be->scan_histogram(ConstTensor{t, data.data(), n}, w, {d.shift, d.bits, 0}, hist.data());
    EXPECT_EQ(rest.sum_sq, ref.sum_sq) << dtype_name(t);
    EXPECT_EQ(first.zeros + rest.zeros, ref.zeros) << dtype_name(t);
  }
}
