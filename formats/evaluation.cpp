// Evaluation record JSON: written field by field, every field checked when read back.
#include "formats/evaluation.hpp"

#include <cmath>

#include "common/errors.hpp"

namespace h5p {
using nlohmann::json;

namespace {

json opt_string(const std::optional<std::string>& s) { return s ? json(*s) : json(nullptr); }
json opt_int(const std::optional<int>& v) { return v ? json(*v) : json(nullptr); }

[[noreturn]] void damaged(const std::string& where, const std::string& what) {
  throw RegistryError("damaged evaluation record '" + where + "': " + what);
}

const json& need(const json& j, const char* name, const std::string& where) {
  if (!j.is_object() || !j.contains(name)) damaged(where, std::string("missing field '") + name + "'");
  return j.at(name);
}

std::string str(const json& j, const char* name, const std::string& where) {
  const json& v = need(j, name, where);
  if (!v.is_string()) damaged(where, std::string("field '") + name + "' is not a string");
  return v.get<std::string>();
}

std::optional<int> opt_int_field(const json& j, const char* name, const std::string& where) {
  const json& v = need(j, name, where);
  if (v.is_null()) return std::nullopt;
  if (!v.is_number_integer()) damaged(where, std::string("field '") + name + "' is not an integer");
  return v.get<int>();
}

std::optional<std::string> opt_str(const json& j, const char* name, const std::string& where) {
  const json& v = need(j, name, where);
  if (v.is_null()) return std::nullopt;
  if (!v.is_string()) damaged(where, std::string("field '") + name + "' is not a string");
  return v.get<std::string>();
}

}  // namespace

json evaluation_to_json(const Evaluation& e) {
  json metrics = json::object();
  for (const auto& [k, v] : e.metrics) metrics[k] = v;
  return {{"schema", kEvaluationSchema},
          {"id", e.id},
          {"model", e.model},
          {"version", opt_int(e.version)},
          {"sha256", e.sha256},
          {"command", e.command},
          {"ok", e.ok},
          {"metrics", metrics},
          {"failure", e.ok ? json(nullptr) : json(e.failure)},
          {"exit_status", opt_int(e.exit_status)},
          {"signal", opt_int(e.signal)},
          {"timed_out", e.timed_out},
          {"seconds", e.seconds},
          {"started", e.started},
          {"host", e.host},
          {"user", e.user},
          {"slurm",
           {{"job_id", opt_string(e.slurm_job_id)},
            {"array_job_id", opt_string(e.slurm_array_job_id)},
            {"array_task_id", opt_string(e.slurm_array_task_id)}}},
          {"tool", {{"version", e.tool_version}}}};
}

Evaluation evaluation_from_json(const json& j, const std::string& where) {
  if (!j.is_object()) damaged(where, "not a JSON object");
  if (str(j, "schema", where) != kEvaluationSchema) damaged(where, "unknown schema");
  Evaluation e;
  e.id = str(j, "id", where);
  e.model = str(j, "model", where);
  e.version = opt_int_field(j, "version", where);
  e.sha256 = str(j, "sha256", where);
  if (e.sha256.size() != 64 || e.sha256.find_first_not_of("0123456789abcdef") != std::string::npos)
    damaged(where, "sha256 is not a sha256");
  e.command = str(j, "command", where);
  const json& ok = need(j, "ok", where);
  if (!ok.is_boolean()) damaged(where, "field 'ok' is not a boolean");
  e.ok = ok.get<bool>();
  const json& metrics = need(j, "metrics", where);
  if (!metrics.is_object()) damaged(where, "field 'metrics' is not an object");
  for (const auto& [k, v] : metrics.items()) {
    if (!v.is_number() || !std::isfinite(v.get<double>())) damaged(where, "metric '" + k + "' is not a finite number");
    e.metrics[k] = v.get<double>();
  }
  if (e.ok && e.metrics.empty()) damaged(where, "a successful evaluation without metrics");
  if (!e.ok) {
    const auto f = opt_str(j, "failure", where);
    if (!f) damaged(where, "a failed evaluation without 'failure'");
    e.failure = *f;
  }
  e.exit_status = opt_int_field(j, "exit_status", where);
  e.signal = opt_int_field(j, "signal", where);
  const json& t = need(j, "timed_out", where);
  if (!t.is_boolean()) damaged(where, "field 'timed_out' is not a boolean");
  e.timed_out = t.get<bool>();
  const json& s = need(j, "seconds", where);
  if (!s.is_number()) damaged(where, "field 'seconds' is not a number");
  e.seconds = s.get<double>();
  e.started = str(j, "started", where);
  e.host = str(j, "host", where);
  e.user = str(j, "user", where);
  const json& slurm = need(j, "slurm", where);
  e.slurm_job_id = opt_str(slurm, "job_id", where);
  e.slurm_array_job_id = opt_str(slurm, "array_job_id", where);
  e.slurm_array_task_id = opt_str(slurm, "array_task_id", where);
  e.tool_version = str(need(j, "tool", where), "version", where);
  return e;
}

}  // namespace h5p
