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
#include "kernels/keys.hpp"

namespace h5p {
namespace {

// Element bits -> key in the requested width, and -> |value| as a double (exact).
struct Half {
  using Bits = std::uint16_t;
  template <KeyWidth W>
  static std::uint64_t key(Bits b) {
    const std::uint16_t k = key16(b);
    if constexpr (W == KeyWidth::k16) return k;
    else if constexpr (W == KeyWidth::k32) return widen16to32(k);
    else return widen32to64(widen16to32(k));
  }
  static double abs_value(Bits b) { return static_cast<double>(std::bit_cast<float>(widen16to32(key16(b)))); }
};
struct Float {
  using Bits = std::uint32_t;
  template <KeyWidth W>
  static std::uint64_t key(Bits b) {
    if constexpr (W == KeyWidth::k64) return widen32to64(key32(b));
    else return key32(b);
  }
  static double abs_value(Bits b) { return static_cast<double>(std::bit_cast<float>(key32(b))); }
};
struct Double {
  using Bits = std::uint64_t;
  template <KeyWidth W>
  static std::uint64_t key(Bits b) { return key64(b); }
  static double abs_value(Bits b) { return std::bit_cast<double>(key64(b)); }
};

// Calls f.template operator()<Elem, W>() for the tensor's dtype and the key width.
template <typename F>
void dispatch(DType t, KeyWidth w, F&& f) {
  switch (t) {
    case DType::f16:
      if (w == KeyWidth::k16) f.template operator()<Half, KeyWidth::k16>();
      else if (w == KeyWidth::k32) f.template operator()<Half, KeyWidth::k32>();
      else f.template operator()<Half, KeyWidth::k64>();
      return;
    case DType::f32:
      if (w == KeyWidth::k64) f.template operator()<Float, KeyWidth::k64>();
      else f.template operator()<Float, KeyWidth::k32>();
      return;
    case DType::f64:
      f.template operator()<Double, KeyWidth::k64>();
      return;
  }
}

std::size_t block_count(std::size_t n) { return (n + kSumBlock - 1) / kSumBlock; }

// Sum of squares of a block with four accumulators in a fixed pattern (vectorisable,
// and the same whatever thread runs it).
struct Sums {
  double a[4] = {0, 0, 0, 0};
  void add(std::size_t i, double v) { a[i & 3] += v; }
  double total() const { return (a[0] + a[1]) + (a[2] + a[3]); }
};

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int threads) : threads_(threads > 0 ? threads : omp_get_num_procs()) {}

  std::string name() const override { return "cpu"; }
  std::string device() const override {
    return "cpu (" + std::to_string(threads_) + (threads_ == 1 ? " thread)" : " threads)");
  }

  TensorScan scan(ConstTensor t) override { return scan_impl(t, nullptr, KeyWidth::k64, {0, 0, 0}); }

  TensorScan scan_histogram(ConstTensor t, KeyWidth w, DigitPass pass, std::uint64_t* hist) override {
    return scan_impl(t, hist, w, pass);
  }

  void histogram(ConstTensor t, KeyWidth w, DigitPass pass, std::uint64_t* hist) override {
    dispatch(t.dtype, w, [&]<typename E, KeyWidth W>() {
      const auto* p = static_cast<const typename E::Bits*>(t.data);
      const std::uint64_t mask = (std::uint64_t{1} << pass.bits) - 1;
      const int high = pass.shift + pass.bits;
      for_each_chunk_histogram(t.n, std::size_t{1} << pass.bits, hist, [&](std::size_t i, std::uint32_t* h) {
        const std::uint64_t k = E::template key<W>(p[i]);
        // A shift by 64 is undefined; the top digit of a 64-bit key has nothing above it.
        if (high >= 64 || (k >> high) == pass.prefix) ++h[(k >> pass.shift) & mask];
      });
    });
  }

  std::uint64_t count_equal(ConstTensor t, KeyWidth w, std::uint64_t key) override {
    std::uint64_t count = 0;
    dispatch(t.dtype, w, [&]<typename E, KeyWidth W>() {
      const auto* p = static_cast<const typename E::Bits*>(t.data);
#pragma omp parallel for reduction(+ : count) schedule(static) num_threads(threads_)
      for (std::size_t i = 0; i < t.n; ++i) count += (E::template key<W>(p[i]) == key);
    });
    return count;
  }

  ApplyResult apply(MutTensor t, KeyWidth w, std::uint64_t K, std::uint64_t tie_quota) override {
    ApplyResult r;
    dispatch(t.dtype, w, [&]<typename E, KeyWidth W>() { r = apply_impl<E, W>(t, K, tie_quota); });
    return r;
  }

 private:
  int threads_;

