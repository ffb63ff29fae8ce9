// The CUDA backend: every Backend entry point on the device, bit for bit the CPU backend's
// results. Host tensors stream through two pinned staging buffers and two device buffers: the
// next chunk is copied (copy stream) while the current one is processed (compute stream).
// Chunks start at multiples of the sum block, so block-order results match the CPU's.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <stdexcept>
#include <memory>
#include <string>
#include <vector>

#include "common/errors.hpp"
#include "kernels/cuda/cuda_backend.hpp"
#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/cuda_probe.hpp"
#include "kernels/cuda/device_memory.cuh"
#include "kernels/cuda/launchers.cuh"

namespace h5p {
namespace {

using cuda::BlockApply;
using cuda::BlockScan;
using cuda::DeviceBuffer;
using cuda::Event;
using cuda::PinnedBuffer;
using cuda::Stream;

constexpr std::size_t kMaxChunkBytes = std::size_t{256} << 20;
constexpr std::size_t kMinChunkBytes = std::size_t{64} << 10;
constexpr int kMaxDigitBits = 16;

// Calls f(Bits{}) with the unsigned type holding one element's IEEE bits.
template <typename F>
void with_bits(DType t, F&& f) {
  switch (t) {
    case DType::f16: f(std::uint16_t{}); return;
    case DType::f32: f(std::uint32_t{}); return;
    case DType::f64: f(std::uint64_t{}); return;
  }
}

std::size_t blocks_of(std::size_t n, std::size_t block) { return (n + block - 1) / block; }

// Small device -> pinned copies enqueued on a stream, read on the host once it has synchronised.
// The i-th fetch of a chunk always uses pinned slot i, allocated once and grown as needed (a
// slot is never resized while a copy into it is pending: the previous chunk has finished).
class Downloads {
 public:
  void next_chunk() { used_ = 0; }

  template <typename T>
  const T* fetch(const T* device, std::size_t count, cudaStream_t s) {
    if (used_ == slots_.size()) slots_.emplace_back();
    PinnedBuffer& slot = slots_[used_++];
    slot.grow(std::max<std::size_t>(1, count * sizeof(T)));
    if (count) H5P_CUDA_TRY(cudaMemcpyAsync(slot.data(), device, count * sizeof(T), cudaMemcpyDeviceToHost, s));
    return reinterpret_cast<const T*>(slot.data());
  }

 private:
  std::vector<PinnedBuffer> slots_;
  std::size_t used_ = 0;
};

class CudaBackend final : public Backend {
 public:
  // Call after cudaSetDevice(0) (see make_cuda_backend): members create streams on it.
  CudaBackend(const CudaBackendOptions& o, const std::string& device_name) {
    std::size_t free_bytes = 0, total_bytes = 0;
    H5P_CUDA_TRY(cudaMemGetInfo(&free_bytes, &total_bytes));
    limit_ = o.device_memory_limit ? o.device_memory_limit : free_bytes / 2;
    // The limit's share: retained tensors up to a half, the two data chunks a quarter, and
    // compaction output (a chunk of values and a chunk of 64-bit indices) the last quarter.
    // The histograms' per-block rows (about 35 MB on an H100) and block results come on top.
    chunk_bytes_ = std::clamp<std::size_t>(limit_ / 8, kMinChunkBytes, kMaxChunkBytes);
    device_name_ = device_name;
    host_below_ = o.host_below;
    cpu_ = make_cpu_backend(o.host_threads);
    hist_.grow(std::size_t{1} << kMaxDigitBits);
  }

  std::string name() const override { return "cuda"; }

  // Keeps a device copy of t while the device memory limit allows (half of it for such copies).
  void retain(ConstTensor t) override {
    if (on_host(t.n)) return;
    const std::size_t bytes = t.n * dtype_size(t.dtype);
    if (t.n == 0 || resident_.count(t.data) || resident_bytes_ + bytes > limit_ / 2) return;
    Resident r{t.dtype, t.n, DeviceBuffer<unsigned char>(bytes)};
    unsigned char* dst = r.data.data();
    const std::size_t esize = dtype_size(t.dtype);
    stream(t, nullptr, kSumBlock, 0, [&](const void* dev, std::size_t begin, std::size_t n) {
      H5P_CUDA_TRY(cudaMemcpyAsync(dst + begin * esize, dev, n * esize, cudaMemcpyDeviceToDevice, compute_.get()));
      return [] {};
    });
    resident_bytes_ += bytes;
    resident_.emplace(t.data, std::move(r));
  }
  void release(const void* data) override {
    const auto it = resident_.find(data);
    if (it == resident_.end()) return;
    resident_bytes_ -= it->second.n * dtype_size(it->second.dtype);
    resident_.erase(it);
  }
  std::string device() const override {
    return device_name_ + " (CUDA device 0; tensors under " + std::to_string(host_below_) + " weights on the host)";
  }

