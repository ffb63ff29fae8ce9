// `sweep`: the per-tensor outcome of many sparsities or thresholds from one analysis.
// Every point equals what `prune` does at that point (same K, same counts, same ties).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "host/group_rules.hpp"
#include "host/plan.hpp"
#include "host/rule.hpp"

namespace h5p {

struct SweepOptions {
  std::string input;
  RuleMode mode = RuleMode::sparsity;
  Scope scope = Scope::tensor;
  std::vector<std::string> values;  // decimal texts, as expanded
  Selection selection;
  std::vector<GroupRule> rules;  // fixed group rules: the swept value applies to the tensors none matches
  std::uint64_t memory_limit = 512ull << 20;
  int threads = 0;
};

struct SweepTensor {
  std::string path;
  DType dtype;
  std::vector<hsize_t> shape;
  std::uint64_t n = 0;
  std::uint64_t zeros = 0;
  double sum_sq = 0;
};

struct SweepCell {  // one tensor at one point
  std::uint64_t pruned = 0;
  double threshold = 0;  // boundary K as a float64 (T itself with --threshold)
  std::uint64_t ties = 0;
  std::uint64_t ties_pruned = 0;
  double sum_sq_after = 0;
};

struct SweepResult {
  RuleMode mode;
  Scope scope;
  std::vector<std::string> values;
  std::vector<SweepTensor> tensors;          // path order: the swept tensors (no group rule matches)
  std::vector<std::pair<std::string, std::string>> fixed;  // (path, rule spec) of tensors a group rule holds
  std::vector<std::string> warnings;         // one line each (a group rule that takes no tensor)
  std::vector<std::vector<SweepCell>> cells;  // [point][tensor]
  std::string backend, device;
  std::uint64_t bytes_read = 0;
  double read_seconds = 0, compute_seconds = 0, total_seconds = 0;
  std::uint64_t total_n() const;
  std::uint64_t pruned(std::size_t point) const;
  double retained_l2(std::size_t point) const;
};

// Validates the values for the mode (sparsity in [0,1], threshold >= 0); UsageError otherwise.
void validate_sweep_values(RuleMode mode, const std::vector<std::string>& values);

SweepResult run_sweep(const SweepOptions& options);

}  // namespace h5p
