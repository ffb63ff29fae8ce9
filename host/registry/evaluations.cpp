// Writing and listing evaluation records through the registry's atomic file primitives.
#include "host/registry/evaluations.hpp"

#include <algorithm>

#include "common/errors.hpp"
#include "host/registry/fs_ops.hpp"

namespace h5p::registry {

namespace {

// "2026-11-29T10:31:49.766Z" -> "20261129T103149.766Z": sortable and free of ':'.
std::string compact_time(const std::string& iso) {
  std::string out;
  for (char c : iso)
    if (c != '-' && c != ':') out += c;
  return out;
}

// nullopt when the record vanished between listing and reading.
std::optional<Evaluation> read_record_if_present(const Layout& l, const std::string& path) {
  const std::optional<std::string> text = read_small_file(l, path);
  if (!text) return std::nullopt;
  const nlohmann::json j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw RegistryError("damaged evaluation record '" + path + "': not valid JSON");
  Evaluation e = evaluation_from_json(j, path);
  const std::string name = path.substr(path.rfind('/') + 1);
  if (e.id + ".json" != name) throw RegistryError("damaged evaluation record '" + path + "': id does not match its name");
  return e;
}

bool is_record_file(const std::string& name) {
  return name.size() > 5 && name[0] != '.' && name.compare(name.size() - 5, 5, ".json") == 0;
}

std::vector<Evaluation> read_records(const Layout& l, const std::string& dir) {
  std::vector<std::string> names = list_dir(l, dir);
  std::sort(names.begin(), names.end());
  std::vector<Evaluation> out;
  for (const std::string& name : names) {
    if (!is_record_file(name)) continue;  // temporaries
    if (const std::optional<Evaluation> e = read_record_if_present(l, dir + "/" + name)) out.push_back(*e);
  }
  return out;
}

}  // namespace

std::string evaluations_dir(const Layout& l, const std::string& model, int version) {
  return l.model_dir(model) + "/evaluations/" + std::to_string(version);
}

std::string baselines_dir(const Layout& l, const std::string& model, const std::string& input_sha256) {
  return l.model_dir(model) + "/baselines/" + input_sha256;
}

std::string record_evaluation(const Layout& l, Evaluation& e) {
  check_model_name(e.model);
  if (e.sha256.size() != 64 || e.sha256.find_first_not_of("0123456789abcdef") != std::string::npos)
    throw RegistryError("evaluation of '" + e.model + "' has no sha256 of the evaluated file");
  make_dir(l, l.model_dir(e.model));
  const std::string kind = l.model_dir(e.model) + (e.version ? "/evaluations" : "/baselines");
  make_dir(l, kind);
  const std::string dir = e.version ? evaluations_dir(l, e.model, *e.version) : baselines_dir(l, e.model, e.sha256);
  make_dir(l, dir);
  e.id = compact_time(e.started.empty() ? iso8601_utc(now_seconds()) : e.started) + "-" + unique_token();
  const std::string path = dir + "/" + e.id + ".json";
  if (!write_file_atomic(l, path, evaluation_to_json(e).dump(2) + "\n", /*replace=*/false, 0444))
    throw RegistryError("evaluation record '" + path + "' exists already");
  return path;
}

std::vector<Evaluation> list_evaluations(const Layout& l, const std::string& model, int version) {
  return read_records(l, evaluations_dir(l, model, version));
}

std::vector<Evaluation> list_baselines(const Layout& l, const std::string& model, const std::string& input_sha256) {
  return read_records(l, baselines_dir(l, model, input_sha256));
}

std::vector<std::string> record_dirs(const Layout& l, const std::string& model) {
  std::vector<std::string> out;
  for (const char* kind : {"/evaluations", "/baselines"}) {
    const std::string parent = l.model_dir(model) + kind;
    std::vector<std::string> names = list_dir(l, parent);
    std::sort(names.begin(), names.end());
    for (const std::string& n : names) out.push_back(parent + "/" + n);
  }
  return out;
}

Evaluation read_record(const Layout& l, const std::string& path) {
  const std::optional<Evaluation> e = read_record_if_present(l, path);
  if (!e) throw RegistryError("evaluation record '" + path + "' vanished while it was read");
  return *e;
}

bool is_record_temporary(const std::string& name) {
  return name.size() > 1 && name[0] == '.' && name.find(".json.tmp.") != std::string::npos;
}

std::optional<Evaluation> newest(const std::vector<Evaluation>& records, bool ok_only) {
  for (auto it = records.rbegin(); it != records.rend(); ++it)
    if (!ok_only || it->ok) return *it;
  return std::nullopt;
}

std::optional<Evaluation> baseline_of(const Layout& l, const Manifest& m) {
  return newest(list_baselines(l, m.model, m.parent_sha256), /*ok_only=*/true);
}

}  // namespace h5p::registry