  TensorScan scan(ConstTensor t) override {
    if (on_host(t.n)) return cpu_->scan(t);
    TensorScan total;
    total.n = t.n;
    stream(t, nullptr, kSumBlock, 0, [&](const void* dev, std::size_t, std::size_t n) {
      const BlockScan* parts = scan_blocks(t.dtype, dev, n, kSumBlock);
      return [&total, parts, blocks = blocks_of(n, kSumBlock)] {
        for (std::size_t b = 0; b < blocks; ++b) {
          const BlockScan& p = parts[b];
          total.add(TensorScan{0, p.nan, p.zeros, p.min_key, p.max_key, p.sum_abs, p.sum_sq});
        }
      };
    });
    return total;
  }

  // As the CPU's: n, NaN and zero counts and the sum of squares; min, max and sum |w| unset.
  TensorScan scan_histogram(ConstTensor t, KeyWidth w, DigitPass pass, std::uint64_t* hist) override {
    if (on_host(t.n)) return cpu_->scan_histogram(t, w, pass, hist);
    TensorScan total;
    total.n = t.n;
    start_histogram(pass);
    stream(t, nullptr, kSumBlock, 0, [&](const void* dev, std::size_t, std::size_t n) {
      const BlockScan* parts = scan_blocks(t.dtype, dev, n, kSumBlock);
      add_digit_histogram(t.dtype, dev, n, w, pass);
      return [&total, parts, blocks = blocks_of(n, kSumBlock)] {
        for (std::size_t b = 0; b < blocks; ++b) {
          total.nan += parts[b].nan;
          total.zeros += parts[b].zeros;
          total.sum_sq += parts[b].sum_sq;
        }
      };
    });
    finish_histogram(pass, hist);
    return total;
  }

  void histogram(ConstTensor t, KeyWidth w, DigitPass pass, std::uint64_t* hist) override {
    if (on_host(t.n)) return cpu_->histogram(t, w, pass, hist);
    start_histogram(pass);
    stream(t, nullptr, kSumBlock, 0, [&](const void* dev, std::size_t, std::size_t n) {
      add_digit_histogram(t.dtype, dev, n, w, pass);
      return [] {};
    });
    finish_histogram(pass, hist);
  }

  std::uint64_t count_equal(ConstTensor t, KeyWidth w, std::uint64_t key) override {
    if (on_host(t.n)) return cpu_->count_equal(t, w, key);
    return sum_block_counts(t, [&](const void* dev, std::size_t n, std::uint64_t* counts) {
      with_bits(t.dtype, [&](auto bits) {
        cuda::block_ties(static_cast<const decltype(bits)*>(dev), n, w, key, counts, compute_.get());
      });
    });
  }

  ApplyResult apply(MutTensor t, KeyWidth w, std::uint64_t K, std::uint64_t tie_quota) override {
    if (on_host(t.n)) return cpu_->apply(t, w, K, tie_quota);
    ApplyResult r;
    std::uint64_t quota = tie_quota;  // what is left for the chunks still to come
    stream(ConstTensor{t.dtype, t.data, t.n}, t.data, kSumBlock, 0, [&](const void* dev, std::size_t, std::size_t n) {
      const std::size_t blocks = blocks_of(n, kSumBlock);
      applies_.grow(blocks);
      with_bits(t.dtype, [&](auto bits) {
        using Bits = decltype(bits);
        Bits* d = static_cast<Bits*>(const_cast<void*>(dev));
        if (quota > 0) {
          ties_.grow(blocks);
          prefix_.grow(blocks);
          cuda::block_ties(d, n, w, K, ties_.data(), compute_.get());
          cuda::exclusive_sum(ties_.data(), prefix_.data(), blocks, cub_temp_, compute_.get());
        }
        cuda::apply_threshold(d, n, w, K, quota, ties_.data(), prefix_.data(), applies_.data(), compute_.get());
      });
      const BlockApply* parts = downloads_.fetch(applies_.data(), blocks, compute_.get());
      return [&r, &quota, parts, blocks] {
        for (std::size_t b = 0; b < blocks; ++b) {
          r.pruned += parts[b].pruned;
          r.ties += parts[b].ties;
          r.ties_pruned += parts[b].ties_pruned;
          r.kept_sum_sq += parts[b].kept_sq;
          quota -= std::min<std::uint64_t>(quota, parts[b].ties_pruned);
        }
      };
    });
    return r;
  }

