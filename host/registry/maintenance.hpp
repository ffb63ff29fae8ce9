// Registry upkeep: verify (re-hash blobs, check manifests and aliases) and gc (retention, then
// remove unreferenced blobs and abandoned staging older than a grace period).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "host/registry/layout.hpp"
#include "host/registry/retire.hpp"

namespace h5p::registry {

struct Finding {
  std::string path;
  std::string what;
};

struct VerifyReport {
  int models = 0;
  int versions = 0;
  int aliases = 0;
  int blobs = 0;                   // blobs re-hashed
  int evaluations = 0;             // evaluation and baseline records read
  std::uint64_t bytes_hashed = 0;
  std::vector<Finding> damage;     // exit 6 when not empty
  std::vector<Finding> leftovers;  // not damage: what gc would collect
};

// Checks one model (its manifests, aliases, evaluation records and blobs) or, without a model, the whole registry
// including blobs no manifest refers to.
VerifyReport verify_registry(const Layout& l, const std::optional<std::string>& model);

struct GcReport {
  std::vector<Finding> retired;  // NAME@N retired by the retention policy (or would be)
  std::vector<Finding> removed;  // or, with dry_run, what would be
  std::vector<Finding> kept;     // unreferenced but younger than the grace period
  std::vector<Finding> left_alone;  // links, FIFOs, devices: never followed or removed
  std::uint64_t bytes = 0;
  bool blobs_skipped = false;    // a manifest could not be read: no blob was considered garbage
};

// Retires the versions `policy` names (retire.hpp; never one an alias points at), then removes
// abandoned staging, temporaries and unreferenced blobs older than the grace period.
GcReport collect_garbage(const Layout& l, double grace_seconds, bool dry_run, const RetentionPolicy& policy = {});

}  // namespace h5p::registry
