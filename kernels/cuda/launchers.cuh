// The CUDA kernels' launchers, on device pointers. One launcher per operation, named as the
// Backend entry point it serves (kernels/backend.hpp), overloaded per element type (the IEEE bits: uint16 = float16, uint32 = float32, uint64 = float64). Each
// checks its inputs, returns at once for n == 0, launches on the given stream and checks the
// launch. Internal to the CUDA backend, its tests and its benchmarks.
// Per-block outputs hold ceil(n / block) entries: block_len for scan, kSumBlock for the
// others. Counters written by atomics are unsigned long long (what atomicAdd takes).
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "kernels/backend.hpp"
#include "kernels/cuda/device_memory.cuh"

namespace h5p::cuda {

// Per block of block_len elements (one warp each): the counts and the lane-order sums of
// kernels/lane_sum.hpp. Keys are native width; NaN adds nothing to the sums.
struct BlockStats {
  unsigned long long nan, zeros, min_key, max_key;
  double sum_abs, sum_sq;
};
void scan(const std::uint16_t* d, std::size_t n, std::size_t block_len, BlockStats* out, cudaStream_t s);
void scan(const std::uint32_t* d, std::size_t n, std::size_t block_len, BlockStats* out, cudaStream_t s);
void scan(const std::uint64_t* d, std::size_t n, std::size_t block_len, BlockStats* out, cudaStream_t s);

// What grids are sized from, read once per device (read_device_limits). The launcher tests
// shrink it to reach the multi-tile loop and the per-block-row fallback on any card.
constexpr std::size_t kHistogramTile = 63 * 1024;  // < 65536: no 16-bit count can overflow in a tile
struct DeviceLimits {
  int multiprocessors = 1;
  int shared_per_block = 0;  // bytes a block may opt in to; below 128 KiB, 16-bit digits count in rows
  unsigned max_blocks = 0;   // cap on a histogram's thread blocks; 0: as many as can be resident
};
DeviceLimits read_device_limits();

// Adds the digit histogram of the keys (width w) into hist[0 .. 2^pass.bits) (device, 64-bit).
// Digits of 1 to 16 bits, n < 2^32 per call. Each thread block counts tiles of kHistogramTile
// elements; a block with more than one tile flushes and re-zeroes its counters between them. rows is scratch for per-thread-block counts; it
// grows as needed.
void histogram(const std::uint16_t* d, std::size_t n, KeyWidth w, DigitPass pass, const DeviceLimits& limits,
               DeviceBuffer<std::uint32_t>& rows, std::uint64_t* hist, cudaStream_t s);
void histogram(const std::uint32_t* d, std::size_t n, KeyWidth w, DigitPass pass, const DeviceLimits& limits,
               DeviceBuffer<std::uint32_t>& rows, std::uint64_t* hist, cudaStream_t s);
void histogram(const std::uint64_t* d, std::size_t n, KeyWidth w, DigitPass pass, const DeviceLimits& limits,
               DeviceBuffer<std::uint32_t>& rows, std::uint64_t* hist, cudaStream_t s);

// Per kSumBlock block: the number of keys (width w) equal to K.
void count_equal(const std::uint16_t* d, std::size_t n, KeyWidth w, std::uint64_t K, std::uint64_t* ties, cudaStream_t s);
void count_equal(const std::uint32_t* d, std::size_t n, KeyWidth w, std::uint64_t K, std::uint64_t* ties, cudaStream_t s);
void count_equal(const std::uint64_t* d, std::size_t n, KeyWidth w, std::uint64_t K, std::uint64_t* ties, cudaStream_t s);

// out[i] = in[0] + ... + in[i-1] (CUB); temp grows as needed, to at most
// exclusive_sum_scratch(count) bytes.
void exclusive_sum(const std::uint64_t* in, std::uint64_t* out, std::size_t count, DeviceBuffer<unsigned char>& temp,
                   cudaStream_t s);
std::size_t exclusive_sum_scratch(std::size_t count);

// Apply: key < K becomes +0.0, and so do the first `quota` ties (key == K) in position order
// (kAllTies: every tie, with no tie counts needed; 0: none). Otherwise ties and tie_prefix are
// count_equal and its exclusive_sum over this call's blocks, and ties_before (device; null
// reads as 0) counts the ties of the calls before this one on the same tensor, so a tensor's
// chunks need no round trip to the host. Each warp takes its block's share of the quota and
// ranks its ties with a ballot (never atomics).
struct BlockApply {
  unsigned long long pruned, ties, ties_pruned;
  double kept_sq;  // lane-order sum of squares of the block after the apply (NaN adds nothing)
};
void apply(std::uint16_t* d, std::size_t n, KeyWidth w, std::uint64_t K, std::uint64_t quota, const std::uint64_t* ties,
           const std::uint64_t* tie_prefix, const std::uint64_t* ties_before, BlockApply* out, cudaStream_t s);
void apply(std::uint32_t* d, std::size_t n, KeyWidth w, std::uint64_t K, std::uint64_t quota, const std::uint64_t* ties,
           const std::uint64_t* tie_prefix, const std::uint64_t* ties_before, BlockApply* out, cudaStream_t s);
void apply(std::uint64_t* d, std::size_t n, KeyWidth w, std::uint64_t K, std::uint64_t quota, const std::uint64_t* ties,
           const std::uint64_t* tie_prefix, const std::uint64_t* ties_before, BlockApply* out, cudaStream_t s);
// *ties_before += this call's ties (the last prefix entry plus the last count): run after
// apply on the same stream, before the next chunk's.
void add_ties(const std::uint64_t* ties, const std::uint64_t* tie_prefix, std::size_t n, std::uint64_t* ties_before,
              cudaStream_t s);

// Compaction. A survivor is an element whose bits are not all zero (not +0.0).
// Per kSumBlock block: the number of survivors.
void count_survivors(const std::uint16_t* d, std::size_t n, std::uint64_t* counts, cudaStream_t s);
void count_survivors(const std::uint32_t* d, std::size_t n, std::uint64_t* counts, cudaStream_t s);
void count_survivors(const std::uint64_t* d, std::size_t n, std::uint64_t* counts, cudaStream_t s);

// rows[(phase + i) / row_len] += survival of element i (integer atomics: the sums are exact).
void count_survivors_by_row(const std::uint16_t* d, std::size_t n, std::size_t row_len, std::size_t phase,
                   unsigned long long* rows, cudaStream_t s);
void count_survivors_by_row(const std::uint32_t* d, std::size_t n, std::size_t row_len, std::size_t phase,
                   unsigned long long* rows, cudaStream_t s);
void count_survivors_by_row(const std::uint64_t* d, std::size_t n, std::size_t row_len, std::size_t phase,
                   unsigned long long* rows, cudaStream_t s);

// The j-th survivor goes to values[j] and index[j] = base + position (either may be null);
// block_start is the exclusive_sum of count_survivors.
void compact(const std::uint16_t* d, std::size_t n, std::uint64_t base, const std::uint64_t* block_start,
                       std::uint16_t* values, std::uint64_t* index, cudaStream_t s);
void compact(const std::uint32_t* d, std::size_t n, std::uint64_t base, const std::uint64_t* block_start,
                       std::uint32_t* values, std::uint64_t* index, cudaStream_t s);
void compact(const std::uint64_t* d, std::size_t n, std::uint64_t base, const std::uint64_t* block_start,
                       std::uint64_t* values, std::uint64_t* index, cudaStream_t s);

// Bit (bit_offset + i) of bits (LSB first) = survival of element i, for ceil((bit_offset+n)/8)
// bytes; the first byte's bits below bit_offset are taken from kept_low (its other bits are
// ignored).
void survivor_mask(const std::uint16_t* d, std::size_t n, unsigned bit_offset, std::uint8_t kept_low,
                   std::uint8_t* bits, cudaStream_t s);
void survivor_mask(const std::uint32_t* d, std::size_t n, unsigned bit_offset, std::uint8_t kept_low,
                   std::uint8_t* bits, cudaStream_t s);
void survivor_mask(const std::uint64_t* d, std::size_t n, unsigned bit_offset, std::uint8_t kept_low,
                   std::uint8_t* bits, cudaStream_t s);

// N:M: in each group of m elements `stride` apart (Backend::nm_apply) keep the `keep` largest
// magnitudes (ties: lower index), +0.0 the rest; positions/kept (may be null) get the kept
// in-group indices and values, group by group.
void nm_apply(std::uint16_t* d, std::size_t n, unsigned keep, unsigned m, std::size_t stride, std::uint8_t* positions,
              std::uint16_t* kept, cudaStream_t s);
void nm_apply(std::uint32_t* d, std::size_t n, unsigned keep, unsigned m, std::size_t stride, std::uint8_t* positions,
              std::uint32_t* kept, cudaStream_t s);
void nm_apply(std::uint64_t* d, std::size_t n, unsigned keep, unsigned m, std::size_t stride, std::uint8_t* positions,
              std::uint64_t* kept, cudaStream_t s);

}  // namespace h5p::cuda