  // Sweeps run on the host: their per-prefix histograms and per-bound sums are not yet
  // written for the device (prune, its analysis and compaction are).
  void histogram_multi(ConstTensor t, KeyWidth w, int shift, int bits, const std::vector<std::uint64_t>& prefixes,
                       std::uint64_t* hists) override {
    cpu_->histogram_multi(t, w, shift, bits, prefixes, hists);
  }
  void tally(ConstTensor t, KeyWidth w, const std::vector<std::uint64_t>& bounds, std::uint64_t* bucket_count,
             double* bucket_sum_sq, std::uint64_t* equal) override {
    cpu_->tally(t, w, bounds, bucket_count, bucket_sum_sq, equal);
  }

  std::uint64_t count_survivors(ConstTensor t, std::size_t row_len, std::size_t phase,
                                std::uint64_t* row_counts) override {
    if (on_host(t.n)) return cpu_->count_survivors(t, row_len, phase, row_counts);
    if (t.n == 0) return 0;  // as the CPU: nothing to check or count
    if (row_counts && (row_len == 0 || phase >= row_len))
      throw std::invalid_argument("count_survivors: need 0 <= phase < row_len");
    if (!row_counts) {
      return sum_block_counts(t, [&](const void* dev, std::size_t n, std::uint64_t* counts) {
        with_bits(t.dtype, [&](auto bits) {
          cuda::block_survivors(static_cast<const decltype(bits)*>(dev), n, counts, compute_.get());
        });
      });
    }
    std::uint64_t total = 0;
    // Rows per chunk are bounded too: short rows mean many counters.
    const std::size_t max_rows = chunk_bytes_ / sizeof(unsigned long long);
    const std::size_t max_elems = row_len >= chunk_bytes_ ? 0 : (max_rows - 2) * row_len;
    stream(t, nullptr, kSumBlock, max_elems, [&](const void* dev, std::size_t begin, std::size_t n) {
      const std::size_t chunk_phase = (phase + begin) % row_len;
      const std::size_t first_row = (phase + begin) / row_len;
      const std::size_t rows = (chunk_phase + n + row_len - 1) / row_len;
      rows_.grow(rows);
      H5P_CUDA_TRY(cudaMemsetAsync(rows_.data(), 0, rows * sizeof(unsigned long long), compute_.get()));
      with_bits(t.dtype, [&](auto bits) {
        cuda::row_survivors(static_cast<const decltype(bits)*>(dev), n, row_len, chunk_phase, rows_.data(),
                            compute_.get());
      });
      const unsigned long long* counts = downloads_.fetch(rows_.data(), rows, compute_.get());
      return [&total, row_counts, counts, rows, first_row] {
        for (std::size_t r = 0; r < rows; ++r) {
          row_counts[first_row + r] += counts[r];
          total += counts[r];
        }
      };
    });
    return total;
  }

