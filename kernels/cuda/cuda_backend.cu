// The CUDA backend: every Backend entry point on the device, bit for bit the CPU backend's
// results. Host tensors go through the device in chunks, two at a time: while the kernels of
// chunk c run (compute stream), chunk c + 1 is uploaded (upload stream) and chunk c - 1's
// results and write-back come home (download stream). Page-locked sources and destinations
// (allocate_host, small buffers only) are copied asynchronously; pageable ones by the driver,
// which stages them itself and returns once the host's bytes are safe.
// Chunks start at multiples of the sum block, so block-order results match the CPU's.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
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
using cuda::BlockStats;
using cuda::DeviceBuffer;
using cuda::Event;
using cuda::PinnedBuffer;
using cuda::Stream;

constexpr std::size_t kMaxChunkBytes = std::size_t{256} << 20;
// At least 16 bytes per element of one sum block: a chunk of one block (8-byte elements) fits,
// and so do its compaction outputs (value and 64-bit index).
constexpr std::size_t kMinChunkBytes = kSumBlock * 16;
constexpr int kMaxDigitBits = 16;
// allocate_host page-locks buffers up to this size and gives larger ones pageable. On an H200
// node page-locking cost 0.5-0.65 ms per MiB (400 MiB: 205-260 ms to allocate, 60 ms to free),
// several times what the driver's own staging of a pageable copy costs: a tensor copied up and
// back once or a few times is faster pageable, and a 100M-weight model spent more time in
// cudaMallocHost than in its kernels (benchmarks/RESULTS.md).
constexpr std::size_t kPinnedHostMax = std::size_t{8} << 20;

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

// Small device -> pinned copies enqueued on the compute stream, read on the host once the
// chunk has finished. The i-th fetch of a chunk uses pinned slot i, allocated on first use and
// grown only when a later chunk needs more (never while a copy into it is pending).
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

// One of the two chunks in flight: its device data, its variable-size outputs (compaction,
// N:M), the small results, and the events that order the three streams.
struct ChunkSlot {
  DeviceBuffer<unsigned char> data, out;
  Downloads downloads;
  Event uploaded;  // upload stream: the chunk's data is on the device
  Event computed;  // compute stream: its kernels and small fetches are done
  Event written;   // download stream: its write-back is on the host
  std::function<void()> collect;
};

class CudaBackend final : public Backend {
 public:
  // Call after cudaSetDevice(0) (see make_cuda_backend): members create streams on it.
  CudaBackend(const CudaBackendOptions& o, const std::string& device_name) {
    std::size_t free_bytes = 0, total_bytes = 0;
    H5P_CUDA_TRY(cudaMemGetInfo(&free_bytes, &total_bytes));
    limit_ = o.device_memory_limit ? o.device_memory_limit : free_bytes / 2;
    // The limit's share: retained tensors up to a half, the two chunks' data a quarter, and
    // their outputs (compaction values and indices, N:M positions and values) the last
    // quarter. The histograms' per-block rows (about 35 MB on an H100) and block results come
    // on top. Every buffer is allocated once, at this size, when first needed.
    chunk_bytes_ = std::clamp<std::size_t>(limit_ / 8, kMinChunkBytes, kMaxChunkBytes);
    device_name_ = device_name;
    host_below_ = o.host_below;
    cpu_ = make_cpu_backend(o.host_threads);
    limits_ = cuda::read_device_limits();
    if (o.histogram_max_blocks) limits_.max_blocks = o.histogram_max_blocks;
    if (o.histogram_in_rows) limits_.shared_per_block = 0;
    hist_.grow(std::size_t{1} << kMaxDigitBits);
  }

  std::string name() const override { return "cuda"; }

