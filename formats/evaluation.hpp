// An evaluation record: the result of running the user's evaluation command on one registry
// version (or on a model's unpruned input, its baseline). Schema "h5prune.evaluation/1",
// documented in docs/REGISTRY.md; records are immutable once written.
#pragma once
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace h5p {

inline constexpr const char* kEvaluationSchema = "h5prune.evaluation/1";

struct Evaluation {
  std::string id;                // the record's file name without ".json": sorts by time
  std::string model;
  std::optional<int> version;    // the evaluated version; nullopt for a baseline
  std::string sha256;            // the evaluated file (a version's output, or the baseline input)
  std::string command;           // as given, {output} not yet replaced
  bool ok = false;
  std::map<std::string, double> metrics;  // empty unless ok
  std::string failure;                    // "" when ok
  std::optional<int> exit_status;
  std::optional<int> signal;
  bool timed_out = false;
  double seconds = 0;           // the command's wall time
  std::string started;          // ISO 8601 UTC
  std::string host, user;
  std::optional<std::string> slurm_job_id, slurm_array_job_id, slurm_array_task_id;
  std::string tool_version;
};

nlohmann::json evaluation_to_json(const Evaluation& e);

// Checks every field's presence and type; RegistryError naming `where` otherwise.
Evaluation evaluation_from_json(const nlohmann::json& j, const std::string& where);

}  // namespace h5p
