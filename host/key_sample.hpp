// A sample of a scope's magnitude keys, taken before its scan, that bounds where the scope's k-th
// smallest key lies: the scan then gathers the keys between the bounds (KeyGather) and the
// selection ends on them, with no second pass over the weights. A bound that misses costs that
// pass again (the selection checks, it never trusts the sample), never a different answer.
#pragma once
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "kernels/backend.hpp"

namespace h5p {

// One run of kSampleRun elements out of every stride * kSampleRun: a 1/256 sample (stride
// kSampleStride), read where it lies (a run of 1 KiB of float32 in every 256 KiB), and a sparser
// one for a scope so large that it would pass kMaxSampleKeys (32 MiB of keys).
inline constexpr std::size_t kSampleRun = 256;
inline constexpr std::size_t kSampleStride = 256;
inline constexpr std::size_t kMaxSampleKeys = std::size_t{4} << 20;

class KeySample {
 public:
  // A sample of a scope of scope_n keys in all.
  KeySample(KeyWidth w, std::uint64_t scope_n);

  // The runs a tensor of n elements is sampled at, (first element, count) in position order: one
  // run of kSampleRun in every stride * kSampleRun elements, or for a tensor shorter than that,
  // n / stride single elements spread over it (at least one).
  std::vector<std::pair<std::size_t, std::size_t>> runs(std::size_t n) const;

  // Adds the sample of a tensor of n elements of `dtype`: the values at runs(n), back to back.
  // Each sampled key stands for n / (keys sampled) keys of the tensor.
  void add(DType dtype, std::size_t n, const void* sampled);

  // Bounds [lo, hi] that hold the k-th smallest of the scope's n keys (every tensor added) with
  // near certainty: 8 standard deviations of the sample's rank error on each side, and as many
  // sampled keys' weights as the rounding of each tensor's sample adds (summed as errors that
  // are independent). `cap` is
  // the most keys a gather may hold: nullopt when the bounds would likely hold more than half
  // of it, or nothing was sampled.
  std::optional<KeyGather> bounds(std::uint64_t k, std::size_t cap) const;

  std::size_t size() const { return keys_.size(); }

 private:
  struct Part {
    std::size_t end;  // its keys are keys_[previous part's end, end)
    double weight;    // keys of the tensor each sampled key stands for
    std::uint64_t n;  // the tensor's keys
  };
  KeyWidth width_;
  std::size_t stride_;
  std::vector<std::uint64_t> keys_;
  std::vector<Part> parts_;
};

}  // namespace h5p
