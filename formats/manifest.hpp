// A registry version's manifest: the record of one published output (schema
// "h5prune.manifest/1", documented in docs/REGISTRY.md), and its JSON read/write.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "formats/prune_record.hpp"

namespace h5p {

inline constexpr const char* kManifestSchema = "h5prune.manifest/1";

struct Manifest {
  std::string model;
  int version = 0;
  std::string key;         // idempotency key: sha256(input sha256, canonical rule, tool version)
  std::string publish_id;  // the staging name of the process that published it
  std::string created;     // ISO 8601 UTC, run start
  std::string finished;    // ISO 8601 UTC, publish time
  std::string output_sha256;
  std::uint64_t output_bytes = 0;
  std::string parent_sha256;
  std::uint64_t parent_bytes = 0;
  std::string parent_path;                 // the input path as given
  std::optional<std::string> parent_model;  // when the input is itself a registry blob
  std::optional<int> parent_version;
  nlohmann::json rule;  // as `prune --json` prints it
  std::vector<TensorResult> tensors;  // bytes_before/after, stored and break_even are not recorded
  PruneTotals total;
  std::string tool_version;
  std::string tool_git;
  bool tool_cuda = false;
  std::string backend;
  std::string device;
  int threads = 0;
  std::string host;
  std::string user;
  std::optional<std::string> slurm_job_id, slurm_array_job_id, slurm_array_task_id;
  std::vector<std::string> command;
};

nlohmann::json manifest_to_json(const Manifest& m);

// A structured tensor's slices (norm, axis, slices, and unless planned only: removed, kept), as
// the manifest and `prune --json` both record them; null for a tensor not pruned structured.
nlohmann::json structured_json(const TensorResult& t, bool planned_only = false);

// A double as manifests write it: a number, or "Infinity", "-Infinity", "NaN" (JSON has none).
nlohmann::json json_number(double v);

// Validates every field's presence and type; `where` (a file path) names the manifest in the
// RegistryError thrown on damage.
Manifest manifest_from_json(const nlohmann::json& j, const std::string& where);

// Parses and validates a manifest's text; `path` names it in the RegistryError thrown on damage.
Manifest manifest_from_text(const std::string& text, const std::string& path);

// Reads and validates a manifest file; RegistryError when missing, unreadable or damaged.
Manifest read_manifest_file(const std::string& path);

// The manifest as written to disk: pretty-printed JSON with a trailing newline.
std::string manifest_text(const Manifest& m);

}  // namespace h5p
