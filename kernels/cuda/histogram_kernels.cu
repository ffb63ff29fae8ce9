// Radix digit histograms. Magnitudes crowd into few exponent bins, so each thread block counts
// in shared memory with warp aggregation (lanes with the same bin add once), in tiles short
// enough for packed 16-bit counters (two bins per word: 2^16 bins fit in 128 KiB). Each tile
// is flushed to the block's own row in global memory (no contention); a second kernel adds the
// rows into the 64-bit histogram. Integer counts: the result does not depend on the order.
#include <algorithm>
#include <atomic>
#include <stdexcept>
#include <type_traits>

#include "common/errors.hpp"
#include "kernels/cuda/device_keys.cuh"
#include "kernels/cuda/launchers.cuh"
#include "kernels/cuda/warp.cuh"

namespace h5p::cuda {
namespace {

constexpr int kThreads = 1024;
constexpr std::size_t kTile = kHistogramTile;
constexpr int kMaxBits = 16;

constexpr std::uint32_t kNoBin = 0xFFFFFFFFu;

// The digit bin element i counts in, or kNoBin when i is past the end or has another prefix.
template <int W, typename Bits>
__device__ __forceinline__ std::uint32_t bin_of(const Bits* d, std::size_t i, std::size_t end, int shift, int bits,
                                                std::uint64_t prefix, bool check_prefix) {
  if (i >= end) return kNoBin;
  const std::uint64_t k = key_of<W>(d[i]);
  if (check_prefix && (k >> (shift + bits)) != prefix) return kNoBin;
  return static_cast<std::uint32_t>((k >> shift) & ((std::uint64_t{1} << bits) - 1));
}

// Warp aggregation: of the lanes holding the same bin, the lowest adds for all (peers).
__device__ __forceinline__ bool bin_leader(std::uint32_t bin, unsigned& peers) {
  peers = __match_any_sync(kFullWarp, bin);
  return bin != kNoBin && lane_id() == static_cast<unsigned>(__ffs(peers) - 1);
}

template <typename Bits, int W>
__global__ void __launch_bounds__(kThreads)
histogram_kernel(const Bits* d, std::size_t n, std::size_t per_cta, int shift, int bits, std::uint64_t prefix,
                       bool check_prefix, std::uint32_t* rows) {
  extern __shared__ std::uint32_t packed[];  // bin b counts in the 16-bit half (b & 1) of word b / 2
  const std::uint32_t bins = 1u << bits;
  const std::uint32_t words = bins / 2;
  std::uint32_t* row = rows + blockIdx.x * std::size_t{bins};
  for (std::uint32_t w = threadIdx.x; w < words; w += blockDim.x) row[2 * w] = row[2 * w + 1] = 0;
  const std::size_t begin = blockIdx.x * per_cta;
  const std::size_t end = min(n, begin + per_cta);
  for (std::size_t tile = begin; tile < end; tile += kTile) {
    const std::size_t tile_end = min(end, tile + kTile);
    for (std::uint32_t w = threadIdx.x; w < words; w += blockDim.x) packed[w] = 0;
    __syncthreads();
    for (std::size_t base = tile; base < tile_end; base += blockDim.x) {  // same step count for every lane
      const std::uint32_t bin = bin_of<W>(d, base + threadIdx.x, tile_end, shift, bits, prefix, check_prefix);
      unsigned peers;
      if (bin_leader(bin, peers))
        atomicAdd(&packed[bin >> 1], static_cast<std::uint32_t>(__popc(peers)) << ((bin & 1u) * 16));
    }
    __syncthreads();
    for (std::uint32_t w = threadIdx.x; w < words; w += blockDim.x) {
      const std::uint32_t v = packed[w];
      if (v == 0) continue;
      row[2 * w] += v & 0xFFFFu;
      row[2 * w + 1] += v >> 16;
    }
    __syncthreads();
  }
}

// For devices whose blocks cannot have 128 KiB of shared memory (compute capability 8.6, 8.9,
// 12.x): the same warp-aggregated counting straight into the block's own row (zeroed before).
template <typename Bits, int W>
__global__ void __launch_bounds__(kThreads)
histogram_rows_kernel(const Bits* d, std::size_t n, std::size_t per_cta, int shift, int bits,
                            std::uint64_t prefix, bool check_prefix, std::uint32_t* rows) {
  std::uint32_t* row = rows + blockIdx.x * (std::size_t{1} << bits);
  const std::size_t begin = blockIdx.x * per_cta;
  const std::size_t end = min(n, begin + per_cta);
  for (std::size_t base = begin; base < end; base += blockDim.x) {  // same step count for every lane
    const std::uint32_t bin = bin_of<W>(d, base + threadIdx.x, end, shift, bits, prefix, check_prefix);
    unsigned peers;
    if (bin_leader(bin, peers)) atomicAdd(&row[bin], static_cast<std::uint32_t>(__popc(peers)));
  }
}

__global__ void add_rows_kernel(const std::uint32_t* rows, unsigned ctas, std::uint32_t bins, std::uint64_t* hist) {
  const std::uint32_t bin = blockIdx.x * blockDim.x + threadIdx.x;
  if (bin >= bins) return;
  std::uint64_t sum = 0;
  for (unsigned c = 0; c < ctas; ++c) sum += rows[c * std::size_t{bins} + bin];
  hist[bin] += sum;
}

// Resident blocks per multiprocessor of one kernel for each digit width, computed on first
// use, and the kernel's dynamic shared-memory limit, raised only when a launch needs more than
// before. One device per process (the backend uses device 0), so a process-wide cache is enough.
template <auto kernel>
int resident_per_sm(int bits, std::size_t shared) {
  static std::atomic<int> cache[kMaxBits + 1] = {};
  static std::atomic<std::size_t> raised_to{0};
  if (shared > raised_to.load(std::memory_order_relaxed)) {
    H5P_CUDA_TRY(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(shared)));
    raised_to.store(shared, std::memory_order_relaxed);
  }
  int per_sm = cache[bits].load(std::memory_order_relaxed);
  if (per_sm == 0) {
    H5P_CUDA_TRY(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kThreads, shared));
    per_sm = std::max(1, per_sm);
    cache[bits].store(per_sm, std::memory_order_relaxed);
  }
  return per_sm;
}

