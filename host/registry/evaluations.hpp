// Evaluation records in the registry: immutable files beside the versions they evaluate,
// models/NAME/evaluations/N/ID.json, and the model's baselines (its unpruned inputs),
// models/NAME/baselines/SHA256/ID.json. Each is written whole (temporary + link), never changed.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "formats/evaluation.hpp"
#include "formats/manifest.hpp"
#include "host/registry/layout.hpp"

namespace h5p::registry {

std::string evaluations_dir(const Layout& l, const std::string& model, int version);
std::string baselines_dir(const Layout& l, const std::string& model, const std::string& input_sha256);

// Gives `e` a fresh id (UTC time + unique token, so names sort by time) and writes it under
// its version (e.version set) or as a baseline of e.sha256. Returns the file's path.
std::string record_evaluation(const Layout& l, Evaluation& e);

// A version's records, oldest first (empty when none). RegistryError on a damaged record.
std::vector<Evaluation> list_evaluations(const Layout& l, const std::string& model, int version);

// The baseline records of one input of a model, oldest first.
std::vector<Evaluation> list_baselines(const Layout& l, const std::string& model, const std::string& input_sha256);

// Every record directory of a model: evaluations/N (one per evaluated version, retired ones
// included) and baselines/SHA256 (one per evaluated input). For verify and gc.
std::vector<std::string> record_dirs(const Layout& l, const std::string& model);

// One record read and checked (valid JSON, every field typed, id equal to its file name);
// RegistryError naming the file when damaged.
Evaluation read_record(const Layout& l, const std::string& path);

// True for the temporary a record writer makes (".ID.json.tmp.TOKEN"): a killed writer's leftover.
bool is_record_temporary(const std::string& name);

// The newest record (the newest successful one when ok_only).
std::optional<Evaluation> newest(const std::vector<Evaluation>& records, bool ok_only);

// A version's baseline: the newest successful baseline record of its input (parent sha256).
std::optional<Evaluation> baseline_of(const Layout& l, const Manifest& m);

}  // namespace h5p::registry
