// From a written output to an evaluation record: densify when needed, run, record.
#include "host/eval/evaluate.hpp"

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "common/errors.hpp"
#include "formats/sha256.hpp"
#include "host/densify.hpp"
#include "host/scratch_dir.hpp"
#include "host/registry/evaluations.hpp"
#include "host/registry/fs_ops.hpp"

namespace h5p {

namespace {

std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  return std::string(v);
}

}  // namespace

Evaluation evaluate(const EvalSettings& s, const EvalTarget& t, const registry::Layout* registry) {
  std::optional<ScratchDir> temp;
  std::string file = t.file;
  if (t.format != sparse::Format::dense) {
    temp.emplace("eval");
    DensifyOptions d;
    d.input = t.file;
    d.output = temp->path() + "/dense.h5";
    run_densify(d);
    file = d.output;
  }
  EvalRequest q;
  q.command = s.command;
  q.output = file;
  q.timeout_seconds = s.timeout_seconds;
  q.on_line = s.on_line;
  q.env = {{"H5PRUNE_OUTPUT", file}, {"H5PRUNE_INPUT", t.input}, {"H5PRUNE_MODEL", t.model}};
  if (t.version) q.env.push_back({"H5PRUNE_VERSION", std::to_string(*t.version)});
  q.env.insert(q.env.end(), t.rule_env.begin(), t.rule_env.end());
  const EvalRun run = run_eval_command(q);

  Evaluation e;
  e.model = t.model;
  e.version = t.baseline ? std::nullopt : t.version;
  e.sha256 = t.sha256;
  e.command = s.command;
  e.ok = run.ok;
  e.metrics = run.metrics;
  e.failure = run.failure;
  e.exit_status = run.exit_status;
  e.signal = run.signal;
  e.timed_out = run.timed_out;
  e.seconds = run.seconds;
  e.started = registry::iso8601_utc(run.started);
  e.host = registry::host_name();
  e.user = registry::user_name();
  e.slurm_job_id = env("SLURM_JOB_ID");
  e.slurm_array_job_id = env("SLURM_ARRAY_JOB_ID");
  e.slurm_array_task_id = env("SLURM_ARRAY_TASK_ID");
  e.tool_version = s.tool_version;
  if (registry && (t.baseline || t.version)) registry::record_evaluation(*registry, e);
  return e;
}

EvaluatedOutput evaluate_baseline(const EvalSettings& s, const std::string& input, const std::string& model,
                                  const registry::Layout* registry) {
  EvalTarget base;
  base.file = input;
  base.input = input;
  base.sha256 = sha256_file(input);
  base.model = model;
  base.baseline = true;
  EvaluatedOutput out;
  if (registry)
    for (const Evaluation& e : registry::list_baselines(*registry, model, base.sha256))
      if (e.ok && e.command == s.command) out.record = e, out.reused = true;
  if (!out.reused) out.record = evaluate(s, base, registry);
  return out;
}

EvaluatedOutput evaluate_output(const EvalSettings& s, const EvalTarget& t, const registry::Layout* registry,
                                const Manifest* manifest) {
  EvaluatedOutput out;
  if (registry && manifest && t.version) {
    for (const Evaluation& e : registry::list_evaluations(*registry, t.model, *t.version))
      if (e.ok && e.command == s.command) {
        out.record = e;
        out.reused = true;
      }
  }
  if (!out.reused) out.record = evaluate(s, t, registry);
  if (registry && manifest) out.baseline = registry::baseline_of(*registry, *manifest);
  return out;
}

RunMetrics::Eval eval_metrics(const EvaluatedOutput& e) {
  RunMetrics::Eval m;
  m.ok = e.record.ok;
  m.seconds = e.record.seconds;
  m.values = e.record.metrics;
  if (e.baseline) m.baseline = e.baseline->metrics;
  return m;
}

void record_evaluation(RunMetrics& m, const EvaluatedOutput& e, std::optional<int> version) {
  m.eval = eval_metrics(e);
  if (version) m.registry_version = static_cast<std::uint64_t>(*version);
  m.success = e.record.ok;
  if (e.record.ok) m.failure = {FailureReason::none, 0};
  else record_eval_failure(m);
}

EvalTarget version_target(const registry::Layout& l, const Manifest& m) {
  EvalTarget t;
  t.file = l.blob_path(m.output_sha256);
  const auto format = sparse::parse_format(m.rule.value("format", "dense"));
  t.format = format ? *format : sparse::Format::dense;
  t.sha256 = m.output_sha256;
  t.input = m.parent_path;
  t.model = m.model;
  t.version = m.version;
  const std::string mode = m.rule.value("mode", "");
  if (mode == "sparsity" && m.rule.contains("sparsity") && m.rule["sparsity"].is_string())
    t.rule_env = {{"H5PRUNE_SPARSITY", m.rule["sparsity"].get<std::string>()}};
  else if (mode == "threshold" && m.rule.contains("threshold") && m.rule["threshold"].is_number()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", m.rule["threshold"].get<double>());
    t.rule_env = {{"H5PRUNE_THRESHOLD", buf}};
  } else if (mode == "nm" && m.rule.contains("nm") && m.rule["nm"].is_string())
    t.rule_env = {{"H5PRUNE_NM", m.rule["nm"].get<std::string>()}};
  return t;
}

std::vector<std::pair<std::string, std::string>> rule_env(const Rule& r) {
  if (r.mode == RuleMode::sparsity) return {{"H5PRUNE_SPARSITY", r.sparsity.text}};
  if (r.mode == RuleMode::threshold) return {{"H5PRUNE_THRESHOLD", r.threshold_text}};
  return {{"H5PRUNE_NM", std::to_string(r.nm_keep) + ":" + std::to_string(r.nm_group)}};
}

std::string eval_failure_message(const Evaluation& e, const std::string& what) {
  return "evaluation of " + what + " failed: " + e.failure;
}

}  // namespace h5p
