// The OpenMP CPU backend: the fallback at run time and the oracle the CUDA backend is tested
// against. Loops are typed per (element type, key width); sums are taken in fixed blocks with
// a fixed accumulator order, so every result is independent of the thread count.
#include <omp.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/backend.hpp"
#include "kernels/cpu/cpu_compaction.hpp"
#include "kernels/cpu/cpu_structured.hpp"
#include "kernels/cpu/cpu_sweep.hpp"
#include "kernels/cpu/typed_keys.hpp"
#include "kernels/keys.hpp"
#include "kernels/lane_sum.hpp"

namespace h5p {
namespace {
using cpu::Half;
using cpu::Float;
using cpu::Double;
using cpu::dispatch;

std::size_t block_count(std::size_t n) { return (n + kSumBlock - 1) / kSumBlock; }

// Per-thread histograms are kept as kCopies interleaved copies (element i counts in copy
// i % kCopies): repeated hits on one bin, common as magnitudes crowd into few exponents,
// then do not wait on each other.
constexpr std::size_t kCopies = 4;

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int threads) : threads_(threads > 0 ? threads : omp_get_num_procs()) {}

  std::string name() const override { return "cpu"; }
  std::string device() const override {
    return "cpu (" + std::to_string(threads_) + (threads_ == 1 ? " thread)" : " threads)");
  }

  TensorScan scan(ConstTensor t) override { return scan_impl(t); }

  TensorScan scan_histogram(ConstTensor t, KeyWidth w, DigitPass pass, std::uint64_t* hist) override {
    TensorScan s;
    dispatch(t.dtype, w, [&]<typename E, KeyWidth W>() { s = scan_histogram_impl<E, W>(t, pass, hist); });
    return s;
  }

  void histogram(ConstTensor t, KeyWidth w, DigitPass pass, std::uint64_t* hist) override {
    dispatch(t.dtype, w, [&]<typename E, KeyWidth W>() {
      const auto* p = static_cast<const typename E::Bits*>(t.data);
      const std::size_t bins = std::size_t{1} << pass.bits;
      for_each_chunk_histogram(t.n, bins, hist, [&](std::size_t begin, std::size_t end, std::uint32_t* h) {
        add_histogram<E, W>(p, begin, end, pass, h, bins);
      });
    });
  }

  std::uint64_t count_equal(ConstTensor t, KeyWidth w, std::uint64_t key) override {
    std::uint64_t count = 0;
    dispatch(t.dtype, w, [&]<typename E, KeyWidth W>() {
      const auto* p = static_cast<const typename E::Bits*>(t.data);
#pragma omp parallel for reduction(+ : count) schedule(static) num_threads(threads_for(t.n))
      for (std::size_t i = 0; i < t.n; ++i) count += (E::template key<W>(p[i]) == key);
    });
    return count;
  }

  void histogram_multi(ConstTensor t, KeyWidth w, int shift, int bits, const std::vector<std::uint64_t>& prefixes,
                       std::uint64_t* hists) override {
    cpu::histogram_multi(t, w, shift, bits, prefixes, hists, threads_for(t.n));
  }

  void tally(ConstTensor t, KeyWidth w, const std::vector<std::uint64_t>& bounds, std::uint64_t* bucket_count,
             double* bucket_sum_sq, std::uint64_t* equal) override {
    cpu::tally(t, w, bounds, bucket_count, bucket_sum_sq, equal, threads_for(t.n));
  }

  ApplyResult apply(MutTensor t, KeyWidth w, std::uint64_t K, std::uint64_t tie_quota) override {
    ApplyResult r;
    dispatch(t.dtype, w, [&]<typename E, KeyWidth W>() { r = apply_impl<E, W>(t, K, tie_quota); });
    return r;
  }

