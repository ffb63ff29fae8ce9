// Per-tensor sweeps: pair i -> (tensor i / points, point i % points), each a prune with an
// exact-path include, recorded or in a scratch directory, then evaluated.
#include "host/sensitivity.hpp"

#include "common/errors.hpp"
#include "common/interrupt.hpp"
#include "formats/hdf5/file.hpp"
#include "host/input_check.hpp"
#include "host/pipeline.hpp"
#include "host/plan.hpp"
#include "host/scratch_dir.hpp"
#include "host/sweep_materialize.hpp"

namespace h5p {

std::string exact_path_regex(const std::string& path) {
  std::string r = "^";
  for (char c : path) {
    if (std::string("\\^$.|?*+()[]{}").find(c) != std::string::npos) r += '\\';
    r += c;
  }
  return r + "$";
}

std::vector<std::string> selected_tensors(const SweepOptions& so) {
  h5::Handle file = open_checked_input(so.input);
  std::vector<std::string> out;
  for (const PlannedTensor& t : make_plan(file, so.selection).tensors) out.push_back(t.path);
  if (out.empty()) throw InputError("no tensor selected in '" + so.input + "'");
  return out;
}

std::size_t sensitivity_pairs(const SweepOptions& so) { return selected_tensors(so).size() * so.values.size(); }

SensitivityResult run_sensitivity(const SensitivityRequest& q,
                                  const std::function<void(const SensitivityResult&, const SensitivityCell&)>& on_cell) {
  SensitivityResult out;
  out.tensors = selected_tensors(q.sweep);
  out.values = q.sweep.values;
  const std::size_t pairs = out.tensors.size() * out.values.size();
  if (q.only_pair && *q.only_pair >= pairs)
    throw UsageError("array task index " + std::to_string(*q.only_pair) + " is beyond the " + std::to_string(pairs) +
                     " (tensor, point) pairs of this per-tensor sweep");
  std::optional<registry::Layout> layout;
  if (!q.registry.empty()) layout = registry::Layout::create(q.registry);
  for (std::size_t i = 0; i < pairs; ++i) {
    if (q.only_pair && i != *q.only_pair) continue;
    check_interrupt();
    SensitivityCell c;
    c.tensor = i / out.values.size();
    c.point = i % out.values.size();
    PruneOptions po = sweep_point_options(q.sweep, out.values[c.point]);
    po.selection.include = exact_path_regex(out.tensors[c.tensor]);
    EvalTarget t;
    t.input = q.sweep.input;
    t.model = q.model;
    t.rule_env = rule_env(po.rule);
    t.rule_env.push_back({"H5PRUNE_TENSOR", out.tensors[c.tensor]});
    if (layout) {
      const registry::RecordOutcome rec = record_point(q.registry, q.model, po, q.tool, q.command);
      c.version = rec.version;
      c.sha256 = rec.manifest.output_sha256;
      c.achieved = rec.result.total.sparsity();
      t.file = rec.blob_path;
      t.sha256 = c.sha256;
      t.version = rec.version;
      const EvaluatedOutput e = evaluate_output(q.eval, t, &*layout, &rec.manifest);
      c.evaluation = e.record;
      c.reused = rec.already && e.reused;
    } else {
      ScratchDir scratch("sensitivity");
      po.output = scratch.path() + "/cell.h5";
      const PruneResult r = run_prune(po);
      c.sha256 = r.output_sha256;
      c.achieved = r.total.sparsity();
      t.file = po.output;
      t.sha256 = c.sha256;
      c.evaluation = evaluate(q.eval, t, nullptr);
    }
    out.cells.push_back(c);
    if (on_cell) on_cell(out, out.cells.back());
  }
  return out;
}

}  // namespace h5p
