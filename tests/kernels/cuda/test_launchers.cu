// The CUDA launchers (kernels/cuda/launchers.cuh) against the 1-thread CPU backend, exactly, at
// sizes that cross every warp, sum block (kSumBlock), thread block (8 warps) and histogram tile
// boundary; the histogram also with its grid capped (each block counts several tiles) and in
// per-block rows (the fallback for cards without 128 KiB of shared memory per block), so that
// parity, memcheck and racecheck reach those paths on any card. Skips without a device. The
// Large* cases (more tiles than an H200 has resident blocks) are left out of the sanitizer runs.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "kernels/backend.hpp"
#include "kernels/cuda/cuda_probe.hpp"
#include "kernels/cuda/device_memory.cuh"
#include "kernels/cuda/launchers.cuh"
#include "kernels/keys.hpp"
#include "kernels/radix_select.hpp"
#include "tests/kernels/test_data.hpp"

using namespace h5p;
using namespace h5p::cuda;
using h5p::testing::Kind;
using h5p::testing::make_data;

namespace {

constexpr std::uint64_t kSeed = 20261129;
using Sizes = std::vector<std::size_t>;
constexpr std::size_t kCtaElements = 8 * kSumBlock;  // one thread block of the per-block kernels
const Sizes kBlockSizes = {1, 31, 32, 33, kSumBlock - 1, kSumBlock, kSumBlock + 1, kCtaElements - 1, kCtaElements,
                           kCtaElements + 1, 9 * kSumBlock + 33};
const Sizes kTileSizes = {1, 1023, 1025, kHistogramTile - 1, kHistogramTile, kHistogramTile + 1,
                          2 * kHistogramTile + 1, 5 * kHistogramTile + 3};
// More tiles than resident blocks on an H200 for every digit width (132 SMs, at most two
// 1024-thread blocks each: 264 * kHistogramTile = 17.03M), and far more than 8.5M elements.
constexpr std::size_t kLarge = 17'100'001;
const DType kTypes[] = {DType::f16, DType::f32, DType::f64};

#define REQUIRE_DEVICE()                                                                    \
  do {                                                                                      \
    if (probe_cuda().devices == 0) GTEST_SKIP() << "no CUDA device (" << probe_cuda().reason << ")"; \
  } while (0)

template <typename F>
void with_bits(DType t, F&& f) {
  if (t == DType::f16) f(std::uint16_t{});
  else if (t == DType::f32) f(std::uint32_t{});
  else f(std::uint64_t{});
}

template <typename T>
DeviceBuffer<T> to_device(const void* host, std::size_t n) {
  DeviceBuffer<T> d(std::max<std::size_t>(n, 1));
  if (n) H5P_CUDA_TRY(cudaMemcpy(d.data(), host, n * sizeof(T), cudaMemcpyHostToDevice));
  return d;
}
template <typename T>
std::vector<T> to_host(const T* device, std::size_t n) {
  H5P_CUDA_TRY(cudaDeviceSynchronize());
  std::vector<T> h(n);
  if (n) H5P_CUDA_TRY(cudaMemcpy(h.data(), device, n * sizeof(T), cudaMemcpyDeviceToHost));
  return h;
}

std::vector<KeyWidth> widths_for(DType t) {
  if (t == DType::f16) return {KeyWidth::k16, KeyWidth::k32, KeyWidth::k64};
  if (t == DType::f32) return {KeyWidth::k32, KeyWidth::k64};
  return {KeyWidth::k64};
}

std::string where(DType t, std::size_t n) {
  return std::string(dtype_name(t)) + " n=" + std::to_string(n) + " seed=" + std::to_string(kSeed + n);
}

struct Grid {
  std::string name;
  DeviceLimits limits;
};
std::vector<Grid> grids() {
  const DeviceLimits real = read_device_limits();
  auto capped = [&](DeviceLimits l, unsigned blocks) {
    l.max_blocks = blocks;
    return l;
  };
  DeviceLimits rows = real;
  rows.shared_per_block = 0;
  return {{"resident blocks", real}, {"1 block", capped(real, 1)}, {"2 blocks", capped(real, 2)},
          {"3 blocks", capped(real, 3)}, {"rows", rows}, {"rows, 2 blocks", capped(rows, 2)}};
}

// Every digit of width w (the first without a prefix, the later ones under key's prefix) on
// every grid, added to a histogram that already holds counts.
void check_histograms(DType t, std::size_t n, Kind kind, const std::vector<Grid>& grid_list) {
  const auto data = make_data(t, n, kind, false, kSeed + n);
  auto cpu = make_cpu_backend(1);
  const ConstTensor view{t, data.data(), n};
  DeviceBuffer<std::uint32_t> rows;
  DeviceBuffer<std::uint64_t> hist(std::size_t{1} << 16);
  with_bits(t, [&](auto bits) {
    using Bits = decltype(bits);
    const auto d = to_device<Bits>(data.data(), n);
    for (KeyWidth w : widths_for(t)) {
      const std::uint64_t key = element_key(t, w, data.data(), n / 2);
      for (const DigitLayout& digit : digit_layout(w)) {
        const int high = digit.shift + digit.bits;
        const DigitPass pass{digit.shift, digit.bits, high >= 64 ? 0 : key >> high};
        const std::size_t bins = std::size_t{1} << digit.bits;
        std::vector<std::uint64_t> want(bins, 5);
        cpu->histogram(view, w, pass, want.data());
        for (const Grid& g : grid_list) {
          const std::vector<std::uint64_t> start(bins, 5);
          H5P_CUDA_TRY(cudaMemcpy(hist.data(), start.data(), bins * 8, cudaMemcpyHostToDevice));
          histogram(d.data(), n, w, pass, g.limits, rows, hist.data(), nullptr);
          EXPECT_EQ(to_host(hist.data(), bins), want)
              << where(t, n) << " w=" << int(w) << " shift=" << digit.shift << " grid: " << g.name;
        }
      }
    }
  });
}

TEST(CudaHistogram, CrossesTilesAndBlocksOnEveryGrid) {
  REQUIRE_DEVICE();
  const auto grid_list = grids();
  for (DType t : kTypes)
    for (std::size_t n : kTileSizes) check_histograms(t, n, n % 2 ? Kind::ties : Kind::normal, grid_list);
}

TEST(CudaHistogram, LargeChunkHasMoreTilesThanResidentBlocks) {
  REQUIRE_DEVICE();
  const DeviceLimits real = read_device_limits();
  DeviceLimits rows = real;
  rows.shared_per_block = 0;
  for (DType t : {DType::f16, DType::f32}) check_histograms(t, kLarge, Kind::normal, {{"resident blocks", real}, {"rows", rows}});
}

// scan, count_equal, apply (every kind of quota, and a quota carried across two calls as the
// backend's chunks carry it), compaction, row counts, survivor masks and N:M at one size.
void check_block_kernels(DType t, std::size_t n) {
  auto cpu = make_cpu_backend(1);
  const std::string ctx = where(t, n);
  const std::size_t esize = dtype_size(t), blocks = (n + kSumBlock - 1) / kSumBlock;
  const KeyWidth w = native_key_width(t);
  with_bits(t, [&](auto bits) {
    using Bits = decltype(bits);
    // scan: per-block statistics folded in block order, as the backend folds them.
    {
      const auto data = make_data(t, n, Kind::specials, true, kSeed + n);
      const auto d = to_device<Bits>(data.data(), n);
      DeviceBuffer<BlockStats> stats(blocks);
      scan(d.data(), n, kSumBlock, stats.data(), nullptr);
      TensorScan got;
      got.n = n;
      for (const BlockStats& p : to_host(stats.data(), blocks))
        got.add(TensorScan{0, p.nan, p.zeros, p.min_key, p.max_key, p.sum_abs, p.sum_sq});
      const TensorScan want = cpu->scan(ConstTensor{t, data.data(), n});
      EXPECT_EQ(got.nan, want.nan) << ctx;
      EXPECT_EQ(got.zeros, want.zeros) << ctx;
      EXPECT_EQ(got.min_abs_key, want.min_abs_key) << ctx;
      EXPECT_EQ(got.max_abs_key, want.max_abs_key) << ctx;
      EXPECT_EQ(std::memcmp(&got.sum_abs, &want.sum_abs, 8), 0) << ctx << " sum_abs";
      EXPECT_EQ(std::memcmp(&got.sum_sq, &want.sum_sq, 8), 0) << ctx << " sum_sq";
    }
    // count_equal and apply, whole and split in two calls at a sum-block boundary.
    const auto data = make_data(t, n, Kind::ties, false, kSeed + 3 * n);
    const std::uint64_t K = element_key(t, w, data.data(), n * 7 / 10);
    const std::uint64_t ties = cpu->count_equal(ConstTensor{t, data.data(), n}, w, K);
    DeviceBuffer<std::uint64_t> tie_counts(blocks), tie_prefix(blocks), ties_before(1);
    DeviceBuffer<unsigned char> temp;
    {
      const auto d = to_device<Bits>(data.data(), n);
      count_equal(d.data(), n, w, K, tie_counts.data(), nullptr);
      std::uint64_t total = 0;
      for (std::uint64_t c : to_host(tie_counts.data(), blocks)) total += c;
      EXPECT_EQ(total, ties) << ctx << " count_equal";
    }
    const std::size_t split = n > kSumBlock ? (n / 2) / kSumBlock * kSumBlock : n;
    for (std::uint64_t quota : {std::uint64_t{0}, std::uint64_t{1}, ties / 2, ties, kAllTies}) {
      auto want = data;
      const ApplyResult expect = cpu->apply(MutTensor{t, want.data(), n}, w, K, quota);
      auto d = to_device<Bits>(data.data(), n);
      H5P_CUDA_TRY(cudaMemset(ties_before.data(), 0, 8));
      ApplyResult got;
      DeviceBuffer<BlockApply> out(blocks);
      for (const auto& [begin, count] : {std::pair{std::size_t{0}, split}, std::pair{split, n - split}}) {
        if (count == 0) continue;
        const std::size_t b = (count + kSumBlock - 1) / kSumBlock;
        Bits* part = d.data() + begin;
        const bool partial = quota > 0 && quota != kAllTies;
        if (partial) {
          count_equal(part, count, w, K, tie_counts.data(), nullptr);
          exclusive_sum(tie_counts.data(), tie_prefix.data(), b, temp, nullptr);
        }
        apply(part, count, w, K, quota, tie_counts.data(), tie_prefix.data(), ties_before.data(), out.data(), nullptr);
        if (partial) add_ties(tie_counts.data(), tie_prefix.data(), count, ties_before.data(), nullptr);
        for (const BlockApply& a : to_host(out.data(), b)) {
          got.pruned += a.pruned;
          got.ties += a.ties;
          got.ties_pruned += a.ties_pruned;
          got.kept_sum_sq += a.kept_sq;
        }
      }
      const std::string q = ctx + " quota=" + std::to_string(quota) + " split=" + std::to_string(split);
      const auto bytes = to_host(reinterpret_cast<const unsigned char*>(d.data()), n * esize);
      EXPECT_EQ(bytes, want) << q;
      EXPECT_EQ(got.pruned, expect.pruned) << q;
      EXPECT_EQ(got.ties, expect.ties) << q;
      EXPECT_EQ(got.ties_pruned, expect.ties_pruned) << q;
      EXPECT_EQ(std::memcmp(&got.kept_sum_sq, &expect.kept_sum_sq, 8), 0) << q;
    }
    // Survivors of a pruned tensor: counts, rows, compaction, masks.
    auto pruned = make_data(t, n, Kind::specials, false, kSeed + 5 * n);
    cpu->apply(MutTensor{t, pruned.data(), n}, w, element_key(t, w, pruned.data(), n / 3), 0);
    const ConstTensor view{t, pruned.data(), n};
    const auto d = to_device<Bits>(pruned.data(), n);
    {
      DeviceBuffer<std::uint64_t> counts(blocks), starts(blocks), index(n);
      DeviceBuffer<Bits> values(n);
      count_survivors(d.data(), n, counts.data(), nullptr);
      exclusive_sum(counts.data(), starts.data(), blocks, temp, nullptr);
      compact(d.data(), n, 1000, starts.data(), values.data(), index.data(), nullptr);
      std::vector<unsigned char> want_values(n * esize);
      std::vector<std::uint64_t> want_index(n);
      const std::uint64_t m = cpu->compact(view, 1000, want_values.data(), want_index.data());
      std::uint64_t total = 0;
      for (std::uint64_t c : to_host(counts.data(), blocks)) total += c;
      ASSERT_EQ(total, m) << ctx << " count_survivors";
      want_values.resize(m * esize);
      want_index.resize(m);
      EXPECT_EQ(to_host(reinterpret_cast<const unsigned char*>(values.data()), m * esize), want_values) << ctx;
      EXPECT_EQ(to_host(index.data(), m), want_index) << ctx;
    }
    for (const auto& [row_len, phase] : {std::pair{std::size_t{1}, std::size_t{0}}, std::pair{std::size_t{3}, std::size_t{1}},
                                        std::pair{std::size_t{1000}, std::size_t{999}}, std::pair{std::size_t{70000}, std::size_t{5}}}) {
      const std::size_t rows = (phase + n + row_len - 1) / row_len;
      std::vector<std::uint64_t> want(rows, 0);
      cpu->count_survivors(view, row_len, phase, want.data());
      DeviceBuffer<unsigned long long> got(rows);
      H5P_CUDA_TRY(cudaMemset(got.data(), 0, rows * 8));
      count_survivors_by_row(d.data(), n, row_len, phase, got.data(), nullptr);
      const auto g = to_host(got.data(), rows);
      EXPECT_EQ(std::vector<std::uint64_t>(g.begin(), g.end()), want) << ctx << " row_len=" << row_len;
    }
    for (unsigned offset : {0u, 3u, 7u}) {
      const std::size_t bytes = (offset + n + 7) / 8;
      std::vector<std::uint8_t> want(bytes, 0x5A);
      want[0] = 0xA5;
      cpu->survivor_mask(view, offset, want.data());
      DeviceBuffer<std::uint8_t> got(bytes);
      survivor_mask(d.data(), n, offset, 0xA5, got.data(), nullptr);
      EXPECT_EQ(to_host(got.data(), bytes), want) << ctx << " bit_offset=" << offset;
    }
    for (const auto& [keep, m] : {std::pair{2u, 4u}, std::pair{1u, 8u}, std::pair{3u, 7u}, std::pair{5u, 256u}}) {
      const std::size_t nm = n / m * m, groups = nm / m;
      if (nm == 0) continue;
      auto want = make_data(t, nm, Kind::ties, false, kSeed + 7 * n + m);
      auto dd = to_device<Bits>(want.data(), nm);
      std::vector<std::uint8_t> want_pos(groups * keep);
      std::vector<unsigned char> want_kept(groups * keep * esize);
      cpu->nm_apply(MutTensor{t, want.data(), nm}, keep, m, 1, want_pos.data(), want_kept.data());
      DeviceBuffer<std::uint8_t> pos(groups * keep);
      DeviceBuffer<Bits> kept(groups * keep);
      nm_apply(dd.data(), nm, keep, m, 1, pos.data(), kept.data(), nullptr);
      const std::string g = ctx + " " + std::to_string(keep) + ":" + std::to_string(m);
      EXPECT_EQ(to_host(reinterpret_cast<const unsigned char*>(dd.data()), nm * esize), want) << g;
      EXPECT_EQ(to_host(pos.data(), groups * keep), want_pos) << g;
      EXPECT_EQ(to_host(reinterpret_cast<const unsigned char*>(kept.data()), groups * keep * esize), want_kept) << g;
    }
    // Strided groups (an axis other than the last): members `stride` apart, runs of M * stride.
    for (const auto& [m, stride] : {std::pair{4u, std::size_t{5}}, std::pair{8u, std::size_t{64}}}) {
      const std::size_t run = m * stride, nm = n / run * run, groups = nm / m;
      if (nm == 0) continue;
      auto want = make_data(t, nm, Kind::ties, false, kSeed + 11 * n + run);
      auto dd = to_device<Bits>(want.data(), nm);
      std::vector<std::uint8_t> want_pos(groups * 2);
      cpu->nm_apply(MutTensor{t, want.data(), nm}, 2, m, stride, want_pos.data(), nullptr);
      DeviceBuffer<std::uint8_t> pos(groups * 2);
      nm_apply(dd.data(), nm, 2, m, stride, pos.data(), nullptr, nullptr);
      const std::string g = ctx + " 2:" + std::to_string(m) + " stride " + std::to_string(stride);
      EXPECT_EQ(to_host(reinterpret_cast<const unsigned char*>(dd.data()), nm * esize), want) << g;
      EXPECT_EQ(to_host(pos.data(), groups * 2), want_pos) << g;
    }
  });
}

TEST(CudaBlockKernels, CrossWarpBlockAndThreadBlockEdges) {
  REQUIRE_DEVICE();
  for (DType t : kTypes)
    for (std::size_t n : kBlockSizes) check_block_kernels(t, n);
}

TEST(CudaBlockKernels, LargeChunk) {
  REQUIRE_DEVICE();
  check_block_kernels(DType::f32, 9'000'001);
}

}  // namespace
