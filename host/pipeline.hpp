// `prune`: plan -> analyse (histograms) -> faithful copy with the pruned tensors written
// in slabs -> atomic publish. Memory for weights stays under the memory limit.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "formats/prune_record.hpp"
#include "formats/sparse/layout.hpp"
#include "host/group_rules.hpp"
#include "host/plan.hpp"
#include "host/progress.hpp"
#include "host/rule.hpp"
#include "host/tensor_reader.hpp"

namespace h5p {

constexpr std::uint64_t kDefaultMemoryLimit = 512ull << 20;

// A global scope whose tensors' RMS magnitudes differ by this factor or more gets a warning:
// global magnitude pruning would take the small-scale tensors first (the real models we test
// stay under 15; optimizer state beside weights is over 1000).
constexpr double kGlobalScaleWarnRatio = 100.0;

struct PruneOptions {
  std::string input;
  std::string output;
  Rule rule;                        // the command line's rule: tensors no group rule matches
  bool has_base_rule = true;        // false: only --rule/--rules were given
  std::vector<GroupRule> rules;     // --rule/--rules, first match wins
  Selection selection;
  std::uint64_t memory_limit = kDefaultMemoryLimit;  // the CLI's default is auto (host/memory_budget)
  std::string memory_limit_source;                   // how an auto limit was found ("" when given)
  int threads = 0;  // 0: all cores
  std::string backend = "auto";          // auto | cpu | cuda
  std::uint64_t device_memory_limit = 0;  // --device-memory-limit; 0: half of the device's free memory
  bool force = false;
  bool dry_run = false;
  // SHA-256 of input and output: needed for lineage (--registry) and the --json summary
  // (which users compare with sha256sum); a plain run skips both (docs/CLI.md "Hashes").
  bool hash = true;
  sparse::Format format = sparse::Format::dense;  // --format: selected tensors' output layout
  bool compress = false;                           // --compress: shuffle + deflate on sparse datasets
  std::uint64_t index_limit32 = sparse::kNoLimit;  // test hook: largest value a 32-bit index holds
  ProgressSink on_progress;  // after every slab of every pass (host/progress.hpp)
  std::function<void(const std::string&)> on_note;  // one-line notices (e.g. backend fallback)
};

struct StageSeconds {
  double read = 0, compute = 0, write = 0, total = 0;
  double publish = 0;  // output hash and move into place (and registry publish, when used)
};

struct PruneResult {
  std::vector<TensorResult> tensors;  // path order
  PruneTotals total;
  std::uint64_t input_bytes = 0;
  std::string input_sha256;
  std::string output_sha256;
  std::uint64_t output_bytes = 0;
  std::uint64_t bytes_read = 0;     // weight bytes read from the input, all passes
  std::uint64_t bytes_mapped = 0;   // of those, used in place from the input's pages (no copy)
  std::uint64_t bytes_written = 0;  // weight bytes written
  // Weight bytes gone over again after the scans to find thresholds (further radix digits, the
  // threshold's bin gathered, ties counted): 0 when the keys gathered by the scans sufficed.
  std::uint64_t selection_bytes = 0;
  std::string backend;
  std::string device;
  std::string backend_note;  // why auto did not use the GPU ("" when it did, or was not asked)
  int threads = 0;
  bool streamed = false;  // weights did not fit the memory limit and were re-read
  std::vector<std::string> warnings;  // one line each (e.g. a global scope mixing magnitude scales)
  struct Skipped {
    std::string path;
    std::string reason;
  };
  std::vector<Skipped> skipped;  // selected tensors left unpruned on purpose (--nm-skip-unfit)
  StageSeconds seconds;
};

PruneResult run_prune(const PruneOptions& options);

}  // namespace h5p
