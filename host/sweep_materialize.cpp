// Materialised sweeps: one PruneOptions per point, recorded through registry::record_prune.
#include "host/sweep_materialize.hpp"

#include "common/interrupt.hpp"
#include "formats/sha256.hpp"
#include "host/canonical_rule.hpp"
#include "host/rule_json.hpp"

namespace h5p {

registry::RecordOutcome record_point(const std::string& registry, const std::string& model, const PruneOptions& po,
                                     const registry::ToolInfo& tool, const std::vector<std::string>& command) {
  registry::RecordRequest r;
  r.registry = registry;
  r.model = model;
  r.prune = po;
  r.rule = rule_json(po);
  r.tool = tool;
  r.command = command;
  return registry::record_prune(r);
}

PruneOptions sweep_point_options(const SweepOptions& so, const std::string& value) {
  PruneOptions po;
  po.input = so.input;
  po.rule.mode = so.mode;
  if (so.mode == RuleMode::sparsity) {
    po.rule.sparsity = parse_decimal(value, "--sparsity");
    po.rule.scope = so.scope;
  } else {
    po.rule.threshold_text = value;
    po.rule.threshold = parse_threshold(value);
  }
  po.selection = so.selection;
  po.rules = so.rules;
  po.memory_limit = so.memory_limit;
  po.threads = so.threads;
  return po;
}

std::vector<std::string> sweep_point_keys(const SweepOptions& so, const std::string& tool_version) {
  const std::string input_sha = sha256_file(so.input);
  std::vector<std::string> keys;
  for (const auto& v : so.values)
    keys.push_back(idempotency_key(input_sha, canonical_rule_text(rule_json(sweep_point_options(so, v))), tool_version));
  return keys;
}

std::vector<MaterializedPoint> materialize_sweep(const MaterializeRequest& q, const MaterializeCallbacks& cb) {
  std::optional<RunMetrics> metrics;
  if (!q.metrics_dir.empty()) metrics = q.metrics;
  std::vector<MaterializedPoint> done;
  std::optional<registry::Layout> layout;
  std::size_t eval_failures = 0;
  try {
    for (const std::string& value : q.sweep.values) {
      check_interrupt();
      const PruneOptions po = sweep_point_options(q.sweep, value);
      MaterializedPoint point{value, record_point(q.registry, q.model, po, q.tool, q.command), std::nullopt};
      if (q.eval) {
        if (!layout) layout = registry::Layout::open(q.registry);
        EvalTarget t;
        t.file = point.outcome.blob_path;
        t.sha256 = point.outcome.manifest.output_sha256;
        t.input = q.sweep.input;
        t.model = q.model;
        t.version = point.outcome.version;
        t.rule_env = rule_env(po.rule);
        point.evaluation = evaluate_output(*q.eval, t, &*layout, &point.outcome.manifest);
        if (!point.evaluation->record.ok) ++eval_failures;
      }
      if (metrics) {
        if (q.sweep.mode == RuleMode::sparsity) metrics->requested_sparsity = po.rule.sparsity.approx();
        else metrics->threshold = po.rule.threshold;
        record_success(*metrics, point.outcome.result);
        metrics->registry_version = static_cast<std::uint64_t>(point.outcome.version);
        if (point.evaluation) metrics->eval = eval_metrics(*point.evaluation);
        if (eval_failures > 0) record_eval_failure(*metrics);
        metrics->end_time = unix_now();
        write_run_metrics(q.metrics_dir, *metrics);
      }
      if (cb.on_point) cb.on_point(point);
      done.push_back(std::move(point));
    }
  } catch (...) {
    if (metrics) {
      if (auto warning = write_failure_metrics(q.metrics_dir, *metrics, std::current_exception()))
        if (cb.on_warning) cb.on_warning("failure metrics not written: " + *warning);
    }
    throw;
  }
  return done;
}

}  // namespace h5p