  std::uint64_t compact(ConstTensor t, std::uint64_t base, void* values, std::uint64_t* index) override {
    if (on_host(t.n)) return cpu_->compact(t, base, values, index);
    const std::size_t esize = dtype_size(t.dtype);
    std::uint64_t written = 0;
    const std::size_t max_elems = chunk_bytes_ / sizeof(std::uint64_t);  // bounds the index buffer
    stream(t, nullptr, kSumBlock, max_elems, [&](const void* dev, std::size_t begin, std::size_t n) {
      const std::size_t blocks = blocks_of(n, kSumBlock);
      counts_.grow(blocks);
      prefix_.grow(blocks);
      out_values_.grow(values ? n * esize : 0);
      out_index_.grow(index ? n : 0);
      with_bits(t.dtype, [&](auto bits) {
        using Bits = decltype(bits);
        const Bits* d = static_cast<const Bits*>(dev);
        cuda::block_survivors(d, n, counts_.data(), compute_.get());
        cuda::exclusive_sum(counts_.data(), prefix_.data(), blocks, cub_temp_, compute_.get());
        cuda::compact_survivors(d, n, base + begin, prefix_.data(), values ? reinterpret_cast<Bits*>(out_values_.data()) : nullptr,
                                index ? out_index_.data() : nullptr, compute_.get());
      });
      const std::uint64_t* counts = downloads_.fetch(counts_.data(), blocks, compute_.get());
      return [this, &written, counts, blocks, values, index, esize] {
        std::uint64_t survivors = 0;
        for (std::size_t b = 0; b < blocks; ++b) survivors += counts[b];
        if (values && survivors)
          H5P_CUDA_TRY(cudaMemcpy(static_cast<unsigned char*>(values) + written * esize, out_values_.data(),
                                  survivors * esize, cudaMemcpyDeviceToHost));
        if (index && survivors)
          H5P_CUDA_TRY(cudaMemcpy(index + written, out_index_.data(), survivors * sizeof(std::uint64_t),
                                  cudaMemcpyDeviceToHost));
        written += survivors;
      };
    });
    return written;
  }

  void survivor_mask(ConstTensor t, unsigned bit_offset, std::uint8_t* bits) override {
    if (on_host(t.n)) return cpu_->survivor_mask(t, bit_offset, bits);
    if (bit_offset >= 8) throw std::invalid_argument("survivor_mask: bit_offset must be < 8");
    stream(t, nullptr, kSumBlock, 0, [&](const void* dev, std::size_t begin, std::size_t n) {
      // begin is a multiple of 8: this chunk's bits start in byte begin / 8, whose low bits
      // (below bit_offset) the previous chunk has already written to the host.
      const std::size_t first_byte = begin / 8;
      const std::size_t bytes = (bit_offset + n + 7) / 8;
      const std::uint8_t kept_low = static_cast<std::uint8_t>(bits[first_byte] & ((1u << bit_offset) - 1u));
      mask_.grow(bytes);
      with_bits(t.dtype, [&](auto b) {
        cuda::survivor_bits(static_cast<const decltype(b)*>(dev), n, bit_offset, kept_low, mask_.data(), compute_.get());
      });
      const std::uint8_t* out = downloads_.fetch(mask_.data(), bytes, compute_.get());
      return [bits, out, first_byte, bytes] { std::memcpy(bits + first_byte, out, bytes); };
    });
  }

  NmResult nm_apply(MutTensor t, unsigned keep, unsigned m, std::size_t stride, std::uint8_t* positions,
                    void* kept) override {
    if (on_host(t.n)) return cpu_->nm_apply(t, keep, m, stride, positions, kept);
    if (m == 0 || m > kMaxNmGroup || keep == 0 || keep > m)
      throw std::invalid_argument("nm_apply: need 1 <= N <= M <= " + std::to_string(kMaxNmGroup));
    if (stride == 0 || t.n % (m * stride) != 0)
      throw std::invalid_argument("nm_apply: tensor length is not a multiple of M * stride");
    NmResult r;
    r.pruned = static_cast<std::uint64_t>(t.n / m) * (m - keep);
    const std::size_t esize = dtype_size(t.dtype);
    // The CPU sums blocks of whole runs, about kSumBlock elements each: chunks hold whole blocks.
    const std::size_t run = m * stride;
    const std::size_t block = std::max<std::size_t>(1, kSumBlock / run) * run;
    stream(ConstTensor{t.dtype, t.data, t.n}, t.data, block, 0, [&](const void* dev, std::size_t begin, std::size_t n) {
      const std::size_t groups = n / m;
      nm_positions_.grow(positions ? groups * keep : 0);
      out_values_.grow(kept ? groups * keep * esize : 0);
      with_bits(t.dtype, [&](auto bits) {
        using Bits = decltype(bits);
        cuda::nm_select(static_cast<Bits*>(const_cast<void*>(dev)), n, keep, m, stride,
                        positions ? nm_positions_.data() : nullptr,
                        kept ? reinterpret_cast<Bits*>(out_values_.data()) : nullptr, compute_.get());
      });
      const BlockScan* parts = scan_blocks(t.dtype, dev, n, block);
      const std::size_t out_at = begin / m * keep;
      return [this, &r, parts, blocks = blocks_of(n, block), positions, kept, groups, keep, esize, out_at] {
        for (std::size_t b = 0; b < blocks; ++b) {
          r.kept_sum_sq += parts[b].sum_sq;
          r.zeros_after += parts[b].zeros;
        }
        if (positions)
          H5P_CUDA_TRY(cudaMemcpy(positions + out_at, nm_positions_.data(), groups * keep, cudaMemcpyDeviceToHost));
        if (kept)
          H5P_CUDA_TRY(cudaMemcpy(static_cast<unsigned char*>(kept) + out_at * esize, out_values_.data(),
                                  groups * keep * esize, cudaMemcpyDeviceToHost));
      };
    });
    return r;
  }

