// Structured pruning on the CPU: exact slice norms (per-thread accumulators merged exactly)
// and the zeroing of whole slices, with the kept sum of squares in the fixed block order.
#include "kernels/cpu/cpu_structured.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <vector>

#include "kernels/cpu/typed_keys.hpp"
#include "kernels/lane_sum.hpp"

namespace h5p::cpu {
namespace {

// Walks slice indices along a flat range without a division per element.
class SliceCursor {
 public:
  SliceCursor(std::uint64_t flat, SliceAxis a) : a_(a), r_(flat % a.inner), s_((flat / a.inner) % a.slices) {}
  std::size_t slice() const { return s_; }
  void next() {
    if (++r_ == a_.inner) {
      r_ = 0;
      if (++s_ == a_.slices) s_ = 0;
    }
  }

 private:
  SliceAxis a_;
  std::size_t r_, s_;
};

void check(SliceAxis a) {
  if (a.slices == 0 || a.inner == 0) throw std::invalid_argument("structured: empty slice axis");
}

template <typename Bits>
void add_range(const Bits* p, std::size_t begin, std::size_t end, std::uint64_t flat, SliceAxis a, SliceNorms& norms) {
  SliceCursor c(flat + begin, a);
  for (std::size_t i = begin; i < end; ++i, c.next()) norms.add_bits(c.slice(), p[i]);
}

template <typename E>
NmResult zero_typed(MutTensor t, std::uint64_t flat, SliceAxis a, const std::uint8_t* drop, int threads) {
  using Bits = typename E::Bits;
  auto* p = static_cast<Bits*>(t.data);
  const std::size_t blocks = (t.n + kSumBlock - 1) / kSumBlock;
  std::vector<NmResult> parts(blocks);
#pragma omp parallel for schedule(static) num_threads(threads)
  for (std::size_t b = 0; b < blocks; ++b) {
    const std::size_t begin = b * kSumBlock, end = std::min(t.n, begin + kSumBlock);
    NmResult part;
    SliceCursor c(flat + begin, a);
    const Bits magnitude = static_cast<Bits>(~Bits{0} >> 1);
    for (std::size_t i = begin; i < end; ++i, c.next()) {
      if (drop[c.slice()]) {
        p[i] = Bits{0};  // +0.0 in every IEEE format
        ++part.pruned;
      }
      part.zeros_after += (p[i] & magnitude) == 0;
    }
    part.kept_sum_sq = lane_sum(begin, end, [&](std::size_t i) {
      const double v = E::abs_value(p[i]);
      return nan_to_zero(v * v);
    });
    parts[b] = part;
  }
  NmResult r;
  for (const NmResult& part : parts) {
    r.pruned += part.pruned;
    r.zeros_after += part.zeros_after;
    r.kept_sum_sq += part.kept_sum_sq;
  }
  return r;
}

}  // namespace

void slice_norms(ConstTensor t, std::uint64_t begin, SliceAxis axis, SliceNorms& norms, int threads) {
  if (t.n == 0) return;
  check(axis);
  if (norms.slices() != axis.slices || norms.dtype() != t.dtype)
    throw std::invalid_argument("slice_norms: accumulator does not match the tensor");
  auto run = [&]<typename Bits>(const Bits* p) {
    if (threads <= 1) {
      add_range(p, 0, t.n, begin, axis, norms);
      return;
    }
    // Each thread sums a contiguous range into its own accumulator; exact sums merge in any order.
    std::vector<std::unique_ptr<SliceNorms>> local(static_cast<std::size_t>(threads));
#pragma omp parallel num_threads(threads)
    {
      const std::size_t id = static_cast<std::size_t>(omp_get_thread_num());
      const std::size_t nt = static_cast<std::size_t>(omp_get_num_threads());
      const std::size_t lo = t.n * id / nt, hi = t.n * (id + 1) / nt;
      local[id] = std::make_unique<SliceNorms>(norms.dtype(), norms.p(), norms.slices());
      add_range(p, lo, hi, begin, axis, *local[id]);
    }
    for (const auto& l : local)
      if (l) norms.merge(*l);
  };
  switch (t.dtype) {
    case DType::f16: run(static_cast<const std::uint16_t*>(t.data)); break;
    case DType::f32: run(static_cast<const std::uint32_t*>(t.data)); break;
    case DType::f64: run(static_cast<const std::uint64_t*>(t.data)); break;
  }
}

NmResult zero_slices(MutTensor t, std::uint64_t begin, SliceAxis axis, const std::uint8_t* drop, int threads) {
  if (t.n == 0) return {};
  check(axis);
  switch (t.dtype) {
    case DType::f16: return zero_typed<Half>(t, begin, axis, drop, threads);
    case DType::f32: return zero_typed<Float>(t, begin, axis, drop, threads);
    case DType::f64: break;
  }
  return zero_typed<Double>(t, begin, axis, drop, threads);
}

}  // namespace h5p::cpu
