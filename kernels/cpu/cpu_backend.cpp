// The OpenMP CPU backend: the fallback at run time and the oracle the CUDA backend is tested
// against. Work is split into fixed blocks so every result is independent of the thread count.
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/backend.hpp"
#include "kernels/keys.hpp"

namespace h5p {
namespace {

// Calls f(key_of) with a callable that returns element i's key in width w; one
// instantiation per (dtype, width) keeps the inner loops free of branches.
template <typename F>
decltype(auto) with_key_reader(DType t, KeyWidth w, const void* data, F&& f) {
  switch (t) {
    case DType::f16: {
      auto p = static_cast<const std::uint16_t*>(data);
      if (w == KeyWidth::k16) return f([p](std::size_t i) -> std::uint64_t { return key16(p[i]); });
      if (w == KeyWidth::k32)
        return f([p](std::size_t i) -> std::uint64_t { return widen16to32(key16(p[i])); });
      return f([p](std::size_t i) -> std::uint64_t { return widen32to64(widen16to32(key16(p[i]))); });
    }
    case DType::f32: {
      auto p = static_cast<const std::uint32_t*>(data);
      if (w == KeyWidth::k64) return f([p](std::size_t i) -> std::uint64_t { return widen32to64(key32(p[i])); });
      return f([p](std::size_t i) -> std::uint64_t { return key32(p[i]); });
    }
    case DType::f64:
    default: {
      auto p = static_cast<const std::uint64_t*>(data);
      return f([p](std::size_t i) -> std::uint64_t { return key64(p[i]); });
    }
  }
}

template <typename Bits>
void zero_element(void* data, std::size_t i) {
  static_cast<Bits*>(data)[i] = 0;  // +0.0 in every IEEE format
}

void set_zero(DType t, void* data, std::size_t i) {
  if (t == DType::f16) zero_element<std::uint16_t>(data, i);
  else if (t == DType::f32) zero_element<std::uint32_t>(data, i);
  else zero_element<std::uint64_t>(data, i);
}

std::size_t block_count(std::size_t n) { return (n + kSumBlock - 1) / kSumBlock; }

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int threads) : threads_(threads > 0 ? threads : omp_get_num_procs()) {}

  std::string name() const override { return "cpu"; }
  std::string device() const override {
    return "cpu (" + std::to_string(threads_) + (threads_ == 1 ? " thread)" : " threads)");
  }

  TensorScan scan(ConstTensor t) override {
    const KeyWidth w = native_key_width(t.dtype);
    const std::uint64_t inf = inf_key(w);
    const std::size_t blocks = block_count(t.n);
    struct Partial {
      std::uint64_t nan = 0, zeros = 0, min_key = ~0ull, max_key = 0;
      double sum_abs = 0, sum_sq = 0;
    };
    std::vector<Partial> parts(blocks);
    with_key_reader(t.dtype, w, t.data, [&](auto key_of) {
#pragma omp parallel for schedule(static) num_threads(threads_)
      for (std::size_t b = 0; b < blocks; ++b) {
        Partial p;
        const std::size_t end = std::min(t.n, (b + 1) * kSumBlock);
        for (std::size_t i = b * kSumBlock; i < end; ++i) {
          const std::uint64_t k = key_of(i);
          if (k > inf) { ++p.nan; continue; }
          p.zeros += (k == 0);
          p.min_key = std::min(p.min_key, k);
          p.max_key = std::max(p.max_key, k);
          const double v = key_value(w, k);
          p.sum_abs += v;
          p.sum_sq += v * v;
        }
        parts[b] = p;
      }
      return 0;
    });
    TensorScan s;
    s.n = t.n;
    for (const Partial& p : parts) {
      s.nan += p.nan;
      s.zeros += p.zeros;
      s.min_abs_key = std::min(s.min_abs_key, p.min_key);
      s.max_abs_key = std::max(s.max_abs_key, p.max_key);
      s.sum_abs += p.sum_abs;
      s.sum_sq += p.sum_sq;
    }
    return s;
  }

