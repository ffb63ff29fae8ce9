// Exact k-th smallest key by radix histograms: the digit layout per key width and the
// bin choice between passes. Histograms from many tensors and slabs simply add up.
#pragma once
#include <cstdint>
#include <optional>
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
  // The keys that share the digits chosen so far (after at least one pass).
  std::uint64_t prefix_lo() const;
  std::uint64_t prefix_hi() const;
};

// The k-th smallest key K of a scope (k >= 1): how many keys lie below it, and how many equal it.
struct KthKey {
  std::uint64_t key = 0;
  std::uint64_t below = 0;
  std::uint64_t equal = 0;
  // How many of the keys equal to K the k smallest take.
  std::uint64_t tie_quota(std::uint64_t k) const { return k - below; }
};

// The k-th smallest of all keys, from the keys gathered in a range (KeyGather: every key in it,
// in any order) with `below` keys under the range: found when below < k <= below + keys.size(),
// else nullopt (it lies outside the range).
std::optional<KthKey> select_gathered(const std::vector<std::uint64_t>& keys, std::uint64_t below, std::uint64_t k);

// Smallest key K of width w whose value is >= t (t >= 0, not NaN): pruning key < K is
// exactly pruning |w| < t, with no rounding of t to the tensor's dtype.
std::uint64_t threshold_key(KeyWidth w, double t);

}  // namespace h5p
