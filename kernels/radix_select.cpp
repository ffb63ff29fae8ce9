// Radix k-select bookkeeping (backend independent) and exact threshold keys.
#include "kernels/radix_select.hpp"

#include <algorithm>
#include <stdexcept>

#include "kernels/keys.hpp"

namespace h5p {

std::vector<DigitLayout> digit_layout(KeyWidth w) {
  switch (w) {
    case KeyWidth::k16: return {{0, 15}};
    case KeyWidth::k32: return {{15, 16}, {0, 15}};
    case KeyWidth::k64: return {{48, 15}, {32, 16}, {16, 16}, {0, 16}};
  }
  return {};
}

bool RadixSelection::done() const { return pass >= digit_layout(width).size(); }

DigitLayout RadixSelection::next_digit() const { return digit_layout(width).at(pass); }

void RadixSelection::consume(const std::vector<std::uint64_t>& hist) {
  const DigitLayout d = next_digit();
  if (hist.size() != (std::size_t{1} << d.bits)) throw std::logic_error("histogram size mismatch");
  std::uint64_t bin = 0;
  for (; bin < hist.size(); ++bin) {
    if (hist[bin] >= remaining) break;
    remaining -= hist[bin];
    below += hist[bin];
  }
  if (bin == hist.size()) throw std::logic_error("radix select: rank beyond the histogram total");
  prefix = (prefix << d.bits) | bin;
  equal = hist[bin];
  ++pass;
}

std::uint64_t RadixSelection::prefix_lo() const {
  return prefix << digit_layout(width).at(pass - 1).shift;
}

std::uint64_t RadixSelection::prefix_hi() const {
  const int shift = digit_layout(width).at(pass - 1).shift;
  return prefix_lo() | ((std::uint64_t{1} << shift) - 1);
}

std::optional<KthKey> select_gathered(const std::vector<std::uint64_t>& keys, std::uint64_t below, std::uint64_t k) {
  if (k <= below || k - below > keys.size()) return std::nullopt;
  std::vector<std::uint64_t> order(keys);
  const auto kth = order.begin() + static_cast<std::ptrdiff_t>(k - below - 1);
  std::nth_element(order.begin(), kth, order.end());
  KthKey r;
  r.key = *kth;
  r.below = below;
  for (const std::uint64_t key : keys) {
    r.below += key < r.key;
    r.equal += key == r.key;
  }
  return r;
}

std::uint64_t threshold_key(KeyWidth w, double t) {
  // Binary search over [0, inf_key]: key_value is monotonic there and exact.
  std::uint64_t lo = 0, hi = inf_key(w);
  if (!(t > 0.0)) return 0;
  while (lo < hi) {
    std::uint64_t mid = lo + (hi - lo) / 2;
    if (key_value(w, mid) >= t) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

}  // namespace h5p
