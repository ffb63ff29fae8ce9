// CPU compaction (survivor counts, order-preserving compaction, bitmaps) and N:M selection.
// Work is split into fixed blocks; block results are combined in block order.
#include "kernels/cpu/cpu_compaction.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/keys.hpp"
#include "kernels/lane_sum.hpp"

namespace h5p::cpu {
namespace {

std::size_t block_count(std::size_t n) { return (n + kSumBlock - 1) / kSumBlock; }

// Calls f(survives) with a callable telling whether element i's bits differ from +0.0.
template <typename F>
decltype(auto) with_survivor_test(DType t, const void* data, F&& f) {
  switch (t) {
    case DType::f16: {
      auto p = static_cast<const std::uint16_t*>(data);
      return f([p](std::size_t i) { return p[i] != 0; });
    }
    case DType::f32: {
      auto p = static_cast<const std::uint32_t*>(data);
      return f([p](std::size_t i) { return p[i] != 0; });
    }
    case DType::f64:
    default: {
      auto p = static_cast<const std::uint64_t*>(data);
      return f([p](std::size_t i) { return p[i] != 0; });
    }
  }
}

}  // namespace

std::uint64_t count_survivors(ConstTensor t, std::size_t row_len, std::size_t phase, std::uint64_t* row_counts,
                              int threads) {
  if (t.n == 0) return 0;
  if (row_counts && (row_len == 0 || phase >= row_len))
    throw std::invalid_argument("count_survivors: need 0 <= phase < row_len");
  std::uint64_t total = 0;
  with_survivor_test(t.dtype, t.data, [&](auto survives) {
    if (!row_counts) {
#pragma omp parallel for reduction(+ : total) schedule(static) num_threads(threads)
      for (std::size_t i = 0; i < t.n; ++i) total += survives(i);
      return 0;
    }
    // One task per row touched by t: each row's count is written by one thread only.
    const std::size_t rows = (phase + t.n + row_len - 1) / row_len;
#pragma omp parallel for reduction(+ : total) schedule(static) num_threads(threads)
    for (std::size_t r = 0; r < rows; ++r) {
      const std::size_t begin = r == 0 ? 0 : r * row_len - phase;
      const std::size_t end = std::min(t.n, (r + 1) * row_len - phase);
      std::uint64_t c = 0;
      for (std::size_t i = begin; i < end; ++i) c += survives(i);
      row_counts[r] += c;
      total += c;
    }
    return 0;
  });
  return total;
}

std::uint64_t compact(ConstTensor t, std::uint64_t base, void* values, std::uint64_t* index, int threads) {
  if (t.n == 0) return 0;
  const std::size_t blocks = block_count(t.n);
  const std::size_t esize = dtype_size(t.dtype);
  std::vector<std::uint64_t> start(blocks + 1, 0);
  auto* src = static_cast<const unsigned char*>(t.data);
  auto* dst = static_cast<unsigned char*>(values);
  with_survivor_test(t.dtype, t.data, [&](auto survives) {
    // Pass 1: survivors per block; an exclusive prefix sum gives each block's first slot.
#pragma omp parallel for schedule(static) num_threads(threads)
    for (std::size_t b = 0; b < blocks; ++b) {
      std::uint64_t c = 0;
      const std::size_t end = std::min(t.n, (b + 1) * kSumBlock);
      for (std::size_t i = b * kSumBlock; i < end; ++i) c += survives(i);
      start[b + 1] = c;
    }
    for (std::size_t b = 0; b < blocks; ++b) start[b + 1] += start[b];
    // Pass 2: each block writes its survivors in order from its slot.
#pragma omp parallel for schedule(static) num_threads(threads)
    for (std::size_t b = 0; b < blocks; ++b) {
      std::uint64_t j = start[b];
      const std::size_t end = std::min(t.n, (b + 1) * kSumBlock);
      for (std::size_t i = b * kSumBlock; i < end; ++i) {
        if (!survives(i)) continue;
        if (values) std::memcpy(dst + j * esize, src + i * esize, esize);
        if (index) index[j] = base + i;
        ++j;
      }
    }
    return 0;
  });
  return start[blocks];
}

void survivor_mask(ConstTensor t, unsigned bit_offset, std::uint8_t* bits, int threads) {
  if (bit_offset >= 8) throw std::invalid_argument("survivor_mask: bit_offset must be < 8");
  if (t.n == 0) return;
  const std::size_t bytes = (bit_offset + t.n + 7) / 8;
  const std::uint8_t kept_low = static_cast<std::uint8_t>(bits[0] & ((1u << bit_offset) - 1u));
  with_survivor_test(t.dtype, t.data, [&](auto survives) {
#pragma omp parallel for schedule(static) num_threads(threads)
    for (std::size_t b = 0; b < bytes; ++b) {
      unsigned byte = b == 0 ? kept_low : 0u;
      for (unsigned k = 0; k < 8; ++k) {
        const std::size_t pos = b * 8 + k;  // bit position, element pos - bit_offset
        if (pos < bit_offset || pos - bit_offset >= t.n) continue;
        if (survives(pos - bit_offset)) byte |= 1u << k;
      }
      bits[b] = static_cast<std::uint8_t>(byte);
    }
    return 0;
  });
}

NmResult nm_apply(MutTensor t, unsigned keep, unsigned m, std::size_t stride, std::uint8_t* positions, void* kept,
                  int threads) {
  if (m == 0 || m > kMaxNmGroup || keep == 0 || keep > m)
    throw std::invalid_argument("nm_apply: need 1 <= N <= M <= " + std::to_string(kMaxNmGroup));
  if (stride == 0 || t.n % (m * stride) != 0)
    throw std::invalid_argument("nm_apply: tensor length is not a multiple of M * stride");
  if (t.n == 0) return {};
  const std::size_t run = m * stride;  // m groups' worth of elements: stride groups, interleaved
  const std::size_t runs = t.n / run;
  const std::size_t esize = dtype_size(t.dtype);
  const KeyWidth w = native_key_width(t.dtype);
  // Blocks of whole runs, about kSumBlock elements each.
  const std::size_t per_block = std::max<std::size_t>(1, kSumBlock / run);
  const std::size_t blocks = (runs + per_block - 1) / per_block;
  std::vector<double> block_sq(blocks, 0.0);
  std::vector<std::uint64_t> block_zeros(blocks, 0);
  auto* bytes = static_cast<unsigned char*>(t.data);
  auto* kept_bytes = static_cast<unsigned char*>(kept);
#pragma omp parallel for schedule(static) num_threads(threads)
  for (std::size_t b = 0; b < blocks; ++b) {
    std::array<std::uint16_t, kMaxNmGroup> order{};
    std::array<std::uint64_t, kMaxNmGroup> key{};
    std::array<bool, kMaxNmGroup> keep_flag{};
    const std::size_t g_end = std::min(runs, (b + 1) * per_block) * stride;
    for (std::size_t g = b * per_block * stride; g < g_end; ++g) {
      const std::size_t first = g / stride * run + g % stride;  // element j at first + j * stride
      for (unsigned j = 0; j < m; ++j) {
        key[j] = element_key(t.dtype, w, t.data, first + j * stride);
        order[j] = static_cast<std::uint16_t>(j);
        keep_flag[j] = false;
      }
      // Larger key first, then lower index: a strict order, so the kept set is unique.
      std::nth_element(order.begin(), order.begin() + (keep - 1), order.begin() + m,
                       [&](std::uint16_t a, std::uint16_t c) { return key[a] != key[c] ? key[a] > key[c] : a < c; });
      for (unsigned j = 0; j < keep; ++j) keep_flag[order[j]] = true;
      std::size_t out = g * keep;
      for (unsigned j = 0; j < m; ++j) {
        unsigned char* e = bytes + (first + j * stride) * esize;
        if (keep_flag[j]) {
          if (positions) positions[out] = static_cast<std::uint8_t>(j);
          if (kept_bytes) std::memcpy(kept_bytes + out * esize, e, esize);
          ++out;
        } else {
          std::memset(e, 0, esize);  // +0.0 in every IEEE format
        }
      }
    }
    const std::size_t begin = b * per_block * run, end = std::min(runs, (b + 1) * per_block) * run;
    std::uint64_t zeros = 0;
    for (std::size_t i = begin; i < end; ++i) zeros += element_key(t.dtype, w, t.data, i) == 0;
    block_zeros[b] = zeros;
    // Pruned elements are +0.0 now: the kept sum is the block's sum, in the shared lane order.
    block_sq[b] = lane_sum(begin, end, [&](std::size_t i) {
      const std::uint64_t k = element_key(t.dtype, w, t.data, i);
      const double v = key_value(w, k);
      return k > inf_key(w) ? 0.0 : v * v;
    });
  }
  NmResult r;
  r.pruned = static_cast<std::uint64_t>(t.n / m) * (m - keep);
  for (double s : block_sq) r.kept_sum_sq += s;
  for (std::uint64_t z : block_zeros) r.zeros_after += z;
  return r;
}

}  // namespace h5p::cpu