  // Runs body(i, thread_hist) over [0, n) with per-thread 32-bit histograms, added into
  // hist (64-bit) every 2^31 elements so the small counters cannot overflow.
  template <typename Body>
  void for_each_chunk_histogram(std::size_t n, std::size_t bins, std::uint64_t* hist, Body&& body) {
    if (n == 0) return;
    const std::size_t chunk = std::size_t{1} << 31;
    const int nthreads = static_cast<int>(std::min<std::size_t>(threads_, block_count(n)));
    std::vector<std::uint32_t> local(static_cast<std::size_t>(nthreads) * bins);
    for (std::size_t begin = 0; begin < n; begin += chunk) {
      const std::size_t end = std::min(n, begin + chunk);
      std::fill(local.begin(), local.end(), 0u);
#pragma omp parallel num_threads(nthreads)
      {
        std::uint32_t* h = local.data() + static_cast<std::size_t>(omp_get_thread_num()) * bins;
#pragma omp for schedule(static)
        for (std::size_t i = begin; i < end; ++i) body(i, h);
      }
      for (int th = 0; th < nthreads; ++th)
        for (std::size_t b = 0; b < bins; ++b) hist[b] += local[static_cast<std::size_t>(th) * bins + b];
    }
  }

  // One pass: NaN/zero counts, min/max keys, sums, and (when hist is given) the histogram
  // of one digit of the keys in width w, so global selection needs no extra pass.
  TensorScan scan_impl(ConstTensor t, std::uint64_t* hist, KeyWidth w, DigitPass pass) {
    struct Partial {
      std::uint64_t nan = 0, zeros = 0, min_key = ~0ull, max_key = 0;
      double sum_abs = 0, sum_sq = 0;
    };
    const std::size_t blocks = block_count(t.n);
    std::vector<Partial> parts(blocks);
    const KeyWidth hist_width = hist ? w : native_key_width(t.dtype);
    dispatch(t.dtype, hist_width, [&]<typename E, KeyWidth W>() {
      constexpr KeyWidth native = native_key_width_of<E>();
      const std::uint64_t inf = inf_key(native);
      const auto* p = static_cast<const typename E::Bits*>(t.data);
      const std::uint64_t mask = (std::uint64_t{1} << pass.bits) - 1;
      const int high = pass.shift + pass.bits;
      const std::size_t bins = hist ? std::size_t{1} << pass.bits : 0;
      const int nthreads = static_cast<int>(std::max<std::size_t>(1, std::min<std::size_t>(threads_, blocks)));
      std::vector<std::uint32_t> local(static_cast<std::size_t>(nthreads) * bins);
      // Blocks in groups of at most 2^31 elements, so 32-bit per-thread counters cannot overflow.
      const std::size_t group = (std::size_t{1} << 31) / kSumBlock;
      for (std::size_t g0 = 0; g0 < blocks; g0 += group) {
        const std::size_t g1 = std::min(blocks, g0 + group);
        std::fill(local.begin(), local.end(), 0u);
#pragma omp parallel num_threads(nthreads)
        {
          std::uint32_t* h = hist ? local.data() + static_cast<std::size_t>(omp_get_thread_num()) * bins : nullptr;
#pragma omp for schedule(static)
          for (std::size_t b = g0; b < g1; ++b) {
            Partial part;
            Sums abs_sum, sq_sum;
            const std::size_t end = std::min(t.n, (b + 1) * kSumBlock);
            for (std::size_t i = b * kSumBlock; i < end; ++i) {
              const std::uint64_t k = E::template key<native>(p[i]);
              if (h) {
                const std::uint64_t hk = E::template key<W>(p[i]);
                if (high >= 64 || (hk >> high) == pass.prefix) ++h[(hk >> pass.shift) & mask];
              }
              if (k > inf) {
                ++part.nan;
                continue;
              }
              part.zeros += (k == 0);
              part.min_key = std::min(part.min_key, k);
              part.max_key = std::max(part.max_key, k);
              const double v = E::abs_value(p[i]);
              abs_sum.add(i, v);
              sq_sum.add(i, v * v);
            }
            part.sum_abs = abs_sum.total();
            part.sum_sq = sq_sum.total();
            parts[b] = part;
          }
        }
        for (int th = 0; hist && th < nthreads; ++th)
          for (std::size_t bin = 0; bin < bins; ++bin) hist[bin] += local[static_cast<std::size_t>(th) * bins + bin];
      }
    });
    TensorScan s;
    s.n = t.n;
    for (const Partial& part : parts) {
      s.nan += part.nan;
      s.zeros += part.zeros;
      s.min_abs_key = std::min(s.min_abs_key, part.min_key);
      s.max_abs_key = std::max(s.max_abs_key, part.max_key);
      s.sum_abs += part.sum_abs;
      s.sum_sq += part.sum_sq;
    }
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
#pragma omp parallel for schedule(static) num_threads(threads_)
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
#pragma omp parallel for schedule(static) num_threads(threads_)
    for (std::size_t b = 0; b < blocks; ++b) {
      Partial part;
      Sums kept;
      std::uint64_t quota = quota_at[b];
      const std::size_t end = std::min(t.n, (b + 1) * kSumBlock);
      for (std::size_t i = b * kSumBlock; i < end; ++i) {
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
          p[i] = 0;  // +0.0 in every IEEE format
          ++part.pruned;
        } else {
          const double v = E::abs_value(p[i]);
          kept.add(i, v * v);
        }
      }
      part.kept_sq = kept.total();
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
