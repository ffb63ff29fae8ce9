// Bisection over a decimal sparsity grid; each probe is prune (+ record) then evaluate.
#include "host/search.hpp"

#include <algorithm>
#include <cstdint>

#include "common/errors.hpp"
#include "common/interrupt.hpp"
#include "host/pipeline.hpp"
#include "host/registry/evaluations.hpp"
#include "host/scratch_dir.hpp"
#include "host/sweep_materialize.hpp"

namespace h5p {

namespace {

constexpr int kMaxScale = 15;  // 10^15 < 2^63: grid arithmetic in exact integers

std::int64_t scaled(const Decimal& d, int scale) {
  std::int64_t v = 0;
  for (char c : d.digits) v = v * 10 + (c - '0');
  for (int i = d.scale; i < scale; ++i) v *= 10;
  return v;
}

// v / 10^scale as the shortest exact decimal ("0.85", "1", "0").
std::string decimal_text(std::int64_t v, int scale) {
  std::string digits = std::to_string(v);
  if (static_cast<int>(digits.size()) <= scale) digits.insert(0, static_cast<std::size_t>(scale) + 1 - digits.size(), '0');
  std::string out = digits.substr(0, digits.size() - static_cast<std::size_t>(scale));
  std::string frac = digits.substr(digits.size() - static_cast<std::size_t>(scale));
  while (!frac.empty() && frac.back() == '0') frac.pop_back();
  return frac.empty() ? out : out + "." + frac;
}

bool has_metric(const Evaluation& e, const std::string& metric) { return e.ok && e.metrics.count(metric) > 0; }

}  // namespace

std::vector<std::string> search_grid(const std::string& low, const std::string& high, const std::string& resolution) {
  const Decimal lo = parse_decimal(low, "--sparsity-range"), hi = parse_decimal(high, "--sparsity-range");
  const Decimal r = parse_decimal(resolution, "--resolution");
  if (lo.above_one() || hi.above_one()) throw UsageError("--sparsity-range must lie within 0:1");
  const int scale = std::max({lo.scale, hi.scale, r.scale});
  if (scale > kMaxScale) throw UsageError("--sparsity-range and --resolution: at most 15 decimal places");
  const std::int64_t a = scaled(lo, scale), b = scaled(hi, scale), step = scaled(r, scale);
  if (step <= 0) throw UsageError("invalid value '" + resolution + "' for --resolution: must be more than 0");
  if (a > b) throw UsageError("invalid --sparsity-range " + low + ":" + high + ": the start is above the end");
  if ((b - a) / step > 1000000) throw UsageError("--resolution " + resolution + " makes more than a million grid points");
  std::vector<std::string> grid;
  for (std::int64_t v = a; v <= b; v += step) grid.push_back(decimal_text(v, scale));
  return grid;
}

double metric_drop(double baseline, double value, bool maximize) {
  return maximize ? baseline - value : value - baseline;
}

SearchResult run_search(const SearchRequest& q, const SearchCallbacks& cb) {
  const std::vector<std::string> grid = search_grid(q.low, q.high, q.resolution);
  std::optional<registry::Layout> layout;
  if (!q.registry.empty()) layout = registry::Layout::create(q.registry);
  SearchResult out;

  // The baseline: the unpruned input, recorded (and found again on a rerun) with a registry.
  const EvaluatedOutput base = evaluate_baseline(q.eval, q.base.input, q.model, layout ? &*layout : nullptr);
  out.baseline = base.record;
  out.baseline_reused = base.reused;
  if (!out.baseline.ok) throw EvalError(eval_failure_message(out.baseline, "the baseline ('" + q.base.input + "')"));
  if (!has_metric(out.baseline, q.metric)) {
    std::string names;
    for (const auto& [k, v] : out.baseline.metrics) names += (names.empty() ? "" : ", ") + k;
    throw EvalError("the evaluation reports no metric '" + q.metric + "' (it reports: " + names + ")");
  }
  const double baseline = out.baseline.metrics.at(q.metric);

  std::vector<std::optional<std::size_t>> probed(grid.size());  // grid index -> probe index
  const auto probe = [&](std::size_t k) -> const SearchProbe& {
    if (probed[k]) return out.probes[*probed[k]];
    check_interrupt();
    SweepOptions so = q.base;
    so.mode = RuleMode::sparsity;
    PruneOptions po = sweep_point_options(so, grid[k]);
    SearchProbe p;
    p.sparsity = grid[k];
    EvalTarget t;
    t.input = q.base.input;
    t.model = q.model;
    t.rule_env = rule_env(po.rule);
    if (layout) {
      const registry::RecordOutcome rec = record_point(q.registry, q.model, po, q.tool, q.command);
      p.version = rec.version;
      p.achieved = rec.result.total.sparsity();
      t.file = rec.blob_path;
      t.sha256 = rec.manifest.output_sha256;
      t.version = rec.version;
      const EvaluatedOutput e = evaluate_output(q.eval, t, &*layout, &rec.manifest);
      p.evaluation = e.record;
      p.reused = rec.already && e.reused;
    } else {
      ScratchDir scratch("search");
      po.output = scratch.path() + "/probe.h5";
      const PruneResult r = run_prune(po);
      p.achieved = r.total.sparsity();
      t.file = po.output;
      t.sha256 = r.output_sha256;
      p.evaluation = evaluate(q.eval, t, nullptr);
    }
    p.feasible = has_metric(p.evaluation, q.metric) &&
                 metric_drop(baseline, p.evaluation.metrics.at(q.metric), q.maximize) <= q.max_drop;
    out.probes.push_back(p);
    probed[k] = out.probes.size() - 1;
    if (cb.on_probe) cb.on_probe(out.probes.back());
    return out.probes.back();
  };

  std::size_t lo = 0, hi = grid.size() - 1;
  if (!probe(hi).feasible && hi > 0 && probe(lo).feasible) {
    while (hi - lo > 1) {
      const std::size_t mid = lo + (hi - lo) / 2;
      if (probe(mid).feasible) lo = mid;
      else hi = mid;
    }
  }

  // The answer: the highest feasible probe made.
  for (std::size_t k = 0; k < grid.size(); ++k)
    if (probed[k] && out.probes[*probed[k]].feasible) out.best = *probed[k];
  return out;
}

void record_search(RunMetrics& m, const SearchResult& r) {
  m.success = true;
  m.failure = {FailureReason::none, 0};
  RunMetrics::Search s;
  s.probes = r.probes.size();
  for (const SearchProbe& p : r.probes) s.failed_probes += p.evaluation.ok ? 0 : 1;
  RunMetrics::Eval e;
  e.ok = s.failed_probes == 0;
  e.baseline = r.baseline.metrics;
  if (r.best) {
    const SearchProbe& best = r.probes[*r.best];
    e.values = best.evaluation.metrics;
    e.seconds = best.evaluation.seconds;
    m.requested_sparsity = s.answer = parse_decimal(best.sparsity, "sparsity").approx();
    if (best.version) m.registry_version = static_cast<std::uint64_t>(*best.version);
  } else {
    e.seconds = r.baseline.seconds;
  }
  m.eval = e;
  m.search = s;
}

}  // namespace h5p
