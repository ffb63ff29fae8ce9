// The kernel interface: every backend (cpu/, cuda/) implements these entry points, and the
// host drives them slab by slab. Results must be identical across backends and thread counts.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "kernels/dtype.hpp"

namespace h5p {

// One pass over a tensor: counts and sums for NaN checks, stats and the L2 report.
// Sums are taken in fixed blocks of kSumBlock elements, then added in block order, so
// they do not depend on the thread count.
struct TensorScan {
  std::uint64_t n = 0;
  std::uint64_t nan = 0;
  std::uint64_t zeros = 0;          // +0.0 and -0.0
  std::uint64_t min_abs_key = ~0ull;  // in the tensor's native key width; ~0 when n == 0
  std::uint64_t max_abs_key = 0;      // largest non-NaN key
  double sum_abs = 0.0;
  double sum_sq = 0.0;
};

// One radix digit: bins (key >> shift) & (2^bits - 1) over the keys whose bits above
// shift + bits equal `prefix`.
struct DigitPass {
  int shift;
  int bits;
  std::uint64_t prefix;
};

struct ApplyResult {
  std::uint64_t pruned = 0;       // elements set to +0.0
  std::uint64_t ties = 0;         // elements with key == K
  std::uint64_t ties_pruned = 0;  // of those, how many were pruned
  double kept_sum_sq = 0.0;       // sum of squares of what remains
};

constexpr std::size_t kSumBlock = 16384;

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;    // "cpu", "cuda"
  virtual std::string device() const = 0;  // human description of where it runs

  virtual TensorScan scan(ConstTensor t) = 0;

  // scan() and histogram() of the first digit in one pass over the data.
  virtual TensorScan scan_histogram(ConstTensor t, KeyWidth w, DigitPass pass, std::uint64_t* hist) = 0;

  // Adds the digit histogram of t's keys (in width w) to hist[0 .. 2^bits).
  virtual void histogram(ConstTensor t, KeyWidth w, DigitPass pass, std::uint64_t* hist) = 0;

  // Number of elements whose key (in width w) equals key.
  virtual std::uint64_t count_equal(ConstTensor t, KeyWidth w, std::uint64_t key) = 0;

  // Sets to +0.0 every element with key < K, and the first `tie_quota` elements with
  // key == K in position order. Keys are taken in width w.
  virtual ApplyResult apply(MutTensor t, KeyWidth w, std::uint64_t K, std::uint64_t tie_quota) = 0;
};

// The OpenMP CPU backend; threads <= 0 means all available cores.
std::unique_ptr<Backend> make_cpu_backend(int threads);

}  // namespace h5p