 private:
  struct Resident {
    DType dtype;
    std::size_t n;
    DeviceBuffer<unsigned char> data;
  };
  std::map<const void*, Resident> resident_;  // retained tensors by host address
  std::size_t resident_bytes_ = 0;
  std::size_t host_below_ = 0;
  bool on_host(std::size_t n) const { return n < host_below_; }
  std::uint64_t limit_ = 0;
  std::size_t chunk_bytes_ = 0;
  std::string device_name_;
  std::unique_ptr<Backend> cpu_;  // small tensors and the sweeps' kernels
  Stream compute_, copy_;
  Event uploaded_[2];
  PinnedBuffer staging_[2];
  DeviceBuffer<unsigned char> chunk_[2];
  Downloads downloads_;
  DeviceBuffer<std::uint64_t> hist_;
  DeviceBuffer<std::uint32_t> hist_rows_;
  DeviceBuffer<unsigned char> cub_temp_;
  DeviceBuffer<BlockScan> scans_;
  DeviceBuffer<BlockApply> applies_;
  DeviceBuffer<std::uint64_t> ties_, prefix_, counts_;
  DeviceBuffer<unsigned long long> rows_;
  DeviceBuffer<unsigned char> out_values_;
  DeviceBuffer<std::uint64_t> out_index_;
  DeviceBuffer<std::uint8_t> mask_, nm_positions_;

  // Streams t through the device in chunks of a multiple of `align` elements (at most
  // max_elems when > 0). launch(device data, first element, count) enqueues the chunk's work
  // on compute_ and returns a function that reads its results once the stream has finished.
  // With write_back, the chunk's (modified) device data is copied back into write_back.
  template <typename Launch>
  void stream(ConstTensor t, void* write_back, std::size_t align, std::size_t max_elems, Launch&& launch) {
    if (t.n == 0) return;
    const std::size_t esize = dtype_size(t.dtype);
    if (const auto it = resident_.find(t.data);
        it != resident_.end() && it->second.n == t.n && it->second.dtype == t.dtype) {
      // Retained: the chunks are views of the device copy; nothing to upload. They keep the
      // upload path's size, which the kernels' per-call limits (n < 2^32) rely on.
      std::size_t chunk = std::max<std::size_t>(1, chunk_bytes_ / esize / align) * align;
      if (max_elems > 0) chunk = std::min(chunk, std::max<std::size_t>(1, max_elems / align) * align);
      unsigned char* base = it->second.data.data();
      for (std::size_t begin = 0; begin < t.n; begin += chunk) {
        const std::size_t n = std::min(chunk, t.n - begin);
        downloads_.next_chunk();
        auto collect = launch(base + begin * esize, begin, n);
        if (write_back)
          H5P_CUDA_TRY(cudaMemcpyAsync(static_cast<unsigned char*>(write_back) + begin * esize, base + begin * esize,
                                       n * esize, cudaMemcpyDeviceToHost, compute_.get()));
        compute_.synchronize();
        collect();
      }
      return;
    }
    std::size_t chunk = std::max<std::size_t>(1, chunk_bytes_ / esize / align) * align;
    if (max_elems > 0) chunk = std::min(chunk, std::max<std::size_t>(1, max_elems / align) * align);
    const std::size_t chunks = blocks_of(t.n, chunk);
    const std::size_t buffer_bytes = std::min(chunk, t.n) * esize;  // allocated once, grown when needed
    for (int s = 0; s < 2 && std::size_t(s) < chunks; ++s) {
      staging_[s].grow(buffer_bytes);
      chunk_[s].grow(buffer_bytes);
    }
    const auto* src = static_cast<const unsigned char*>(t.data);
    auto upload = [&](std::size_t c) {
      const int slot = static_cast<int>(c % 2);
      const std::size_t begin = c * chunk, n = std::min(chunk, t.n - begin);
      std::memcpy(staging_[slot].data(), src + begin * esize, n * esize);
      H5P_CUDA_TRY(cudaMemcpyAsync(chunk_[slot].data(), staging_[slot].data(), n * esize, cudaMemcpyHostToDevice,
                                   copy_.get()));
      uploaded_[slot].record(copy_);
    };
    upload(0);
    for (std::size_t c = 0; c < chunks; ++c) {
      const int slot = static_cast<int>(c % 2);
      const std::size_t begin = c * chunk, n = std::min(chunk, t.n - begin);
      uploaded_[slot].wait_on(compute_);
      downloads_.next_chunk();
      auto collect = launch(chunk_[slot].data(), begin, n);
      if (write_back)
        H5P_CUDA_TRY(cudaMemcpyAsync(staging_[slot].data(), chunk_[slot].data(), n * esize, cudaMemcpyDeviceToHost,
                                     compute_.get()));
      // The other slot's previous chunk has finished (synchronised below, last round).
      if (c + 1 < chunks) upload(c + 1);
      compute_.synchronize();
      if (write_back) std::memcpy(static_cast<unsigned char*>(write_back) + begin * esize, staging_[slot].data(), n * esize);
      collect();
    }
    copy_.synchronize();
  }

