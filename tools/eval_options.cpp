// The evaluation options and their printing, one definition for every command that evaluates.
#include "tools/eval_options.hpp"

#include <cstdio>

#include "common/errors.hpp"
#include "host/registry/fs_ops.hpp"
#include "tools/format.hpp"
#include "tools/version.hpp"

namespace po = boost::program_options;
using nlohmann::json;

namespace h5p::cli {

void add_eval_options(po::options_description& o) {
  o.add_options()
      ("eval", po::value<std::string>(), "evaluate each output with this shell command ({output}: the file's quoted path); its last stdout line is {\"metric\": number, ...} (docs/EVAL.md)")
      ("eval-timeout", po::value<std::string>(), "end an evaluation that runs longer than this (90s, 15m, 2h; default: none); a timeout is an evaluation failure (exit 8)");
}

std::optional<EvalSettings> eval_settings(const po::variables_map& vm) {
  if (!vm.count("eval")) {
    if (vm.count("eval-timeout")) throw UsageError("--eval-timeout applies to --eval");
    return std::nullopt;
  }
  EvalSettings s;
  s.command = vm["eval"].as<std::string>();
  if (s.command.find_first_not_of(" \t") == std::string::npos)
    throw UsageError("invalid value '' for --eval: expected a shell command");
  if (vm.count("eval-timeout")) {
    s.timeout_seconds = registry::parse_duration(vm["eval-timeout"].as<std::string>(), "--eval-timeout");
    if (*s.timeout_seconds <= 0) throw UsageError("--eval-timeout must be more than 0");
  }
  s.tool_version = std::string(H5PRUNE_VERSION) + "+" + H5PRUNE_GIT_REVISION;
  s.on_line = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
  return s;
}

json evaluation_json(const Evaluation& e, const std::optional<Evaluation>& baseline) {
  const auto opt_int = [](const std::optional<int>& v) { return v ? json(*v) : json(nullptr); };
  json j = {{"ok", e.ok},
            {"metrics", e.metrics},
            {"failure", e.ok ? json(nullptr) : json(e.failure)},
            {"exit_status", opt_int(e.exit_status)},
            {"signal", opt_int(e.signal)},
            {"timed_out", e.timed_out},
            {"seconds", e.seconds},
            {"id", e.id.empty() ? json(nullptr) : json(e.id)},
            {"baseline", nullptr},
            {"drop", nullptr}};
  if (baseline) {
    j["baseline"] = baseline->metrics;
    json drop = json::object();
    for (const auto& [k, v] : e.metrics)
      if (baseline->metrics.count(k)) drop[k] = baseline->metrics.at(k) - v;
    j["drop"] = drop;
  }
  return j;
}

std::string evaluation_text(const Evaluation& e, const std::optional<Evaluation>& baseline) {
  if (!e.ok) return "failed: " + e.failure;
  std::string s;
  for (const auto& [k, v] : e.metrics) {
    if (!s.empty()) s += ", ";
    s += k + " " + fmt("%.6g", v);
    if (baseline && baseline->metrics.count(k))
      s += " (baseline " + fmt("%.6g", baseline->metrics.at(k)) + ", drop " + fmt("%.6g", baseline->metrics.at(k) - v) + ")";
  }
  return s;
}

}  // namespace h5p::cli