template <typename Bits, int W>
void launch_histogram(const Bits* d, std::size_t n, DigitPass pass, const DeviceLimits& limits,
                      DeviceBuffer<std::uint32_t>& rows, std::uint64_t* hist, cudaStream_t s) {
  const std::uint32_t bins = 1u << pass.bits;
  const std::size_t shared_needed = bins / 2 * sizeof(std::uint32_t);
  const bool in_shared = shared_needed <= static_cast<std::size_t>(limits.shared_per_block);
  const std::size_t shared = in_shared ? shared_needed : 0;
  const int per_sm = in_shared ? resident_per_sm<histogram_kernel<Bits, W>>(pass.bits, shared)
                               : resident_per_sm<histogram_rows_kernel<Bits, W>>(pass.bits, shared);
  const std::size_t tiles = (n + kTile - 1) / kTile;
  std::size_t ctas = std::min<std::size_t>(tiles, std::size_t(std::max(1, limits.multiprocessors)) * per_sm);
  if (limits.max_blocks > 0) ctas = std::min<std::size_t>(ctas, limits.max_blocks);
  ctas = std::max<std::size_t>(1, ctas);
  const std::size_t per_cta = (n + ctas - 1) / ctas;
  rows.grow(ctas * bins);
  if (!in_shared) H5P_CUDA_TRY(cudaMemsetAsync(rows.data(), 0, ctas * bins * sizeof(std::uint32_t), s));
  constexpr int key_bits = W == 16 ? 15 : W == 32 ? 31 : 63;
  const bool check_prefix = pass.shift + pass.bits < key_bits;
  const auto kernel = in_shared ? histogram_kernel<Bits, W> : histogram_rows_kernel<Bits, W>;
  kernel<<<static_cast<unsigned>(ctas), kThreads, shared, s>>>(d, n, per_cta, pass.shift, pass.bits, pass.prefix,
                                                               check_prefix, rows.data());
  H5P_CUDA_TRY(cudaGetLastError());
  add_rows_kernel<<<(bins + 255) / 256, 256, 0, s>>>(rows.data(), static_cast<unsigned>(ctas), bins, hist);
  H5P_CUDA_TRY(cudaGetLastError());
}

template <typename Bits>
void histogram_any(const Bits* d, std::size_t n, KeyWidth w, DigitPass pass, const DeviceLimits& limits,
                   DeviceBuffer<std::uint32_t>& rows, std::uint64_t* hist, cudaStream_t s) {
  H5P_EXPECTS(pass.bits >= 1 && pass.bits <= kMaxBits && pass.shift >= 0 && pass.shift + pass.bits <= 64,
              std::invalid_argument, "histogram: a digit needs 1 to 16 bits within the key");
  H5P_EXPECTS(n < (std::size_t{1} << 32), std::invalid_argument, "histogram: at most 2^32 - 1 elements per call");
  if (n == 0) return;
  with_key_width<Bits>(w, [&](auto width) {
    launch_histogram<Bits, decltype(width)::value>(d, n, pass, limits, rows, hist, s);
  });
}

}  // namespace

DeviceLimits read_device_limits() {
  DeviceLimits l;
  int device = 0;
  H5P_CUDA_TRY(cudaGetDevice(&device));
  H5P_CUDA_TRY(cudaDeviceGetAttribute(&l.multiprocessors, cudaDevAttrMultiProcessorCount, device));
  H5P_CUDA_TRY(cudaDeviceGetAttribute(&l.shared_per_block, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  return l;
}

void histogram(const std::uint16_t* d, std::size_t n, KeyWidth w, DigitPass pass, const DeviceLimits& limits,
               DeviceBuffer<std::uint32_t>& rows, std::uint64_t* hist, cudaStream_t s) {
  histogram_any(d, n, w, pass, limits, rows, hist, s);
}
void histogram(const std::uint32_t* d, std::size_t n, KeyWidth w, DigitPass pass, const DeviceLimits& limits,
               DeviceBuffer<std::uint32_t>& rows, std::uint64_t* hist, cudaStream_t s) {
  histogram_any(d, n, w, pass, limits, rows, hist, s);
}
void histogram(const std::uint64_t* d, std::size_t n, KeyWidth w, DigitPass pass, const DeviceLimits& limits,
               DeviceBuffer<std::uint32_t>& rows, std::uint64_t* hist, cudaStream_t s) {
  histogram_any(d, n, w, pass, limits, rows, hist, s);
}

}  // namespace h5p::cuda
