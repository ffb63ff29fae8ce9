// The CUDA kernels' launchers, on device pointers. One launcher per operation, overloaded per
// element type (the IEEE bits: uint16 = float16, uint32 = float32, uint64 = float64). Each
// checks its inputs, returns at once for n == 0, launches on the given stream and checks the
// launch. Internal to the CUDA backend, its tests and its benchmarks.
// Per-block outputs hold ceil(n / block) entries: block_len for block_scan, kSumBlock for the
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
struct BlockScan {
  unsigned long long nan, zeros, min_key, max_key;
  double sum_abs, sum_sq;
};
void block_scan(const std::uint16_t* d, std::size_t n, std::size_t block_len, BlockScan* out, cudaStream_t s);
void block_scan(const std::uint32_t* d, std::size_t n, std::size_t block_len, BlockScan* out, cudaStream_t s);
void block_scan(const std::uint64_t* d, std::size_t n, std::size_t block_len, BlockScan* out, cudaStream_t s);

// Adds the digit histogram of the keys (width w) into hist[0 .. 2^pass.bits) (device, 64-bit).
// Digits of 1 to 16 bits, n < 2^32 per call. rows is scratch for per-thread-block counts; it
// grows as needed.
void digit_histogram(const std::uint16_t* d, std::size_t n, KeyWidth w, DigitPass pass, DeviceBuffer<std::uint32_t>& rows,
                     std::uint64_t* hist, cudaStream_t s);
void digit_histogram(const std::uint32_t* d, std::size_t n, KeyWidth w, DigitPass pass, DeviceBuffer<std::uint32_t>& rows,
                     std::uint64_t* hist, cudaStream_t s);
void digit_histogram(const std::uint64_t* d, std::size_t n, KeyWidth w, DigitPass pass, DeviceBuffer<std::uint32_t>& rows,
                     std::uint64_t* hist, cudaStream_t s);

// Per kSumBlock block: the number of keys (width w) equal to K.
void block_ties(const std::uint16_t* d, std::size_t n, KeyWidth w, std::uint64_t K, std::uint64_t* ties, cudaStream_t s);
void block_ties(const std::uint32_t* d, std::size_t n, KeyWidth w, std::uint64_t K, std::uint64_t* ties, cudaStream_t s);
void block_ties(const std::uint64_t* d, std::size_t n, KeyWidth w, std::uint64_t K, std::uint64_t* ties, cudaStream_t s);

// out[i] = in[0] + ... + in[i-1] (CUB); temp grows as needed.
void exclusive_sum(const std::uint64_t* in, std::uint64_t* out, std::size_t count, DeviceBuffer<unsigned char>& temp,
                   cudaStream_t s);

// Apply: key < K becomes +0.0, and so do the first `quota` ties (key == K) in position order.
// With quota > 0, ties and tie_prefix are block_ties and its exclusive_sum; each warp takes its
// block's share of the quota from them and ranks its ties with a ballot (never atomics).
struct BlockApply {
  unsigned long long pruned, ties, ties_pruned;
  double kept_sq;  // lane-order sum of squares of the block after the apply (NaN adds nothing)
};
void apply_threshold(std::uint16_t* d, std::size_t n, KeyWidth w, std::uint64_t K, std::uint64_t quota,
                     const std::uint64_t* ties, const std::uint64_t* tie_prefix, BlockApply* out, cudaStream_t s);
void apply_threshold(std::uint32_t* d, std::size_t n, KeyWidth w, std::uint64_t K, std::uint64_t quota,
                     const std::uint64_t* ties, const std::uint64_t* tie_prefix, BlockApply* out, cudaStream_t s);
void apply_threshold(std::uint64_t* d, std::size_t n, KeyWidth w, std::uint64_t K, std::uint64_t quota,
                     const std::uint64_t* ties, const std::uint64_t* tie_prefix, BlockApply* out, cudaStream_t s);

// Compaction. A survivor is an element whose bits are not all zero (not +0.0).
// Per kSumBlock block: the number of survivors.
void block_survivors(const std::uint16_t* d, std::size_t n, std::uint64_t* counts, cudaStream_t s);
void block_survivors(const std::uint32_t* d, std::size_t n, std::uint64_t* counts, cudaStream_t s);
void block_survivors(const std::uint64_t* d, std::size_t n, std::uint64_t* counts, cudaStream_t s);

// rows[(phase + i) / row_len] += survival of element i (integer atomics: the sums are exact).
void row_survivors(const std::uint16_t* d, std::size_t n, std::size_t row_len, std::size_t phase,
                   unsigned long long* rows, cudaStream_t s);
void row_survivors(const std::uint32_t* d, std::size_t n, std::size_t row_len, std::size_t phase,
                   unsigned long long* rows, cudaStream_t s);
void row_survivors(const std::uint64_t* d, std::size_t n, std::size_t row_len, std::size_t phase,
                   unsigned long long* rows, cudaStream_t s);

// The j-th survivor goes to values[j] and index[j] = base + position (either may be null);
// block_start is the exclusive_sum of block_survivors.
void compact_survivors(const std::uint16_t* d, std::size_t n, std::uint64_t base, const std::uint64_t* block_start,
                       std::uint16_t* values, std::uint64_t* index, cudaStream_t s);
void compact_survivors(const std::uint32_t* d, std::size_t n, std::uint64_t base, const std::uint64_t* block_start,
                       std::uint32_t* values, std::uint64_t* index, cudaStream_t s);
void compact_survivors(const std::uint64_t* d, std::size_t n, std::uint64_t base, const std::uint64_t* block_start,
                       std::uint64_t* values, std::uint64_t* index, cudaStream_t s);

// Bit (bit_offset + i) of bits (LSB first) = survival of element i, for ceil((bit_offset+n)/8)
// bytes; the first byte's bits below bit_offset are taken from kept_low (its other bits are
// ignored).
void survivor_bits(const std::uint16_t* d, std::size_t n, unsigned bit_offset, std::uint8_t kept_low,
                   std::uint8_t* bits, cudaStream_t s);
void survivor_bits(const std::uint32_t* d, std::size_t n, unsigned bit_offset, std::uint8_t kept_low,
                   std::uint8_t* bits, cudaStream_t s);
void survivor_bits(const std::uint64_t* d, std::size_t n, unsigned bit_offset, std::uint8_t kept_low,
                   std::uint8_t* bits, cudaStream_t s);

// N:M: in each group of m elements `stride` apart (Backend::nm_apply) keep the `keep` largest
// magnitudes (ties: lower index), +0.0 the rest; positions/kept (may be null) get the kept
// in-group indices and values, group by group.
void nm_select(std::uint16_t* d, std::size_t n, unsigned keep, unsigned m, std::size_t stride, std::uint8_t* positions,
               std::uint16_t* kept, cudaStream_t s);
void nm_select(std::uint32_t* d, std::size_t n, unsigned keep, unsigned m, std::size_t stride, std::uint8_t* positions,
               std::uint32_t* kept, cudaStream_t s);
void nm_select(std::uint64_t* d, std::size_t n, unsigned keep, unsigned m, std::size_t stride, std::uint8_t* positions,
               std::uint64_t* kept, cudaStream_t s);

}  // namespace h5p::cuda
