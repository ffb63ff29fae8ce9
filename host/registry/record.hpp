// `prune --registry`: prune into the registry's staging area, store the output as a blob and
// publish it as the model's next version, or return the version that already holds the same
// input + rule + tool version without pruning again.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "formats/manifest.hpp"
#include "host/pipeline.hpp"

namespace h5p::registry {

struct ToolInfo {
  std::string version;
  std::string git;
  bool cuda = false;
};

struct RecordRequest {
  std::string registry;  // directory; created when missing
  std::string model;
  PruneOptions prune;    // prune.output and prune.force are ignored (the output goes to staging)
  nlohmann::json rule;   // the rule as `prune --json` prints it: recorded, and (canonical) keyed
  std::string copy_to;   // also place a copy here (-o), "" for none
  bool force = false;    // replace an existing copy_to
  ToolInfo tool;
  std::vector<std::string> command;
};

struct RecordOutcome {
  int version = 0;
  bool already = false;  // the same key was recorded before: that version is the answer
  bool pruned = false;   // this run pruned (a version found only afterwards: its output was dropped)
  Manifest manifest;
  PruneResult result;    // the run's result, or one rebuilt from the manifest when `already`
  std::string blob_path;
  // Set when the version existed but its blob was missing or damaged (what was wrong): the
  // input was pruned again and the identical output put back, so a requeue repairs the store.
  std::string repaired;
};

RecordOutcome record_prune(const RecordRequest& request);

// The per-tensor results of a manifest as a PruneResult (no timings), for summaries.
PruneResult result_from_manifest(const Manifest& m);

}  // namespace h5p::registry