  std::uint64_t count_survivors(ConstTensor t, std::size_t row_len, std::size_t phase,
                                std::uint64_t* row_counts) override {
    return cpu::count_survivors(t, row_len, phase, row_counts, threads_for(t.n));
  }
  std::uint64_t compact(ConstTensor t, std::uint64_t base, void* values, std::uint64_t* index) override {
    return cpu::compact(t, base, values, index, threads_for(t.n));
  }
  void survivor_mask(ConstTensor t, unsigned bit_offset, std::uint8_t* bits) override {
    cpu::survivor_mask(t, bit_offset, bits, threads_for(t.n));
  }
  NmResult nm_apply(MutTensor t, unsigned keep, unsigned m, std::size_t stride, std::uint8_t* positions,
                    void* kept) override {
    return cpu::nm_apply(t, keep, m, stride, positions, kept, threads_for(t.n));
  }
  void slice_norms(ConstTensor t, std::uint64_t begin, SliceAxis axis, SliceNorms& norms) override {
    cpu::slice_norms(t, begin, axis, norms, threads_for(t.n));
  }
  NmResult zero_slices(MutTensor t, std::uint64_t begin, SliceAxis axis, const std::uint8_t* drop) override {
    return cpu::zero_slices(t, begin, axis, drop, threads_for(t.n));
  }

 private:
  int threads_;

  // Threads for a call over n elements: one below kParallelMin, where waking a second thread
  // (which spins while it waits, and costs a lot on a busy node) is not worth it.
  static constexpr std::size_t kParallelMin = 4 * kSumBlock;
  int threads_for(std::size_t n) const { return n >= kParallelMin ? threads_ : 1; }

  // Runs body(i, thread_hist) over [0, n) with per-thread 32-bit histograms, added into
  // hist (64-bit) every 2^31 elements so the small counters cannot overflow.
  // Runs body(begin, end, thread_hist) over [0, n) split in blocks, with per-thread 32-bit
  // histograms added into hist (64-bit) every 2^31 elements so they cannot overflow.
  template <typename Body>
  void for_each_chunk_histogram(std::size_t n, std::size_t bins, std::uint64_t* hist, Body&& body) {
    if (n == 0) return;
    const std::size_t blocks = block_count(n);
    const std::size_t group = (std::size_t{1} << 31) / kSumBlock;
    const int nthreads = threads_for(n);
    const std::size_t per_thread = bins * kCopies;
    std::vector<std::uint32_t> local(static_cast<std::size_t>(nthreads) * per_thread);
    for (std::size_t g0 = 0; g0 < blocks; g0 += group) {
      const std::size_t g1 = std::min(blocks, g0 + group);
      std::fill(local.begin(), local.end(), 0u);
#pragma omp parallel num_threads(nthreads)
      {
        std::uint32_t* h = local.data() + static_cast<std::size_t>(omp_get_thread_num()) * per_thread;
#pragma omp for schedule(static)
        for (std::size_t b = g0; b < g1; ++b) body(b * kSumBlock, std::min(n, (b + 1) * kSumBlock), h);
      }
      merge_histograms(local, per_thread, bins, hist);
    }
  }

  // Counts the digit of p[begin..end) into h's kCopies interleaved copies (element i in copy
  // (i - begin) % kCopies). The first digit has no prefix to check; later ones do.
  template <typename E, KeyWidth W>
  static void add_histogram(const typename E::Bits* p, std::size_t begin, std::size_t end, DigitPass pass,
                            std::uint32_t* h, std::size_t bins) {
    const std::uint64_t mask = bins - 1;
    const int high = pass.shift + pass.bits;
    const int shift = pass.shift;
    std::uint32_t* h0 = h;
    std::uint32_t* h1 = h + bins;
    std::uint32_t* h2 = h + 2 * bins;
    std::uint32_t* h3 = h + 3 * bins;
    std::size_t i = begin;
    constexpr int key_bits = W == KeyWidth::k16 ? 15 : W == KeyWidth::k32 ? 31 : 63;
    if (high >= key_bits) {
      // Nothing above this digit in a key of width W (sign bit cleared): no prefix test.
      for (; i + 4 <= end; i += 4) {
        ++h0[(E::template key<W>(p[i]) >> shift) & mask];
        ++h1[(E::template key<W>(p[i + 1]) >> shift) & mask];
        ++h2[(E::template key<W>(p[i + 2]) >> shift) & mask];
        ++h3[(E::template key<W>(p[i + 3]) >> shift) & mask];
      }
      for (; i < end; ++i) ++h0[(E::template key<W>(p[i]) >> shift) & mask];
      return;
    }
    for (; i < end; ++i) {
      const std::uint64_t k = E::template key<W>(p[i]);
      if ((k >> high) == pass.prefix) ++h0[(k >> shift) & mask];
    }
  }