  void histogram(ConstTensor t, KeyWidth w, DigitPass pass, std::uint64_t* hist) override {
    if (t.n == 0) return;
    const std::size_t bins = std::size_t{1} << pass.bits;
    const std::uint64_t mask = bins - 1;
    const int high = pass.shift + pass.bits;
    const int nthreads = static_cast<int>(std::min<std::size_t>(threads_, block_count(t.n)));
    std::vector<std::uint64_t> local(static_cast<std::size_t>(nthreads) * bins, 0);
    with_key_reader(t.dtype, w, t.data, [&](auto key_of) {
#pragma omp parallel num_threads(nthreads)
      {
        std::uint64_t* h = local.data() + static_cast<std::size_t>(omp_get_thread_num()) * bins;
#pragma omp for schedule(static)
        for (std::size_t i = 0; i < t.n; ++i) {
          const std::uint64_t k = key_of(i);
          // A shift by 64 is undefined; the top digit of a 64-bit key has nothing above it.
          const bool in_prefix = high >= 64 || (k >> high) == pass.prefix;
          if (in_prefix) ++h[(k >> pass.shift) & mask];
        }
      }
      return 0;
    });
    for (int th = 0; th < nthreads; ++th)
      for (std::size_t b = 0; b < bins; ++b) hist[b] += local[static_cast<std::size_t>(th) * bins + b];
  }

  std::uint64_t count_equal(ConstTensor t, KeyWidth w, std::uint64_t key) override {
    std::uint64_t count = 0;
    with_key_reader(t.dtype, w, t.data, [&](auto key_of) {
#pragma omp parallel for reduction(+ : count) schedule(static) num_threads(threads_)
      for (std::size_t i = 0; i < t.n; ++i) count += (key_of(i) == key);
      return 0;
    });
    return count;
  }

  ApplyResult apply(MutTensor t, KeyWidth w, std::uint64_t K, std::uint64_t tie_quota) override {
    const std::size_t blocks = block_count(t.n);
    // Ties are pruned in position order: each block learns from a prefix sum of the
    // tie counts before it how many of the quota are left for it (no atomics).
    std::vector<std::uint64_t> quota_at(blocks, 0);
    if (tie_quota > 0) {
      std::vector<std::uint64_t> ties(blocks, 0);
      with_key_reader(t.dtype, w, t.data, [&](auto key_of) {
#pragma omp parallel for schedule(static) num_threads(threads_)
        for (std::size_t b = 0; b < blocks; ++b) {
          std::uint64_t c = 0;
          const std::size_t end = std::min(t.n, (b + 1) * kSumBlock);
          for (std::size_t i = b * kSumBlock; i < end; ++i) c += (key_of(i) == K);
          ties[b] = c;
        }
        return 0;
      });
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
    const KeyWidth native = native_key_width(t.dtype);
    with_key_reader(t.dtype, w, t.data, [&](auto key_of) {
#pragma omp parallel for schedule(static) num_threads(threads_)
      for (std::size_t b = 0; b < blocks; ++b) {
        Partial p;
        std::uint64_t quota = quota_at[b];
        const std::size_t end = std::min(t.n, (b + 1) * kSumBlock);
        for (std::size_t i = b * kSumBlock; i < end; ++i) {
          const std::uint64_t k = key_of(i);
          bool prune = k < K;
          p.ties += (k == K);
          if (!prune && k == K && quota > 0) {
            prune = true;
            --quota;
            ++p.ties_pruned;
          }
          if (prune) {
            set_zero(t.dtype, t.data, i);
            ++p.pruned;
          } else {
            const double v = key_value(native, element_key(t.dtype, native, t.data, i));
            p.kept_sq += v * v;
          }
        }
        parts[b] = p;
      }
      return 0;
    });
    ApplyResult r;
    for (const Partial& p : parts) {
      r.pruned += p.pruned;
      r.ties += p.ties;
      r.ties_pruned += p.ties_pruned;
      r.kept_sum_sq += p.kept_sq;
    }
    return r;
  }

 private:
  int threads_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(int threads) { return std::make_unique<CpuBackend>(threads); }

}  // namespace h5p