  HostBuffer allocate_host(std::size_t bytes) override {
    if (bytes > kPinnedHostMax) return allocate_pageable(bytes);
    void* p = nullptr;
    H5P_CUDA_TRY(cudaMallocHost(&p, std::max<std::size_t>(bytes, 1)));
    return HostBuffer(static_cast<unsigned char*>(p), [](unsigned char* q) { H5P_CUDA_TRY_NOTHROW(cudaFreeHost(q)); });
  }

  // Keeps a device copy of t while the device memory limit allows (half of it for such copies).
  void retain(ConstTensor t) override {
    if (on_host(t.n)) return;
    const std::size_t bytes = t.n * dtype_size(t.dtype);
    if (t.n == 0 || resident_.count(t.data) || resident_bytes_ + bytes > limit_ / 2) return;
    Resident r{t.dtype, t.n, DeviceBuffer<unsigned char>(bytes)};
    unsigned char* dst = r.data.data();
    const std::size_t esize = dtype_size(t.dtype);
    for_each_chunk(t, nullptr, kSumBlock, 0, [&](const void* dev, std::size_t begin, std::size_t n) {
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
    for_each_chunk(t, nullptr, kSumBlock, 0, [&](const void* dev, std::size_t, std::size_t n) {
      const BlockStats* parts = fetch_block_stats(t.dtype, dev, n, kSumBlock);
      return [&total, parts, blocks = blocks_of(n, kSumBlock)] {
        for (std::size_t b = 0; b < blocks; ++b) {
          const BlockStats& p = parts[b];
          total.add(TensorScan{0, p.nan, p.zeros, p.min_key, p.max_key, p.sum_abs, p.sum_sq});
        }
      };
    });
    return total;
  }

  // As the CPU's: n, NaN and zero counts and the sum of squares; min, max and sum |w| unset.
  TensorScan scan_histogram(ConstTensor t, KeyWidth w, DigitPass pass, std::uint64_t* hist,
                            double sum_from) override {
    if (on_host(t.n)) return cpu_->scan_histogram(t, w, pass, hist, sum_from);
    TensorScan total;
    total.n = t.n;
    total.sum_sq = sum_from;
    start_histogram(pass);
    for_each_chunk(t, nullptr, kSumBlock, 0, [&](const void* dev, std::size_t, std::size_t n) {
      const BlockStats* parts = fetch_block_stats(t.dtype, dev, n, kSumBlock);
      add_histogram(t.dtype, dev, n, w, pass);
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
    for_each_chunk(t, nullptr, kSumBlock, 0, [&](const void* dev, std::size_t, std::size_t n) {
      add_histogram(t.dtype, dev, n, w, pass);
      return [] {};
    });
    finish_histogram(pass, hist);
  }

  std::uint64_t count_equal(ConstTensor t, KeyWidth w, std::uint64_t key) override {
    if (on_host(t.n)) return cpu_->count_equal(t, w, key);
    return sum_block_counts(t, [&](const void* dev, std::size_t n, std::uint64_t* counts) {
      with_bits(t.dtype, [&](auto bits) {
        cuda::count_equal(static_cast<const decltype(bits)*>(dev), n, w, key, counts, compute_.get());
      });
    });
  }

  // The tie quota is shared out on the device (a running tie count across chunks), so no
  // chunk waits for the one before it; with no quota, or one that covers every tie, the ties
  // are not counted first at all.
  using Backend::apply;
  ApplyResult apply(ConstTensor in, void* out, KeyWidth w, std::uint64_t K, std::uint64_t tie_quota,
                    double sum_from) override {
    if (on_host(in.n)) return cpu_->apply(in, out, w, K, tie_quota, sum_from);
    // Out of place, the device prunes a copy: `in` may be retained, and its device copy must
    // keep matching the host's bytes. (The pipeline prunes out of place only on the CPU.)
    if (out != in.data && in.n > 0) std::memcpy(out, in.data, in.n * dtype_size(in.dtype));
    const MutTensor t{in.dtype, out, in.n};
    ApplyResult r;
    r.kept_sum_sq = sum_from;
    const std::uint64_t quota = tie_quota >= t.n ? kAllTies : tie_quota;
    const bool partial = quota > 0 && quota != kAllTies;
    if (partial) {
      ensure_buffers();
      H5P_CUDA_TRY(cudaMemsetAsync(ties_before_.data(), 0, sizeof(std::uint64_t), compute_.get()));
    }
    for_each_chunk(ConstTensor{t.dtype, t.data, t.n}, t.data, kSumBlock, 0, [&](const void* dev, std::size_t, std::size_t n) {
      const std::size_t blocks = blocks_of(n, kSumBlock);
      with_bits(t.dtype, [&](auto bits) {
        using Bits = decltype(bits);
        Bits* d = static_cast<Bits*>(const_cast<void*>(dev));
        if (partial) {
          cuda::count_equal(d, n, w, K, ties_.data(), compute_.get());
          cuda::exclusive_sum(ties_.data(), prefix_.data(), blocks, cub_temp_, compute_.get());
        }
        cuda::apply(d, n, w, K, quota, ties_.data(), prefix_.data(), ties_before_.data(), applies_.data(),
                    compute_.get());
        if (partial) cuda::add_ties(ties_.data(), prefix_.data(), n, ties_before_.data(), compute_.get());
      });
      const BlockApply* parts = fetch(applies_.data(), blocks);
      return [&r, parts, blocks] {
        for (std::size_t b = 0; b < blocks; ++b) {
          r.pruned += parts[b].pruned;
          r.ties += parts[b].ties;
          r.ties_pruned += parts[b].ties_pruned;
          r.kept_sum_sq += parts[b].kept_sq;
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
          cuda::count_survivors(static_cast<const decltype(bits)*>(dev), n, counts, compute_.get());
        });
      });
    }
    std::uint64_t total = 0;
    // Rows per chunk are bounded too: short rows mean many counters.
    const std::size_t max_rows = chunk_bytes_ / sizeof(unsigned long long);
    const std::size_t max_elems = row_len >= chunk_bytes_ ? 0 : (max_rows - 2) * row_len;
    for_each_chunk(t, nullptr, kSumBlock, max_elems, [&](const void* dev, std::size_t begin, std::size_t n) {
      const std::size_t chunk_phase = (phase + begin) % row_len;
      const std::size_t first_row = (phase + begin) / row_len;
      const std::size_t rows = (chunk_phase + n + row_len - 1) / row_len;
      rows_.grow(std::max(max_rows, rows));
      H5P_CUDA_TRY(cudaMemsetAsync(rows_.data(), 0, rows * sizeof(unsigned long long), compute_.get()));
      with_bits(t.dtype, [&](auto bits) {
        cuda::count_survivors_by_row(static_cast<const decltype(bits)*>(dev), n, row_len, chunk_phase, rows_.data(),
                                     compute_.get());
      });
      const unsigned long long* counts = fetch(rows_.data(), rows);
      return [&total, row_counts, counts, rows, first_row] {
        for (std::size_t r = 0; r < rows; ++r) {
          row_counts[first_row + r] += counts[r];
          total += counts[r];
        }
      };
    });
    return total;
  }

  // Values and indices go to the chunk's output buffer, then home on the download stream while
  // the next chunk is compacted.
  std::uint64_t compact(ConstTensor t, std::uint64_t base, void* values, std::uint64_t* index) override {
    if (on_host(t.n)) return cpu_->compact(t, base, values, index);
    const std::size_t esize = dtype_size(t.dtype);
    std::uint64_t written = 0;
    // A chunk's values and indices both fit its output buffer.
    const std::size_t max_elems = chunk_bytes_ / (esize + sizeof(std::uint64_t));
    for_each_chunk(t, nullptr, kSumBlock, max_elems, [&](const void* dev, std::size_t begin, std::size_t n) {
      const std::size_t blocks = blocks_of(n, kSumBlock);
      unsigned char* out = active_->out.data();
      auto* out_index = reinterpret_cast<std::uint64_t*>(out + (n * esize + 7) / 8 * 8);
      with_bits(t.dtype, [&](auto bits) {
        using Bits = decltype(bits);
        const Bits* d = static_cast<const Bits*>(dev);
        cuda::count_survivors(d, n, counts_.data(), compute_.get());
        cuda::exclusive_sum(counts_.data(), prefix_.data(), blocks, cub_temp_, compute_.get());
        cuda::compact(d, n, base + begin, prefix_.data(), values ? reinterpret_cast<Bits*>(out) : nullptr,
                      index ? out_index : nullptr, compute_.get());
      });
      const std::uint64_t* counts = fetch(counts_.data(), blocks);
      return [this, &written, counts, blocks, values, index, esize, out, out_index] {
        std::uint64_t survivors = 0;
        for (std::size_t b = 0; b < blocks; ++b) survivors += counts[b];
        if (values && survivors)
          download(static_cast<unsigned char*>(values) + written * esize, out, survivors * esize);
        if (index && survivors) download(index + written, out_index, survivors * sizeof(std::uint64_t));
        written += survivors;
      };
    });
    download_.synchronize();
    return written;
  }

  void survivor_mask(ConstTensor t, unsigned bit_offset, std::uint8_t* bits) override {
    if (on_host(t.n)) return cpu_->survivor_mask(t, bit_offset, bits);
    if (bit_offset >= 8) throw std::invalid_argument("survivor_mask: bit_offset must be < 8");
    const std::uint8_t low = static_cast<std::uint8_t>((1u << bit_offset) - 1u);
    for_each_chunk(t, nullptr, kSumBlock, 0, [&](const void* dev, std::size_t begin, std::size_t n) {
      // begin is a multiple of 8: this chunk's bits start in byte begin / 8, whose bits below
      // bit_offset belong to the previous chunk (or the caller). The kernel leaves them 0 and
      // the collect, which runs after the previous chunk's, keeps what the host byte holds.
      const std::size_t first_byte = begin / 8;
      const std::size_t bytes = (bit_offset + n + 7) / 8;
      mask_.grow(chunk_bytes_ / 2 / 8 + 2);  // the most bytes of a chunk (2-byte elements)
      with_bits(t.dtype, [&](auto b) {
        cuda::survivor_mask(static_cast<const decltype(b)*>(dev), n, bit_offset, 0, mask_.data(), compute_.get());
      });
      const std::uint8_t* out = fetch(mask_.data(), bytes);
      return [bits, out, first_byte, bytes, low] {
        const std::uint8_t first = static_cast<std::uint8_t>((bits[first_byte] & low) | (out[0] & ~low));
        std::memcpy(bits + first_byte, out, bytes);
        bits[first_byte] = first;
      };
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
    // The CPU sums blocks of whole runs (M * stride elements), about kSumBlock elements each:
    // chunks hold whole blocks, and a chunk's kept values and positions (at most one each per
    // element) fit its output buffer.
    const std::size_t run = m * stride;
    const std::size_t block = std::max<std::size_t>(1, kSumBlock / run) * run;
    const std::size_t max_elems = chunk_bytes_ / (esize + 1);
    // A run longer than a chunk (an axis far from the last of a huge tensor) cannot be split
    // across chunks: the host gives the same bits.
    if (block > max_elems) return cpu_->nm_apply(t, keep, m, stride, positions, kept);
    for_each_chunk(ConstTensor{t.dtype, t.data, t.n}, t.data, block, max_elems,
                   [&](const void* dev, std::size_t begin, std::size_t n) {
      const std::size_t groups = n / m;
      unsigned char* out_kept = active_->out.data();
      unsigned char* out_positions = out_kept + groups * keep * esize;
      with_bits(t.dtype, [&](auto bits) {
        using Bits = decltype(bits);
        cuda::nm_apply(static_cast<Bits*>(const_cast<void*>(dev)), n, keep, m, stride,
                       positions ? out_positions : nullptr, kept ? reinterpret_cast<Bits*>(out_kept) : nullptr,
                       compute_.get());
      });
      const BlockStats* parts = fetch_block_stats(t.dtype, dev, n, block);
      const std::size_t out_at = begin / m * keep;
      return [this, &r, parts, blocks = blocks_of(n, block), positions, kept, groups, keep, esize, out_at, out_kept,
              out_positions] {
        for (std::size_t b = 0; b < blocks; ++b) {
          r.kept_sum_sq += parts[b].sum_sq;
          r.zeros_after += parts[b].zeros;
        }
        if (positions) download(positions + out_at, out_positions, groups * keep);
        if (kept) download(static_cast<unsigned char*>(kept) + out_at * esize, out_kept, groups * keep * esize);
      };
    });
    download_.synchronize();
    return r;
  }

  // Structured pruning runs on the host inside this backend (no device kernel yet): the
  // norms are exact integers, so the host gives the bytes a kernel would. A retained device
  // copy is dropped first, as the host changes the tensor's bytes and later calls re-upload.
  void slice_norms(ConstTensor t, std::uint64_t begin, SliceAxis axis, SliceNorms& norms) override {
    cpu_->slice_norms(t, begin, axis, norms);
  }
  NmResult zero_slices(MutTensor t, std::uint64_t begin, SliceAxis axis, const std::uint8_t* drop) override {
    release(t.data);
    return cpu_->zero_slices(t, begin, axis, drop);
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
  cuda::DeviceLimits limits_;
  std::unique_ptr<Backend> cpu_;  // small tensors and the sweeps' kernels
  Stream compute_, upload_, download_;
  ChunkSlot slots_[2];
  ChunkSlot* active_ = nullptr;  // the slot whose chunk is being launched
  bool buffers_ready_ = false;
  DeviceBuffer<std::uint64_t> hist_;
  DeviceBuffer<std::uint32_t> hist_rows_;
  DeviceBuffer<unsigned char> cub_temp_;
  DeviceBuffer<BlockStats> scans_;
  DeviceBuffer<BlockApply> applies_;
  DeviceBuffer<std::uint64_t> ties_, prefix_, counts_, ties_before_;
  DeviceBuffer<unsigned long long> rows_;
  DeviceBuffer<std::uint8_t> mask_;

  // The chunk buffers and per-block arrays, once, at the chunk size (each cudaFree would
  // synchronise the device, so nothing is re-allocated as tensors grow).
  void ensure_buffers() {
    if (buffers_ready_) return;
    // Blocks of a chunk: kSumBlock elements, or N:M's whole runs of M * stride elements, which
    // are never shorter than kSumBlock / 2 (floor(kSumBlock / run) * run, or the run itself).
    const std::size_t max_blocks = chunk_bytes_ / 2 / (kSumBlock / 2) + 2;
    for (ChunkSlot& s : slots_) {
      s.data.grow(chunk_bytes_);
      s.out.grow(chunk_bytes_);
    }
    scans_.grow(max_blocks);
    applies_.grow(max_blocks);
    ties_.grow(max_blocks);
    prefix_.grow(max_blocks);
    counts_.grow(max_blocks);
    ties_before_.grow(1);
    cub_temp_.grow(cuda::exclusive_sum_scratch(max_blocks));
    // Per-block histogram rows: at most two 1024-thread blocks per multiprocessor, 2^15 bins
    // each, or one with 2^16 (its 128 KiB of counters leave no room for a second).
    hist_rows_.grow(std::size_t(std::max(1, limits_.multiprocessors)) * 2 * (std::size_t{1} << (kMaxDigitBits - 1)));
    buffers_ready_ = true;
  }

  template <typename T>
  const T* fetch(const T* device, std::size_t count) {
    return active_->downloads.fetch(device, count, compute_.get());
  }

  // A chunk's variable-size output, home on the download stream (the compute stream has
  // finished the chunk: its collect runs after its event). A pageable destination makes the
  // call wait for the copy, while the next chunk's kernels run.
  void download(void* host, const void* device, std::size_t bytes) {
    H5P_CUDA_TRY(cudaMemcpyAsync(host, device, bytes, cudaMemcpyDeviceToHost, download_.get()));
  }

  // Streams t through the device in chunks of a multiple of `align` elements (at most
  // max_elems when > 0), two in flight. launch(device data, first element, count) enqueues the
  // chunk's work on compute_ (fetches into active_'s downloads, outputs into active_->out) and
  // returns a function that reads its results; it runs once the chunk has finished, in chunk
  // order, after the next chunk has been launched. With write_back, each chunk's (modified)
  // device data is copied back into write_back. A retained tensor's chunks are views of its
  // device copy: nothing is uploaded, and they keep the upload path's size, which the kernels'
  // per-call limits (n < 2^32) rely on.
  template <typename Launch>
  void for_each_chunk(ConstTensor t, void* write_back, std::size_t align, std::size_t max_elems, Launch&& launch) {
    if (t.n == 0) return;
    ensure_buffers();
    const std::size_t esize = dtype_size(t.dtype);
    std::size_t chunk = std::max<std::size_t>(1, chunk_bytes_ / esize / align) * align;
    if (max_elems > 0) chunk = std::min(chunk, std::max<std::size_t>(1, max_elems / align) * align);
    const std::size_t chunks = blocks_of(t.n, chunk);
    unsigned char* resident = nullptr;
    if (const auto it = resident_.find(t.data);
        it != resident_.end() && it->second.n == t.n && it->second.dtype == t.dtype)
      resident = it->second.data.data();
    const auto* src = static_cast<const unsigned char*>(t.data);
    auto* dst = static_cast<unsigned char*>(write_back);
    const auto range = [&](std::size_t c) { return std::pair{c * chunk, std::min(chunk, t.n - c * chunk)}; };
    const auto device_data = [&](std::size_t c) {
      return resident ? resident + c * chunk * esize : slots_[c % 2].data.data();
    };

    // Enqueues chunk c's upload. Its slot's previous chunk (c - 2) has been finished.
    const auto upload = [&](std::size_t c) {
      if (resident) return;
      ChunkSlot& s = slots_[c % 2];
      const auto [begin, n] = range(c);
      // From pageable memory the driver stages the bytes and returns once it has them.
      H5P_CUDA_TRY(cudaMemcpyAsync(s.data.data(), src + begin * esize, n * esize, cudaMemcpyHostToDevice, upload_.get()));
      s.uploaded.record(upload_);
    };
    // Waits for chunk c and its write-back, and reads its results. The download stream holds
    // nothing of a later chunk yet: chunk c + 1's write-back is enqueued after this.
    const auto finish = [&](std::size_t c) {
      ChunkSlot& s = slots_[c % 2];
      s.computed.synchronize();
      if (dst) s.written.synchronize();
      const auto collect = std::move(s.collect);
      s.collect = nullptr;
      collect();
      // The chunk's output downloads (compaction, N:M) land before its slot is reused.
      s.written.record(download_);
      s.written.synchronize();
    };

    try {
      upload(0);
      for (std::size_t c = 0; c < chunks; ++c) {
        ChunkSlot& s = slots_[c % 2];
        const auto [begin, n] = range(c);
        if (!resident) s.uploaded.wait_on(compute_);
        s.downloads.next_chunk();
        active_ = &s;
        s.collect = launch(device_data(c), begin, n);
        active_ = nullptr;
        s.computed.record(compute_);
        // While chunk c computes: finish chunk c - 1, then queue c's write-back and c + 1's
        // upload (into the slot c - 1 has just freed).
        if (c >= 1) finish(c - 1);
        if (dst) {
          // Into pageable memory the driver copies before cudaMemcpyAsync returns: the host waits
          // there for chunk c's kernels, before chunk c + 1's upload is queued.
          s.computed.wait_on(download_);
          H5P_CUDA_TRY(
              cudaMemcpyAsync(dst + begin * esize, device_data(c), n * esize, cudaMemcpyDeviceToHost, download_.get()));
          s.written.record(download_);
        }
        if (c + 1 < chunks) upload(c + 1);
      }
      finish(chunks - 1);
    } catch (...) {
      // Copies in flight may still read or write the caller's memory: let them end first.
      H5P_CUDA_TRY_NOTHROW(cudaDeviceSynchronize());
      for (ChunkSlot& s : slots_) s.collect = nullptr;
      throw;
    }
  }

  // Streams t and adds up the per-kSumBlock counts that count_blocks(device data, n, counts)
  // enqueues on compute_.
  template <typename CountBlocks>
  std::uint64_t sum_block_counts(ConstTensor t, CountBlocks&& count_blocks) {
    std::uint64_t total = 0;
    for_each_chunk(t, nullptr, kSumBlock, 0, [&](const void* dev, std::size_t, std::size_t n) {
      const std::size_t blocks = blocks_of(n, kSumBlock);
      count_blocks(dev, n, counts_.data());
      const std::uint64_t* counts = fetch(counts_.data(), blocks);
      return [&total, counts, blocks] {
        for (std::size_t b = 0; b < blocks; ++b) total += counts[b];
      };
    });
    return total;
  }

  const BlockStats* fetch_block_stats(DType t, const void* dev, std::size_t n, std::size_t block_len) {
    const std::size_t blocks = blocks_of(n, block_len);
    with_bits(t, [&](auto bits) {
      cuda::scan(static_cast<const decltype(bits)*>(dev), n, block_len, scans_.data(), compute_.get());
    });
    return fetch(scans_.data(), blocks);
  }

  void start_histogram(DigitPass pass) {
    if (pass.bits < 1 || pass.bits > kMaxDigitBits) throw std::invalid_argument("histogram: digits of 1 to 16 bits");
    H5P_CUDA_TRY(cudaMemsetAsync(hist_.data(), 0, (std::size_t{1} << pass.bits) * sizeof(std::uint64_t), compute_.get()));
  }
  void add_histogram(DType t, const void* dev, std::size_t n, KeyWidth w, DigitPass pass) {
    with_bits(t, [&](auto bits) {
      cuda::histogram(static_cast<const decltype(bits)*>(dev), n, w, pass, limits_, hist_rows_, hist_.data(),
                      compute_.get());
    });
  }
  void finish_histogram(DigitPass pass, std::uint64_t* hist) {
    const std::size_t bins = std::size_t{1} << pass.bits;
    hist_host_.grow(std::size_t{1} << kMaxDigitBits << 3);
    auto* counts = reinterpret_cast<const std::uint64_t*>(hist_host_.data());
    H5P_CUDA_TRY(cudaMemcpyAsync(hist_host_.data(), hist_.data(), bins * sizeof(std::uint64_t), cudaMemcpyDeviceToHost,
                                 compute_.get()));
    compute_.synchronize();
    for (std::size_t b = 0; b < bins; ++b) hist[b] += counts[b];
  }
  PinnedBuffer hist_host_;
};

}  // namespace

std::unique_ptr<Backend> make_cuda_backend(const CudaBackendOptions& options) {
  const CudaProbe probe = probe_cuda();
  if (probe.devices == 0) throw UsageError("--backend cuda: no usable CUDA device (" + probe.reason + ")");
  H5P_CUDA_TRY(cudaSetDevice(0));
  return std::make_unique<CudaBackend>(options, probe.first_device);
}

}  // namespace h5p
