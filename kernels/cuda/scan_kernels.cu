// Per-block kernels, one warp per block: scan (per-block statistics: counts and lane-order
// sums), count_equal (tie counts) and the apply with its tie quota. Block results go to arrays the host adds in block order.
#include <cub/device/device_scan.cuh>

#include <algorithm>
#include <stdexcept>
#include <type_traits>

#include "common/errors.hpp"
#include "kernels/cuda/device_keys.cuh"
#include "kernels/cuda/launchers.cuh"
#include "kernels/cuda/warp.cuh"

namespace h5p::cuda {
namespace {

constexpr int kWarpsPerCta = 8;
constexpr int kCtaThreads = 32 * kWarpsPerCta;

std::size_t blocks_of(std::size_t n, std::size_t block_len) { return (n + block_len - 1) / block_len; }
unsigned ctas_for_warps(std::size_t warps) { return static_cast<unsigned>((warps + kWarpsPerCta - 1) / kWarpsPerCta); }

template <typename Bits>
__global__ void scan_kernel(const Bits* d, std::size_t n, std::size_t block_len, std::size_t blocks,
                                  BlockStats* out) {
  const std::size_t b = global_warp();
  if (b >= blocks) return;  // whole warps only: every lane shares b
  const unsigned lane = lane_id();
  constexpr int W = native_width(Bits{});
  const std::size_t begin = b * block_len;
  const std::size_t end = min(n, begin + block_len);
  unsigned long long nan = 0, zeros = 0, mn = ~0ull, mx = 0;
  double sum_abs = 0.0, sum_sq = 0.0;
  for (std::size_t i = begin + lane; i < end; i += 32) {
    const Bits bits = d[i];
    if (is_nan(bits)) {
      ++nan;
      continue;
    }
    const unsigned long long k = key_of<W>(bits);
    zeros += (k == 0);
    mn = min(mn, k);
    mx = max(mx, k);
    const double v = abs_value(bits);
    sum_abs = __dadd_rn(sum_abs, v);
    sum_sq = __dadd_rn(sum_sq, __dmul_rn(v, v));
  }
  nan = warp_sum(nan);
  zeros = warp_sum(zeros);
  for (int half = 16; half > 0; half /= 2) {
    mn = min(mn, __shfl_down_sync(kFullWarp, mn, half));
    mx = max(mx, __shfl_down_sync(kFullWarp, mx, half));
  }
  sum_abs = warp_fold(sum_abs);
  sum_sq = warp_fold(sum_sq);
  if (lane == 0) out[b] = BlockStats{nan, zeros, mn, mx, sum_abs, sum_sq};
}

template <typename Bits, int W>
__global__ void count_equal_kernel(const Bits* d, std::size_t n, std::size_t blocks, std::uint64_t K,
                                  std::uint64_t* ties) {
  const std::size_t b = global_warp();
  if (b >= blocks) return;
  const std::size_t begin = b * kSumBlock;
  const std::size_t end = min(n, begin + kSumBlock);
  unsigned long long c = 0;
  for (std::size_t i = begin + lane_id(); i < end; i += 32) c += (key_of<W>(d[i]) == K);
  c = warp_sum(c);
  if (lane_id() == 0) ties[b] = c;
}

template <typename Bits, int W>
__global__ void apply_kernel(Bits* d, std::size_t n, std::size_t blocks, std::uint64_t K, std::uint64_t quota,
                             const std::uint64_t* ties, const std::uint64_t* tie_prefix,
                             const std::uint64_t* ties_before, BlockApply* out) {
  const std::size_t b = global_warp();
  if (b >= blocks) return;
  const unsigned lane = lane_id();
  // This block's share of the quota: what the earlier chunks and blocks left, up to its own ties.
  std::uint64_t block_quota = 0;
  if (quota == kAllTies) {
    block_quota = kAllTies;
  } else if (quota > 0) {
    const std::uint64_t before = (ties_before ? *ties_before : 0) + tie_prefix[b];
    block_quota = quota > before ? min(quota - before, ties[b]) : 0;
  }
  const std::size_t begin = b * kSumBlock;
  const std::size_t end = min(n, begin + kSumBlock);
  unsigned long long pruned = 0, tie_count = 0, ties_pruned = 0;
  std::uint64_t seen = 0;  // ties before this step of the warp, in position order
  double kept_sq = 0.0;
  // Every lane runs every step (ballots need the whole warp); lanes past the end idle.
  for (std::size_t base = begin; base < end; base += 32) {
    const std::size_t i = base + lane;
    const bool valid = i < end;
    const Bits bits = valid ? d[i] : Bits{0};
    const std::uint64_t k = key_of<W>(bits);
    const bool tie = valid && k == K;
    const unsigned tie_mask = __ballot_sync(kFullWarp, tie);
    const std::uint64_t rank = seen + __popc(tie_mask & ((1u << lane) - 1u));
    const bool take_tie = tie && rank < block_quota;
    const bool prune = valid && (k < K || take_tie);
    seen += __popc(tie_mask);
    if (valid) {
      tie_count += tie;
      ties_pruned += take_tie;
      pruned += prune;
      if (prune) {
        d[i] = Bits{0};  // +0.0 in every IEEE format
      } else if (!is_nan(bits)) {
        const double v = abs_value(bits);
        kept_sq = __dadd_rn(kept_sq, __dmul_rn(v, v));
      }
      // A pruned element adds +0.0 on the CPU, which leaves the (non-negative) lane sum as is.
    }
  }
  pruned = warp_sum(pruned);
  tie_count = warp_sum(tie_count);
  ties_pruned = warp_sum(ties_pruned);
  kept_sq = warp_fold(kept_sq);
  if (lane == 0) out[b] = BlockApply{pruned, tie_count, ties_pruned, kept_sq};
}

template <typename Bits>
void launch_scan(const Bits* d, std::size_t n, std::size_t block_len, BlockStats* out, cudaStream_t s) {
  H5P_EXPECTS(block_len > 0, std::invalid_argument, "scan: block_len must be > 0");
  if (n == 0) return;
  const std::size_t blocks = blocks_of(n, block_len);
  scan_kernel<Bits><<<ctas_for_warps(blocks), kCtaThreads, 0, s>>>(d, n, block_len, blocks, out);
  H5P_CUDA_TRY(cudaGetLastError());
}

template <typename Bits>
void launch_count_equal(const Bits* d, std::size_t n, KeyWidth w, std::uint64_t K, std::uint64_t* ties,
                       cudaStream_t s) {
  if (n == 0) return;
  const std::size_t blocks = blocks_of(n, kSumBlock);
  with_key_width<Bits>(w, [&](auto width) {
    count_equal_kernel<Bits, decltype(width)::value><<<ctas_for_warps(blocks), kCtaThreads, 0, s>>>(d, n, blocks, K, ties);
  });
  H5P_CUDA_TRY(cudaGetLastError());
}

// One thread: the running tie count of a tensor's chunks.
__global__ void add_ties_kernel(const std::uint64_t* ties, const std::uint64_t* tie_prefix, std::size_t blocks,
                                std::uint64_t* ties_before) {
  *ties_before += tie_prefix[blocks - 1] + ties[blocks - 1];
}

template <typename Bits>
void launch_apply(Bits* d, std::size_t n, KeyWidth w, std::uint64_t K, std::uint64_t quota, const std::uint64_t* ties,
                  const std::uint64_t* tie_prefix, const std::uint64_t* ties_before, BlockApply* out, cudaStream_t s) {
  H5P_EXPECTS(quota == 0 || quota == kAllTies || (ties && tie_prefix), std::invalid_argument,
              "apply: a partial tie quota needs the block tie counts and their prefix sum");
  if (n == 0) return;
  const std::size_t blocks = blocks_of(n, kSumBlock);
  with_key_width<Bits>(w, [&](auto width) {
    apply_kernel<Bits, decltype(width)::value>
        <<<ctas_for_warps(blocks), kCtaThreads, 0, s>>>(d, n, blocks, K, quota, ties, tie_prefix, ties_before, out);
  });
  H5P_CUDA_TRY(cudaGetLastError());
}

}  // namespace

void scan(const std::uint16_t* d, std::size_t n, std::size_t block_len, BlockStats* out, cudaStream_t s) {
  launch_scan(d, n, block_len, out, s);
}
void scan(const std::uint32_t* d, std::size_t n, std::size_t block_len, BlockStats* out, cudaStream_t s) {
  launch_scan(d, n, block_len, out, s);
}
void scan(const std::uint64_t* d, std::size_t n, std::size_t block_len, BlockStats* out, cudaStream_t s) {
  launch_scan(d, n, block_len, out, s);
}

void count_equal(const std::uint16_t* d, std::size_t n, KeyWidth w, std::uint64_t K, std::uint64_t* ties, cudaStream_t s) {
  launch_count_equal(d, n, w, K, ties, s);
}
void count_equal(const std::uint32_t* d, std::size_t n, KeyWidth w, std::uint64_t K, std::uint64_t* ties, cudaStream_t s) {
  launch_count_equal(d, n, w, K, ties, s);
}
void count_equal(const std::uint64_t* d, std::size_t n, KeyWidth w, std::uint64_t K, std::uint64_t* ties, cudaStream_t s) {
  launch_count_equal(d, n, w, K, ties, s);
}

std::size_t exclusive_sum_scratch(std::size_t count) {
  std::size_t bytes = 0;
  H5P_CUDA_TRY(cub::DeviceScan::ExclusiveSum(nullptr, bytes, static_cast<const std::uint64_t*>(nullptr),
                                             static_cast<std::uint64_t*>(nullptr), count));
  return std::max<std::size_t>(bytes, 1);
}

void exclusive_sum(const std::uint64_t* in, std::uint64_t* out, std::size_t count, DeviceBuffer<unsigned char>& temp,
                   cudaStream_t s) {
  if (count == 0) return;
  std::size_t bytes = 0;
  H5P_CUDA_TRY(cub::DeviceScan::ExclusiveSum(nullptr, bytes, in, out, count, s));
  temp.grow(bytes);
  H5P_CUDA_TRY(cub::DeviceScan::ExclusiveSum(temp.data(), bytes, in, out, count, s));
}

void apply(std::uint16_t* d, std::size_t n, KeyWidth w, std::uint64_t K, std::uint64_t quota, const std::uint64_t* ties,
           const std::uint64_t* tie_prefix, const std::uint64_t* ties_before, BlockApply* out, cudaStream_t s) {
  launch_apply(d, n, w, K, quota, ties, tie_prefix, ties_before, out, s);
}
void apply(std::uint32_t* d, std::size_t n, KeyWidth w, std::uint64_t K, std::uint64_t quota, const std::uint64_t* ties,
           const std::uint64_t* tie_prefix, const std::uint64_t* ties_before, BlockApply* out, cudaStream_t s) {
  launch_apply(d, n, w, K, quota, ties, tie_prefix, ties_before, out, s);
}
void apply(std::uint64_t* d, std::size_t n, KeyWidth w, std::uint64_t K, std::uint64_t quota, const std::uint64_t* ties,
           const std::uint64_t* tie_prefix, const std::uint64_t* ties_before, BlockApply* out, cudaStream_t s) {
  launch_apply(d, n, w, K, quota, ties, tie_prefix, ties_before, out, s);
}

void add_ties(const std::uint64_t* ties, const std::uint64_t* tie_prefix, std::size_t n, std::uint64_t* ties_before,
              cudaStream_t s) {
  if (n == 0) return;
  add_ties_kernel<<<1, 1, 0, s>>>(ties, tie_prefix, blocks_of(n, kSumBlock), ties_before);
  H5P_CUDA_TRY(cudaGetLastError());
}

}  // namespace h5p::cuda
