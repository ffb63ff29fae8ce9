// Sweep kernels on the CPU. Work is split into fixed blocks whose partial results are added
// in block order, so results do not depend on the thread count.
#include "kernels/cpu/cpu_sweep.hpp"

#include <omp.h>

#include <algorithm>

#include "kernels/cpu/typed_keys.hpp"

namespace h5p::cpu {

namespace {
constexpr std::size_t kBlock = 1 << 16;
std::size_t blocks_of(std::size_t n) { return (n + kBlock - 1) / kBlock; }
}  // namespace

// Index of each prefix for a direct lookup when prefixes are small (the float32 and float16
// cases), -1 for none; larger (float64) prefixes use a binary search.
constexpr std::uint64_t kDirectPrefixLimit = std::uint64_t{1} << 17;

void histogram_multi(ConstTensor t, KeyWidth w, int shift, int bits, const std::vector<std::uint64_t>& prefixes,
                     std::uint64_t* hists, int threads) {
  if (t.n == 0 || prefixes.empty()) return;
  const std::size_t bins = std::size_t{1} << bits;
  const std::uint64_t mask = bins - 1;
  const int high = shift + bits;
  const std::size_t blocks = blocks_of(t.n);
  const int nthreads = static_cast<int>(std::max<std::size_t>(1, std::min<std::size_t>(threads, blocks)));
  const bool direct = prefixes.back() < kDirectPrefixLimit;
  std::vector<std::int32_t> slot(direct ? prefixes.back() + 1 : 0, -1);
  for (std::size_t j = 0; direct && j < prefixes.size(); ++j) slot[prefixes[j]] = static_cast<std::int32_t>(j);
  // Threads split the prefixes, not the elements: each reads every element and counts those
  // whose prefix it owns straight into hists. No per-thread copies (a hundred points would
  // need tens of MB per thread to clear and merge on every call).
  dispatch(t.dtype, w, [&]<typename E, KeyWidth W>() {
    const auto* p = static_cast<const typename E::Bits*>(t.data);
#pragma omp parallel num_threads(nthreads)
    {
      const std::int64_t me = omp_get_thread_num(), team = omp_get_num_threads();
      for (std::size_t i = 0; i < t.n; ++i) {
        const std::uint64_t k = E::template key<W>(p[i]);
        const std::uint64_t prefix = high >= 64 ? 0 : k >> high;
        std::int64_t j;
        if (direct) {
          if (prefix >= slot.size()) continue;
          j = slot[prefix];
          if (j < 0) continue;
        } else {
          const auto it = std::lower_bound(prefixes.begin(), prefixes.end(), prefix);
          if (it == prefixes.end() || *it != prefix) continue;
          j = it - prefixes.begin();
        }
        if (j % team == me) ++hists[static_cast<std::size_t>(j) * bins + ((k >> shift) & mask)];
      }
    }
  });
}

void tally(ConstTensor t, KeyWidth w, const std::vector<std::uint64_t>& bounds, std::uint64_t* bucket_count,
           double* bucket_sum_sq, std::uint64_t* equal, int threads) {
  if (t.n == 0) return;
  const std::size_t m = bounds.size();
  const std::size_t blocks = blocks_of(t.n);
  // Per block: m+1 counts, m+1 sums, m equal counts; added in block order afterwards.
  std::vector<double> sums(blocks * (m + 1), 0.0);
  std::vector<std::uint64_t> counts(blocks * (2 * m + 1), 0);
  // first[d]: how many bounds lie below the first key whose top 16 bits are d.
  const int key_bits = w == KeyWidth::k16 ? 15 : w == KeyWidth::k32 ? 31 : 63;
  const int top_shift = std::max(0, key_bits - 16);
  std::vector<std::uint32_t> first((std::size_t{1} << (key_bits - top_shift)) + 1);
  for (std::size_t d = 0; d < first.size(); ++d)
    first[d] = static_cast<std::uint32_t>(
        std::lower_bound(bounds.begin(), bounds.end(), static_cast<std::uint64_t>(d) << top_shift) - bounds.begin());
  dispatch(t.dtype, w, [&]<typename E, KeyWidth W>() {
    const auto* p = static_cast<const typename E::Bits*>(t.data);
#pragma omp parallel for schedule(static) num_threads(threads)
    for (std::size_t b = 0; b < blocks; ++b) {
      std::uint64_t* c = counts.data() + b * (2 * m + 1);
      std::uint64_t* eq = c + (m + 1);
      double* s = sums.data() + b * (m + 1);
      const std::size_t end = std::min(t.n, (b + 1) * kBlock);
      for (std::size_t i = b * kBlock; i < end; ++i) {
        const std::uint64_t k = E::template key<W>(p[i]);
        // Bounds below k's top-bits bin are counted by the table; then the few in its bin.
        const std::uint64_t top = k >> top_shift;
        std::size_t j = top < first.size() ? first[top] : m;
        while (j < m && bounds[j] <= k) ++j;
        ++c[j];
        const double v = E::abs_value(p[i]);
        s[j] += v * v;
        if (j > 0 && bounds[j - 1] == k) ++eq[j - 1];
      }
    }
  });
  for (std::size_t b = 0; b < blocks; ++b) {
    const std::uint64_t* c = counts.data() + b * (2 * m + 1);
    const double* s = sums.data() + b * (m + 1);
    for (std::size_t j = 0; j <= m; ++j) {
      bucket_count[j] += c[j];
      bucket_sum_sq[j] += s[j];
    }
    for (std::size_t i = 0; i < m; ++i) equal[i] += c[m + 1 + i];
  }
}

}  // namespace h5p::cpu