  // Adds every thread's and copy's counts into hist.
  static void merge_histograms(const std::vector<std::uint32_t>& local, std::size_t per_thread, std::size_t bins,
                               std::uint64_t* hist) {
    for (std::size_t off = 0; off < local.size(); off += per_thread)
      for (std::size_t c = 0; c < kCopies; ++c)
        for (std::size_t b = 0; b < bins; ++b) hist[b] += local[off + c * bins + b];
  }

  // prune's first pass: NaN and zero counts, sum of squares, and the first digit's histogram.
  // (min/max and sum |w| are left unset: only stats needs them, through scan().)
  template <typename E, KeyWidth W>
  TensorScan scan_histogram_impl(ConstTensor t, DigitPass pass, std::uint64_t* hist) {
    constexpr KeyWidth native = native_key_width_of<E>();
    const std::uint64_t inf = inf_key(native);
    const auto* p = static_cast<const typename E::Bits*>(t.data);
    const std::size_t blocks = block_count(t.n);
    const std::size_t bins = std::size_t{1} << pass.bits;
    struct Partial {
      std::uint64_t nan = 0, zeros = 0;
      double sum_sq = 0;
    };
    std::vector<Partial> parts(blocks);
    for_each_chunk_histogram(t.n, bins, hist, [&](std::size_t begin, std::size_t end, std::uint32_t* h) {
      add_histogram<E, W>(p, begin, end, pass, h, bins);
      // Native-width keys in the element's own integer type keep this loop vectorisable.
      using Bits = typename E::Bits;
      const Bits inf_bits = static_cast<Bits>(inf);
      Partial part;
      for (std::size_t i = begin; i < end; ++i) {
        const Bits k = static_cast<Bits>(E::template key<native>(p[i]));
        part.nan += k > inf_bits;
        part.zeros += k == 0;
      }
      part.sum_sq = lane_sum(begin, end, [&](std::size_t i) {
        const double v = E::abs_value(p[i]);
        return static_cast<Bits>(E::template key<native>(p[i])) > inf_bits ? 0.0 : v * v;
      });
      parts[begin / kSumBlock] = part;
    });
    TensorScan s;
    s.n = t.n;
    for (const Partial& part : parts) {
      s.nan += part.nan;
      s.zeros += part.zeros;
      s.sum_sq += part.sum_sq;
    }
    return s;
  }

  // stats' pass: NaN and zero counts, min/max keys, sum |w| and sum w^2, per fixed block.
  TensorScan scan_impl(ConstTensor t) {
    const std::size_t blocks = block_count(t.n);
    std::vector<TensorScan> parts(blocks);
    dispatch(t.dtype, native_key_width(t.dtype), [&]<typename E, KeyWidth W>() {
      const std::uint64_t inf = inf_key(W);
      const auto* p = static_cast<const typename E::Bits*>(t.data);
#pragma omp parallel for schedule(static) num_threads(threads_for(t.n))
      for (std::size_t b = 0; b < blocks; ++b) {
        TensorScan part;
        const std::size_t begin = b * kSumBlock, end = std::min(t.n, (b + 1) * kSumBlock);
        for (std::size_t i = begin; i < end; ++i) {
          const std::uint64_t k = E::template key<W>(p[i]);
          if (k > inf) {
            ++part.nan;
            continue;
          }
          part.zeros += (k == 0);
          part.min_abs_key = std::min(part.min_abs_key, k);
          part.max_abs_key = std::max(part.max_abs_key, k);
        }
        // NaN adds +0.0, which leaves a lane's (non-negative) sum as it is.
        part.sum_abs = lane_sum(begin, end, [&](std::size_t i) {
          return E::template key<W>(p[i]) > inf ? 0.0 : E::abs_value(p[i]);
        });
        part.sum_sq = lane_sum(begin, end, [&](std::size_t i) {
          const double v = E::abs_value(p[i]);
          return E::template key<W>(p[i]) > inf ? 0.0 : v * v;
        });
        parts[b] = part;
      }
    });
    TensorScan s;
    s.n = t.n;
    for (const TensorScan& part : parts) s.add(part);
    return s;
  }


