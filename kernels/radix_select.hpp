// Exact k-th smallest key by radix histograms: the digit layout per key width and the
// bin choice between passes. Histograms from many tensors and slabs simply add up.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/dtype.hpp"

namespace h5p {

struct DigitLayout {
  int shift;
  int bits;
};

// float16 keys: one pass of 15 bits; float32: 16 then 15; float64: 15, 16, 16, 16.
std::vector<DigitLayout> digit_layout(KeyWidth w);

// State of a selection of the k-th smallest key (k >= 1, 1-based) across passes.
struct RadixSelection {
  KeyWidth width;
  std::uint64_t k;             // rank sought among all keys of the scope
  std::uint64_t remaining;     // rank sought inside the current prefix
  std::uint64_t below = 0;     // keys known to be smaller than the current prefix
  std::uint64_t prefix = 0;    // digits chosen so far
  std::size_t pass = 0;        // next pass index
  std::uint64_t equal = 0;     // after the last pass: number of keys == K

  RadixSelection(KeyWidth w, std::uint64_t k_rank) : width(w), k(k_rank), remaining(k_rank) {}
  bool done() const;
  // Which digit the next histogram must count.
  DigitLayout next_digit() const;
  // Consumes the next pass's histogram (size 2^bits); hist must hold the whole scope.
  void consume(const std::vector<std::uint64_t>& hist);
  // After done(): the k-th key K, and how many keys equal to K must be pruned.
  std::uint64_t key() const { return prefix; }
  std::uint64_t tie_quota() const { return k - below; }
};

// Smallest key K of width w whose value is >= t (t >= 0, not NaN): pruning key < K is
// exactly pruning |w| < t, with no rounding of t to the tensor's dtype.
std::uint64_t threshold_key(KeyWidth w, double t);

}  // namespace h5p
