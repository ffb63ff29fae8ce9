// How far a long run has got, counted in weight bytes over the passes it plans: prune and sweep
// feed it from every slab the tensor reader hands out; tools/progress draws it.
#pragma once
#include <cstdint>
#include <algorithm>
#include <functional>
#include <string>

namespace h5p {

struct Progress {
  std::string pass;               // what the current pass does: "scan", "select 2/2", "ties", "write", ...
  std::string tensor;             // the tensor it is at
  std::uint64_t done_bytes = 0;   // of the counted passes, done so far (never above total_bytes)
  std::uint64_t total_bytes = 0;  // weight bytes times the passes planned for them
};

using ProgressSink = std::function<void(const Progress&)>;

// Counts bytes into the planned total. A pass that the plan could not foresee (tie counting,
// a sparse layout's extra compaction passes) is named but not counted, so the fraction never
// goes back.
class ProgressMeter {
 public:
  explicit ProgressMeter(ProgressSink sink = nullptr) : sink_(std::move(sink)) {}
  void plan(std::uint64_t total_bytes) { p_ = Progress{"", "", 0, total_bytes}; }
  // Passes the plan held that the run found it did not need: their bytes leave the total (the
  // fraction done only grows).
  void unplan(std::uint64_t bytes) { p_.total_bytes = std::max(p_.done_bytes, p_.total_bytes - std::min(bytes, p_.total_bytes)); }
  void pass(std::string name, bool counted) {
    p_.pass = std::move(name);
    counted_ = counted;
  }
  // After each slab: `bytes` of `tensor` went through the current pass.
  void advance(const std::string& tensor, std::uint64_t bytes) {
    if (counted_) p_.done_bytes = std::min(p_.total_bytes, p_.done_bytes + bytes);
    if (!sink_) return;
    p_.tensor = tensor;
    sink_(p_);
  }

 private:
  ProgressSink sink_;
  Progress p_;
  bool counted_ = true;
};

}  // namespace h5p
