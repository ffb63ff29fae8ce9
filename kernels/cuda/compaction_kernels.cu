// Compaction and N:M on the device: survivor counts per block and per row, order-preserving
// compaction (block starts from a prefix sum, ranks within a block from warp ballots),
// survivor bitmaps and N:M group selection.
#include <stdexcept>

#include "common/errors.hpp"
#include "kernels/cuda/device_keys.cuh"
#include "kernels/cuda/launchers.cuh"
#include "kernels/cuda/warp.cuh"

namespace h5p::cuda {
namespace {

constexpr int kWarpsPerCta = 8;
constexpr int kCtaThreads = 32 * kWarpsPerCta;

unsigned ctas_for(std::size_t threads, int per_cta) { return static_cast<unsigned>((threads + per_cta - 1) / per_cta); }
std::size_t sum_blocks(std::size_t n) { return (n + kSumBlock - 1) / kSumBlock; }

template <typename Bits>
__global__ void count_survivors_kernel(const Bits* d, std::size_t n, std::size_t blocks, std::uint64_t* counts) {
  const std::size_t b = global_warp();
  if (b >= blocks) return;
  const unsigned lane = lane_id();
  const std::size_t begin = b * kSumBlock, end = min(n, begin + kSumBlock);
  unsigned long long c = 0;
  for (std::size_t i = begin + lane; i < end; i += 32) c += (d[i] != 0);
  c = warp_sum(c);
  if (lane == 0) counts[b] = c;
}

// Consecutive elements mostly share a row: lanes with the same row add once.
template <typename Bits>
__global__ void count_survivors_by_row_kernel(const Bits* d, std::size_t n, std::size_t row_len, std::size_t phase,
                                     unsigned long long* rows) {
  const std::size_t i = global_thread();
  const bool valid = i < n;
  const bool survives = valid && d[i] != 0;
  const unsigned long long row = survives ? (phase + i) / row_len : ~0ull;
  const unsigned peers = __match_any_sync(kFullWarp, row);
  if (survives && (lane_id()) == static_cast<unsigned>(__ffs(peers) - 1)) atomicAdd(&rows[row], __popc(peers));
}

template <typename Bits>
__global__ void compact_kernel(const Bits* d, std::size_t n, std::size_t blocks, std::uint64_t base,
                               const std::uint64_t* block_start, Bits* values, std::uint64_t* index) {
  const std::size_t b = global_warp();
  if (b >= blocks) return;
  const unsigned lane = lane_id();
  const std::size_t begin = b * kSumBlock, end = min(n, begin + kSumBlock);
  std::uint64_t next = block_start[b];
  for (std::size_t step = begin; step < end; step += 32) {
    const std::size_t i = step + lane;
    const Bits bits = i < end ? d[i] : Bits{0};
    const unsigned mask = __ballot_sync(kFullWarp, bits != 0);
    if (bits != 0) {
      const std::uint64_t j = next + __popc(mask & ((1u << lane) - 1u));
      if (values) values[j] = bits;
      if (index) index[j] = base + i;
    }
    next += __popc(mask);
  }
}

// One thread per bit; each warp writes the 4 bytes its 32 bits make.
template <typename Bits>
__global__ void survivor_mask_kernel(const Bits* d, std::size_t n, unsigned bit_offset, std::uint8_t kept_low,
                                     std::size_t bytes, std::uint8_t* out) {
  const std::size_t pos = global_thread();
  const std::size_t warp_first_byte = (pos & ~std::size_t{31}) / 8;
  if (warp_first_byte >= bytes) return;  // whole warps only
  const bool survives = pos >= bit_offset && pos - bit_offset < n && d[pos - bit_offset] != 0;
  const unsigned mask = __ballot_sync(kFullWarp, survives);
  if ((lane_id()) != 0) return;
  for (unsigned k = 0; k < 4 && warp_first_byte + k < bytes; ++k) {
    std::uint8_t byte = static_cast<std::uint8_t>(mask >> (8 * k));
    if (warp_first_byte + k == 0) byte |= kept_low;
    out[warp_first_byte + k] = byte;
  }
}

// One thread per group: element j is kept when fewer than `keep` elements of its group rank
// above it (larger key, or the same key at a lower index). Group g's elements are `stride`
// apart: run g / stride (m * stride elements), offset g % stride.
template <typename Bits>
__global__ void nm_apply_kernel(Bits* d, std::size_t groups, unsigned keep, unsigned m, std::size_t stride,
                                std::uint8_t* positions, Bits* kept) {
  const std::size_t g = global_thread();
  if (g >= groups) return;
  constexpr int W = native_width(Bits{});
  Bits* base = d + (g / stride) * m * stride + g % stride;
  auto group = [base, stride](unsigned j) -> Bits& { return base[j * stride]; };
  std::uint64_t keep_bits[4] = {0, 0, 0, 0};  // up to 256 in-group positions
  unsigned out = 0;
  for (unsigned j = 0; j < m; ++j) {
    const std::uint64_t kj = key_of<W>(group(j));
    unsigned above = 0;
    for (unsigned i = 0; i < m && above < keep; ++i) {
      const std::uint64_t ki = key_of<W>(group(i));
      above += (ki > kj) || (ki == kj && i < j);
    }
    if (above < keep) keep_bits[j / 64] |= std::uint64_t{1} << (j % 64);
  }
  for (unsigned j = 0; j < m; ++j) {
    if (keep_bits[j / 64] >> (j % 64) & 1u) {
      if (positions) positions[g * keep + out] = static_cast<std::uint8_t>(j);
      if (kept) kept[g * keep + out] = group(j);
      ++out;
    } else {
      group(j) = Bits{0};  // +0.0
    }
  }
}

template <typename Bits>
void launch_count_survivors(const Bits* d, std::size_t n, std::uint64_t* counts, cudaStream_t s) {
  if (n == 0) return;
  const std::size_t blocks = sum_blocks(n);
  count_survivors_kernel<<<ctas_for(blocks * 32, kCtaThreads), kCtaThreads, 0, s>>>(d, n, blocks, counts);
  H5P_CUDA_TRY(cudaGetLastError());
}

template <typename Bits>
void launch_count_survivors_by_row(const Bits* d, std::size_t n, std::size_t row_len, std::size_t phase,
                          unsigned long long* rows, cudaStream_t s) {
  H5P_EXPECTS(row_len > 0 && phase < row_len, std::invalid_argument, "count_survivors_by_row: need 0 <= phase < row_len");
  if (n == 0) return;
  count_survivors_by_row_kernel<<<ctas_for(n, kCtaThreads), kCtaThreads, 0, s>>>(d, n, row_len, phase, rows);
  H5P_CUDA_TRY(cudaGetLastError());
}

template <typename Bits>
void launch_compact(const Bits* d, std::size_t n, std::uint64_t base, const std::uint64_t* block_start, Bits* values,
                    std::uint64_t* index, cudaStream_t s) {
  if (n == 0) return;
  const std::size_t blocks = sum_blocks(n);
  compact_kernel<<<ctas_for(blocks * 32, kCtaThreads), kCtaThreads, 0, s>>>(d, n, blocks, base, block_start, values,
                                                                           index);
  H5P_CUDA_TRY(cudaGetLastError());
}

template <typename Bits>
void launch_survivor_mask(const Bits* d, std::size_t n, unsigned bit_offset, std::uint8_t kept_low, std::uint8_t* bits,
                          cudaStream_t s) {
  H5P_EXPECTS(bit_offset < 8, std::invalid_argument, "survivor_mask: bit_offset must be < 8");
  if (n == 0) return;
  const std::size_t bytes = (bit_offset + n + 7) / 8;
  kept_low &= static_cast<std::uint8_t>((1u << bit_offset) - 1u);  // only the bits below bit_offset
  survivor_mask_kernel<<<ctas_for(bytes * 8, kCtaThreads), kCtaThreads, 0, s>>>(d, n, bit_offset, kept_low, bytes,
                                                                               bits);
  H5P_CUDA_TRY(cudaGetLastError());
}

template <typename Bits>
void launch_nm_apply(Bits* d, std::size_t n, unsigned keep, unsigned m, std::size_t stride, std::uint8_t* positions,
                     Bits* kept, cudaStream_t s) {
  H5P_EXPECTS(m >= 1 && m <= kMaxNmGroup && keep >= 1 && keep <= m && stride >= 1 && n % (m * stride) == 0,
              std::invalid_argument, "nm_apply: need 1 <= N <= M <= 256, stride >= 1 and whole runs of M * stride");
  if (n == 0) return;
  const std::size_t groups = n / m;
  nm_apply_kernel<<<ctas_for(groups, 128), 128, 0, s>>>(d, groups, keep, m, stride, positions, kept);
  H5P_CUDA_TRY(cudaGetLastError());
}

}  // namespace

void count_survivors(const std::uint16_t* d, std::size_t n, std::uint64_t* counts, cudaStream_t s) {
  launch_count_survivors(d, n, counts, s);
}
void count_survivors(const std::uint32_t* d, std::size_t n, std::uint64_t* counts, cudaStream_t s) {
  launch_count_survivors(d, n, counts, s);
}
void count_survivors(const std::uint64_t* d, std::size_t n, std::uint64_t* counts, cudaStream_t s) {
  launch_count_survivors(d, n, counts, s);
}

void count_survivors_by_row(const std::uint16_t* d, std::size_t n, std::size_t row_len, std::size_t phase,
                   unsigned long long* rows, cudaStream_t s) {
  launch_count_survivors_by_row(d, n, row_len, phase, rows, s);
}
void count_survivors_by_row(const std::uint32_t* d, std::size_t n, std::size_t row_len, std::size_t phase,
                   unsigned long long* rows, cudaStream_t s) {
  launch_count_survivors_by_row(d, n, row_len, phase, rows, s);
}
void count_survivors_by_row(const std::uint64_t* d, std::size_t n, std::size_t row_len, std::size_t phase,
                   unsigned long long* rows, cudaStream_t s) {
  launch_count_survivors_by_row(d, n, row_len, phase, rows, s);
}

void compact(const std::uint16_t* d, std::size_t n, std::uint64_t base, const std::uint64_t* block_start,
                       std::uint16_t* values, std::uint64_t* index, cudaStream_t s) {
  launch_compact(d, n, base, block_start, values, index, s);
}
void compact(const std::uint32_t* d, std::size_t n, std::uint64_t base, const std::uint64_t* block_start,
                       std::uint32_t* values, std::uint64_t* index, cudaStream_t s) {
  launch_compact(d, n, base, block_start, values, index, s);
}
void compact(const std::uint64_t* d, std::size_t n, std::uint64_t base, const std::uint64_t* block_start,
                       std::uint64_t* values, std::uint64_t* index, cudaStream_t s) {
  launch_compact(d, n, base, block_start, values, index, s);
}

void survivor_mask(const std::uint16_t* d, std::size_t n, unsigned bit_offset, std::uint8_t kept_low,
                   std::uint8_t* bits, cudaStream_t s) {
  launch_survivor_mask(d, n, bit_offset, kept_low, bits, s);
}
void survivor_mask(const std::uint32_t* d, std::size_t n, unsigned bit_offset, std::uint8_t kept_low,
                   std::uint8_t* bits, cudaStream_t s) {
  launch_survivor_mask(d, n, bit_offset, kept_low, bits, s);
}
void survivor_mask(const std::uint64_t* d, std::size_t n, unsigned bit_offset, std::uint8_t kept_low,
                   std::uint8_t* bits, cudaStream_t s) {
  launch_survivor_mask(d, n, bit_offset, kept_low, bits, s);
}

void nm_apply(std::uint16_t* d, std::size_t n, unsigned keep, unsigned m, std::size_t stride, std::uint8_t* positions,
              std::uint16_t* kept, cudaStream_t s) {
  launch_nm_apply(d, n, keep, m, stride, positions, kept, s);
}
void nm_apply(std::uint32_t* d, std::size_t n, unsigned keep, unsigned m, std::size_t stride, std::uint8_t* positions,
              std::uint32_t* kept, cudaStream_t s) {
  launch_nm_apply(d, n, keep, m, stride, positions, kept, s);
}
void nm_apply(std::uint64_t* d, std::size_t n, unsigned keep, unsigned m, std::size_t stride, std::uint8_t* positions,
              std::uint64_t* kept, cudaStream_t s) {
  launch_nm_apply(d, n, keep, m, stride, positions, kept, s);
}

}  // namespace h5p::cuda