  // Streams t and adds up the per-kSumBlock counts that count_blocks(device data, n, counts)
  // enqueues on compute_.
  template <typename CountBlocks>
  std::uint64_t sum_block_counts(ConstTensor t, CountBlocks&& count_blocks) {
    std::uint64_t total = 0;
    stream(t, nullptr, kSumBlock, 0, [&](const void* dev, std::size_t, std::size_t n) {
      const std::size_t blocks = blocks_of(n, kSumBlock);
      counts_.grow(blocks);
      count_blocks(dev, n, counts_.data());
      const std::uint64_t* counts = downloads_.fetch(counts_.data(), blocks, compute_.get());
      return [&total, counts, blocks] {
        for (std::size_t b = 0; b < blocks; ++b) total += counts[b];
      };
    });
    return total;
  }

  const BlockScan* scan_blocks(DType t, const void* dev, std::size_t n, std::size_t block_len) {
    const std::size_t blocks = blocks_of(n, block_len);
    scans_.grow(blocks);
    with_bits(t, [&](auto bits) {
      cuda::block_scan(static_cast<const decltype(bits)*>(dev), n, block_len, scans_.data(), compute_.get());
    });
    return downloads_.fetch(scans_.data(), blocks, compute_.get());
  }

  void start_histogram(DigitPass pass) {
    if (pass.bits < 1 || pass.bits > kMaxDigitBits) throw std::invalid_argument("histogram: digits of 1 to 16 bits");
    H5P_CUDA_TRY(cudaMemsetAsync(hist_.data(), 0, (std::size_t{1} << pass.bits) * sizeof(std::uint64_t), compute_.get()));
  }
  void add_digit_histogram(DType t, const void* dev, std::size_t n, KeyWidth w, DigitPass pass) {
    with_bits(t, [&](auto bits) {
      cuda::digit_histogram(static_cast<const decltype(bits)*>(dev), n, w, pass, hist_rows_, hist_.data(), compute_.get());
    });
  }
  void finish_histogram(DigitPass pass, std::uint64_t* hist) {
    const std::size_t bins = std::size_t{1} << pass.bits;
    std::vector<std::uint64_t> counts(bins);
    H5P_CUDA_TRY(cudaMemcpyAsync(counts.data(), hist_.data(), bins * sizeof(std::uint64_t), cudaMemcpyDeviceToHost,
                                 compute_.get()));
    compute_.synchronize();
    for (std::size_t b = 0; b < bins; ++b) hist[b] += counts[b];
  }
};

}  // namespace

std::unique_ptr<Backend> make_cuda_backend(const CudaBackendOptions& options) {
  const CudaProbe probe = probe_cuda();
  if (probe.devices == 0) throw UsageError("--backend cuda: no usable CUDA device (" + probe.reason + ")");
  H5P_CUDA_TRY(cudaSetDevice(0));
  return std::make_unique<CudaBackend>(options, probe.first_device);
}

}  // namespace h5p