  template <typename E>
  static constexpr KeyWidth native_key_width_of() {
    if constexpr (std::is_same_v<E, Half>) return KeyWidth::k16;
    else if constexpr (std::is_same_v<E, Float>) return KeyWidth::k32;
    else return KeyWidth::k64;
  }

  template <typename E, KeyWidth W>
  ApplyResult apply_impl(MutTensor t, std::uint64_t K, std::uint64_t tie_quota) {
    auto* p = static_cast<typename E::Bits*>(t.data);
    const std::size_t blocks = block_count(t.n);
    // Ties are pruned in position order: each block learns from a prefix sum of the tie
    // counts before it how much of the quota is left for it (no atomics).
    std::vector<std::uint64_t> quota_at(blocks, 0);
    if (tie_quota > 0) {
      std::vector<std::uint64_t> ties(blocks, 0);
#pragma omp parallel for schedule(static) num_threads(threads_for(t.n))
      for (std::size_t b = 0; b < blocks; ++b) {
        std::uint64_t c = 0;
        const std::size_t end = std::min(t.n, (b + 1) * kSumBlock);
        for (std::size_t i = b * kSumBlock; i < end; ++i) c += (E::template key<W>(p[i]) == K);
        ties[b] = c;
      }
      std::uint64_t left = tie_quota;
      for (std::size_t b = 0; b < blocks; ++b) {
        quota_at[b] = std::min(left, ties[b]);
        left -= quota_at[b];
      }
    }
    struct Partial {
      std::uint64_t pruned = 0, ties = 0, ties_pruned = 0;
      double kept_sq = 0;
    };
    std::vector<Partial> parts(blocks);
#pragma omp parallel for schedule(static) num_threads(threads_for(t.n))
    for (std::size_t b = 0; b < blocks; ++b) {
      Partial part;
      std::uint64_t quota = quota_at[b];
      const std::size_t begin = b * kSumBlock, end = std::min(t.n, begin + kSumBlock);
      if (quota == 0 && W == E::native) {
        // Common case, no ties to take and native keys: branch-free, in the element's own
        // integer type, so it vectorises.
        using Bits = typename E::Bits;
        const Bits Kb = static_cast<Bits>(K);
        std::uint64_t ties = 0, pruned = 0;
        for (std::size_t i = begin; i < end; ++i) {
          const Bits k = static_cast<Bits>(E::template key<W>(p[i]));
          ties += k == Kb;
          const bool prune = k < Kb;
          pruned += prune;
          p[i] = prune ? Bits{0} : p[i];  // +0.0 in every IEEE format
        }
        part.ties = ties;
        part.pruned = pruned;
      } else if (quota == 0) {
        for (std::size_t i = begin; i < end; ++i) {
          const std::uint64_t k = E::template key<W>(p[i]);
          part.ties += k == K;
          const bool prune = k < K;
          part.pruned += prune;
          p[i] = prune ? typename E::Bits{0} : p[i];
        }
      } else {
        for (std::size_t i = begin; i < end; ++i) {
          const std::uint64_t k = E::template key<W>(p[i]);
          const bool tie = k == K;
          part.ties += tie;
          bool prune = k < K;
          if (tie && quota > 0) {
            prune = true;
            --quota;
            ++part.ties_pruned;
          }
          if (prune) {
            p[i] = 0;
            ++part.pruned;
          }
        }
      }
      // Pruned elements are +0.0 now, so the kept sum is the sum over the block.
      // (A NaN adds nothing, as in the scans: NaN bits from arithmetic differ between CPUs and GPUs.)
      part.kept_sq = lane_sum(begin, end, [&](std::size_t i) {
        const double v = E::abs_value(p[i]);
        return std::isnan(v) ? 0.0 : v * v;
      });
      parts[b] = part;
    }
    ApplyResult r;
    for (const Partial& part : parts) {
      r.pruned += part.pruned;
      r.ties += part.ties;
      r.ties_pruned += part.ties_pruned;
      r.kept_sum_sq += part.kept_sq;
    }
    return r;
  }
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(int threads) { return std::make_unique<CpuBackend>(threads); }

}  // namespace h5p
