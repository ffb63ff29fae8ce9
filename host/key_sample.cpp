// The sample, and the bounds it gives: a weighted histogram of the sampled keys' first radix digit
// finds the bins around the k-th key's estimated rank, and the sampled keys of those bins, sorted,
// place the bounds between two sampled keys.
#include "host/key_sample.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

#include "kernels/keys.hpp"
#include "kernels/radix_select.hpp"

namespace h5p {

namespace {

// The run's place within its period of `stride` runs: spread over it (not always its start), so
// that the runs of a matrix whose rows are a multiple of the period long meet every column.
std::size_t run_offset(std::size_t run_index, std::size_t stride) {
  std::uint64_t x = run_index * 0x9E3779B97F4A7C15ull;  // Fibonacci hashing
  x ^= x >> 29;
  return static_cast<std::size_t>(x % stride) * kSampleRun;
}

// The largest key of width w.
std::uint64_t max_key(KeyWidth w) {
  const int bits = w == KeyWidth::k16 ? 15 : w == KeyWidth::k32 ? 31 : 63;
  return (std::uint64_t{1} << bits) - 1;
}

}  // namespace

KeySample::KeySample(KeyWidth w, std::uint64_t scope_n)
    : width_(w), stride_(static_cast<std::size_t>(std::max<std::uint64_t>(kSampleStride, (scope_n + kMaxSampleKeys - 1) / kMaxSampleKeys))) {}

std::vector<std::pair<std::size_t, std::size_t>> KeySample::runs(std::size_t n) const {
  std::vector<std::pair<std::size_t, std::size_t>> out;
  const std::size_t period = kSampleRun * stride_;
  if (n == 0) return out;
  if (n < period) {
    const std::size_t m = std::max<std::size_t>(1, n / stride_);
    for (std::size_t j = 0; j < m; ++j) out.emplace_back(j * n / m, 1);
    return out;
  }
  for (std::size_t run = 0; run * period < n; ++run) {
    const std::size_t begin = run * period + run_offset(run, stride_);
    if (begin < n) out.emplace_back(begin, std::min(n, begin + kSampleRun) - begin);
  }
  return out;
}

void KeySample::add(DType dtype, std::size_t n, const void* sampled) {
  std::size_t taken = 0;
  for (const auto& run : runs(n)) taken += run.second;
  if (taken == 0) return;  // an empty tensor
  for (std::size_t i = 0; i < taken; ++i) keys_.push_back(element_key(dtype, width_, sampled, i));
  parts_.push_back(Part{keys_.size(), static_cast<double>(n) / static_cast<double>(taken), n});
}

std::optional<KeyGather> KeySample::bounds(std::uint64_t k, std::size_t cap) const {
  if (keys_.empty() || k == 0) return std::nullopt;
  std::uint64_t n = 0;
  for (const Part& p : parts_) n += p.n;
  // Each sampled key counts for `weight` keys: the variance of the estimated rank is at most
  // sum(weight * n) * q(1 - q) (sampling without replacement does better); each tensor's sample
  // adds about one key's weight of rounding, independently of the others.
  const double q = std::min(1.0, static_cast<double>(k) / static_cast<double>(n));
  double variance = 0, rounding = 0;
  for (const Part& p : parts_) {
    variance += p.weight * static_cast<double>(p.n) * q * (1 - q);
    rounding += p.weight * p.weight;
  }
  const double margin = 8 * (std::sqrt(variance) + std::sqrt(rounding)) + 1;
  const double rank_lo = static_cast<double>(k) - margin;  // estimated ranks the bounds must reach
  const double rank_hi = static_cast<double>(k) + margin;

  // The first radix digit's weighted histogram, then the bins that hold rank_lo and rank_hi.
  const DigitLayout digit = digit_layout(width_).front();
  std::vector<double> est(std::size_t{1} << digit.bits, 0.0);
  std::size_t begin = 0;
  for (const Part& p : parts_) {
    for (std::size_t i = begin; i < p.end; ++i) est[keys_[i] >> digit.shift] += p.weight;
    begin = p.end;
  }
  double below_bin_lo = 0, cum = 0;
  std::size_t bin_lo = est.size(), bin_hi = est.size() - 1;
  for (std::size_t b = 0; b < est.size(); ++b) {
    if (bin_lo == est.size() && cum + est[b] > rank_lo) {
      bin_lo = b;
      below_bin_lo = cum;
    }
    cum += est[b];
    if (cum >= rank_hi) {
      bin_hi = b;
      break;
    }
  }
  if (bin_lo == est.size()) bin_lo = bin_hi;  // rank_lo beyond the sample (k near n): gather from the top bins

  // The sampled keys of those bins in order, each with its weight.
  std::vector<std::pair<std::uint64_t, double>> near;
  begin = 0;
  for (const Part& p : parts_) {
    for (std::size_t i = begin; i < p.end; ++i) {
      const std::uint64_t bin = keys_[i] >> digit.shift;
      if (bin >= bin_lo && bin <= bin_hi) near.emplace_back(keys_[i], p.weight);
    }
    begin = p.end;
  }
  std::sort(near.begin(), near.end());
  KeyGather g;
  g.cap = cap;
  // lo: the largest sampled key whose estimated rank (keys below it) is at most rank_lo; hi: the
  // smallest whose estimated count of keys up to it is at least rank_hi.
  g.lo = rank_lo <= 0 ? 0 : static_cast<std::uint64_t>(bin_lo) << digit.shift;
  g.hi = max_key(width_);
  double below = below_bin_lo, est_lo = rank_lo <= 0 ? 0 : below_bin_lo, est_hi = static_cast<double>(n);
  bool hi_found = rank_hi >= static_cast<double>(n);
  for (std::size_t i = 0; i < near.size();) {
    std::size_t j = i;
    double weight = 0;
    for (; j < near.size() && near[j].first == near[i].first; ++j) weight += near[j].second;
    if (rank_lo > 0 && below <= rank_lo) {
      g.lo = near[i].first;
      est_lo = below;
    }
    below += weight;
    if (!hi_found && below >= rank_hi) {
      g.hi = near[i].first;
      est_hi = below;
      hi_found = true;
    }
    i = j;
  }
  if (!hi_found) g.hi = (static_cast<std::uint64_t>(bin_hi + 1) << digit.shift) - 1;  // cannot happen: bin_hi reaches rank_hi
  // A gather that would likely hold more than half the cap is not tried: the scan would carry
  // the keys only to drop them.
  if (est_hi - est_lo > static_cast<double>(cap) / 2) return std::nullopt;
  g.keys.reserve(static_cast<std::size_t>(std::min<double>(static_cast<double>(cap), 1.25 * (est_hi - est_lo) + 1024)));
  return g;
}

}  // namespace h5p
