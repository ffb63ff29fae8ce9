// `h5prune sweep`: many sparsities or thresholds from one analysis; table, CSV, JSON, report.
#include <boost/program_options.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "common/errors.hpp"
#include "formats/json_names.hpp"
#include "common/interrupt.hpp"
#include "formats/atomic_file.hpp"
#include "host/metrics.hpp"
#include "host/slurm_array.hpp"
#include "host/sensitivity.hpp"
#include "host/sensitivity_report.hpp"
#include "host/sweep.hpp"
#include "host/sweep_materialize.hpp"
#include "host/sweep_report.hpp"
#include "host/sweep_values.hpp"
#include "tools/commands.hpp"
#include "tools/eval_options.hpp"
#include "tools/options.hpp"
#include "tools/progress.hpp"
#include "tools/format.hpp"
#include "tools/version.hpp"

namespace po = boost::program_options;
using nlohmann::json;

namespace h5p::cli {
namespace {

po::options_description sweep_options() {
  po::options_description o(
      "usage: h5prune sweep MODEL.h5 (--sparsity LIST | --threshold LIST) [options]\n\n"
      "Answers many pruning levels from one analysis of the model: per point and per tensor the\n"
      "boundary, the pruned count, the achieved sparsity and the retained L2 fraction, exactly as\n"
      "'h5prune prune' would at that point. LIST is 'a,b,c' or the range 'start:stop:step' (stop\n"
      "included when it falls on the grid: 0.4:0.9:0.1 is six points).\n\noptions");
  o.add_options()
      ("help,h", "this help")
      ("sparsity", po::value<std::string>(), "sparsities to sweep (exact decimals in [0,1])")
      ("threshold", po::value<std::string>(), "thresholds to sweep (|w| < T, T >= 0)")
      ("scope", po::value<std::string>(), "tensor (default) or global, with --sparsity")
      ("include", po::value<std::string>(), "only tensors whose full HDF5 path matches this regex")
      ("exclude", po::value<std::string>(), "skip tensors whose full HDF5 path matches this regex")
      ("min-ndim", po::value<int>()->default_value(2), "minimum rank of a selected tensor")
      ("include-optimizer", po::bool_switch(), "also select optimizer state (Keras optimizer_weights/, optimizer/)")
      ("rule", po::value<std::vector<std::string>>()->composing(), "REGEX=SPEC, repeatable: tensors matching REGEX keep SPEC at every point; the swept value applies to the rest (docs/RULES.md)")
      ("rules", po::value<std::string>(), "a JSON file of such group rules, as for prune")
      ("memory-limit", po::value<std::string>()->default_value("auto"), "bound on weight bytes held in memory: auto (half of what this process may use; docs/CLI.md Memory) or a size")
      ("threads", po::value<int>(), "OpenMP threads (default: OMP_NUM_THREADS, else the CPUs this job may use: affinity and cgroup CPU quota)")
      ("csv", po::value<std::string>(), "write one row per point and tensor to this CSV file")
      ("report", po::value<std::string>(), "write a self-contained report: .html (charts + table) or .svg (main chart)")
      ("top", po::value<int>()->default_value(8), "distinct per-tensor curves drawn in the report (largest tensors first, alike curves drawn once; the rest folded)")
      ("report-axis", po::value<std::string>()->default_value("linear"), "linear, or log-density: sparsity placed by log10(1 - s), so 0.9, 0.99, 0.999 are spread out")
      ("max-drop", po::value<double>(), "with --materialize --eval --report: the tolerance band below the baseline, in the metric's units (default 0.01)")
      ("minimize", po::bool_switch(), "with --max-drop: lower is better (a loss): the band lies above the baseline")
      ("array-task", po::value<std::string>(), "auto: run point SLURM_ARRAY_TASK_ID (task i runs point i, whatever subset was submitted); or an index")
      ("materialize", po::bool_switch(), "write every point through prune into the registry (points already recorded are skipped)")
      ("registry", po::value<std::string>(), "registry directory for --materialize (default: $H5PRUNE_REGISTRY)")
      ("model", po::value<std::string>(), "model name in the registry and the metrics (default: the input file's stem)")
      ("metrics-dir", po::value<std::string>(), "with --materialize: write h5prune_<model>[_<array task>].prom here (default: $H5PRUNE_METRICS_DIR)")
      ("json", po::bool_switch(), "print the result as one JSON object on stdout")
      ("quiet", po::bool_switch(), "no progress output on stderr")
      ("per-tensor", po::bool_switch(), "sensitivity: prune each selected tensor alone at each point and evaluate it (needs --eval; docs/EVAL.md)")
      ("metric", po::value<std::string>(), "with --per-tensor: the metric of the table and heatmap; with --materialize --eval --report: the metric whose band and best point are drawn (default: the first reported)");
  add_eval_options(o);
  return o;
}

json result_json(const SweepResult& r, const std::string& input) {
  json j;
  j["command"] = "sweep";
  j["input"] = input;
  j["mode"] = r.mode == RuleMode::sparsity ? "sparsity" : "threshold";
  j["scope"] = r.mode == RuleMode::sparsity ? json(scope_name(r.scope)) : json(nullptr);
  j["fixed"] = json::array();
  for (const auto& [path, spec] : r.fixed) j["fixed"].push_back({{"path", path}, {"rule", spec}});
  j["warnings"] = r.warnings;
  j["backend"] = r.backend;
  j["device"] = r.device;
  j["points"] = json::array();
  const std::uint64_t n = r.total_n();
  for (std::size_t p = 0; p < r.values.size(); ++p) {
    json pt;
    pt[r.mode == RuleMode::sparsity ? "sparsity" : "threshold"] = std::strtod(r.values[p].c_str(), nullptr);
    pt["value"] = r.values[p];
    pt["total"] = {{"n", n},
                   {"pruned", r.pruned(p)},
                   {"sparsity", n ? static_cast<double>(r.pruned(p)) / static_cast<double>(n) : 0.0},
                   {"retained_l2", r.retained_l2(p)}};
    pt["tensors"] = json::array();
    for (std::size_t t = 0; t < r.tensors.size(); ++t) {
      const SweepCell& c = r.cells[p][t];
      const SweepTensor& st = r.tensors[t];
      pt["tensors"].push_back({{"path", st.path},
                               {"dtype", std::string(dtype_name(st.dtype))},
                               {"n", st.n},
                               {"pruned", c.pruned},
                               {"sparsity", st.n ? static_cast<double>(c.pruned) / static_cast<double>(st.n) : 0.0},
                               {"threshold", c.threshold},
                               {"ties", c.ties},
                               {"ties_pruned", c.ties_pruned},
                               {"retained_l2", retained_l2(st.sum_sq, c.sum_sq_after)}});
    }
    j["points"].push_back(pt);
  }
  j["seconds"] = {{"read", r.read_seconds}, {"compute", r.compute_seconds}, {"total", r.total_seconds}};
  return j;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

std::string result_csv(const SweepResult& r) {
  std::ostringstream out;
  out << (r.mode == RuleMode::sparsity ? "requested_sparsity" : "threshold")
      << ",tensor,dtype,n,pruned,achieved_sparsity,boundary,ties,ties_pruned,retained_l2\n";
  char buf[64];
  for (std::size_t p = 0; p < r.values.size(); ++p)
    for (std::size_t t = 0; t < r.tensors.size(); ++t) {
      const SweepCell& c = r.cells[p][t];
      const SweepTensor& st = r.tensors[t];
      out << r.values[p] << "," << csv_field(st.path) << "," << dtype_name(st.dtype) << "," << st.n << "," << c.pruned
          << ",";
      std::snprintf(buf, sizeof buf, "%.17g,%.17g,", st.n ? static_cast<double>(c.pruned) / static_cast<double>(st.n) : 0.0,
                    c.threshold);
      out << buf << c.ties << "," << c.ties_pruned << ",";
      std::snprintf(buf, sizeof buf, "%.17g\n", retained_l2(st.sum_sq, c.sum_sq_after));
      out << buf;
    }
  return out.str();
}

void print_table_summary(const SweepResult& r, const std::string& input) {
  std::vector<std::vector<std::string>> rows{
      {r.mode == RuleMode::sparsity ? "sparsity" : "threshold", "pruned", "achieved", "retained L2"}};
  const double n = static_cast<double>(r.total_n());
  for (std::size_t p = 0; p < r.values.size(); ++p)
    rows.push_back({r.values[p], std::to_string(r.pruned(p)), fmt("%.4f", n > 0 ? static_cast<double>(r.pruned(p)) / n : 0.0),
                    fmt("%.4f", r.retained_l2(p))});
  print_table(rows);
  std::printf("\n%zu points over %zu tensors (%llu weights) of '%s'%s in %.2f s (read %.2f, compute %.2f) on %s\n",
              r.values.size(), r.tensors.size(), static_cast<unsigned long long>(r.total_n()), input.c_str(),
              r.mode == RuleMode::sparsity ? (std::string(", ") + scope_name(r.scope) + " scope").c_str() : "",
              r.total_seconds, r.read_seconds, r.compute_seconds, r.device.c_str());
}

json materialized_json(const std::vector<MaterializedPoint>& points, const std::string& registry_dir) {
  json arr = json::array();
  for (const auto& m : points)
    arr.push_back({{"value", m.value},
                   {"version", m.outcome.version},
                   {"already_recorded", m.outcome.already},
                   {"sha256", m.outcome.manifest.output_sha256},
                   {"pruned", m.outcome.result.total.pruned},
                   {"sparsity", m.outcome.result.total.sparsity()},
                   {"registry", registry_dir}});
  for (std::size_t i = 0; i < points.size(); ++i)
    if (points[i].evaluation)
      arr[i]["evaluation"] = evaluation_json(points[i].evaluation->record, points[i].evaluation->baseline);
  return arr;
}

bool is_svg(const std::string& report) { return report.size() > 4 && report.substr(report.size() - 4) == ".svg"; }

// The report of a materialised sweep: what was recorded at each point and, with --eval, the
// evaluations against the baseline.
void write_materialized_report(const std::string& report, const SweepOptions& o, const std::vector<MaterializedPoint>& points,
                               ReportEvaluations* re, ReportOptions ro, const po::variables_map& vm) {
  std::vector<const PruneResult*> results;
  for (const auto& p : points) results.push_back(&p.outcome.result);
  const SweepResult r = sweep_result_of(o.mode, o.scope, o.values, results);
  if (re) {
    for (const auto& p : points) {
      re->points.push_back(p.evaluation ? std::optional<Evaluation>(p.evaluation->record) : std::nullopt);
      re->versions.push_back(p.outcome.version);
    }
    if (vm.count("metric")) re->metric = vm["metric"].as<std::string>();
    else if (re->baseline && !re->baseline->metrics.empty()) re->metric = re->baseline->metrics.begin()->first;
    ro.evaluations = re;
  }
  write_file_atomically(report, is_svg(report) ? sweep_report_svg(r, ro) : sweep_report_html(r, ro), true);
}

std::string metric_of(const SensitivityResult& r, const po::variables_map& vm) {
  if (vm.count("metric")) return vm["metric"].as<std::string>();
  for (const auto& c : r.cells)
    if (c.evaluation.ok && !c.evaluation.metrics.empty()) return c.evaluation.metrics.begin()->first;
  return "";
}

std::string sensitivity_csv(const SensitivityResult& r) {
  std::set<std::string> names;
  for (const auto& c : r.cells)
    for (const auto& [k, v] : c.evaluation.metrics) names.insert(k);
  std::ostringstream out;
  out << "tensor,requested,achieved_sparsity,version,sha256,ok";
  for (const auto& n : names) out << "," << csv_field(n);
  out << "\n";
  char buf[64];
  for (const auto& c : r.cells) {
    std::snprintf(buf, sizeof buf, "%.17g", c.achieved);
    out << csv_field(r.tensors[c.tensor]) << "," << r.values[c.point] << "," << buf << ","
        << (c.version ? std::to_string(*c.version) : "") << "," << c.sha256 << "," << (c.evaluation.ok ? "true" : "false");
    for (const auto& n : names) {
      out << ",";
      if (c.evaluation.metrics.count(n)) {
        std::snprintf(buf, sizeof buf, "%.17g", c.evaluation.metrics.at(n));
        out << buf;
      }
    }
    out << "\n";
  }
  return out.str();
}

// --per-tensor: the tensor x point table of one metric (and every metric in --json / --csv).
int per_tensor_sweep(const po::variables_map& vm, SweepOptions o, const std::vector<std::string>& args,
                     const std::string& report) {
  const std::optional<EvalSettings> eval = eval_settings(vm);
  if (!eval) throw UsageError("--per-tensor needs --eval CMD: each (tensor, point) output is evaluated");
  if (vm.count("metrics-dir")) throw UsageError("--metrics-dir does not apply to --per-tensor");
  SensitivityRequest q;
  q.sweep = o;
  q.eval = *eval;
  if (vm.count("registry")) q.registry = vm["registry"].as<std::string>();
  else if (const char* env = std::getenv("H5PRUNE_REGISTRY"); env && *env) q.registry = env;
  if (vm["materialize"].as<bool>() && q.registry.empty())
    throw UsageError("--materialize needs --registry DIR (or H5PRUNE_REGISTRY)");  // cells are recorded with a registry anyway
  q.model = vm.count("model") ? vm["model"].as<std::string>() : std::filesystem::path(o.input).stem().string();
  q.tool = {H5PRUNE_VERSION, H5PRUNE_GIT_REVISION, built_with_cuda()};
  q.command = {"h5prune", "sweep"};
  q.command.insert(q.command.end(), args.begin(), args.end());
  // In a Slurm array, task i runs pair i: tensor i / points, point i % points.
  if (vm.count("array-task")) q.only_pair = array_task_point(vm["array-task"].as<std::string>(), sensitivity_pairs(o));
  const bool json_out = vm["json"].as<bool>();
  const SensitivityResult r = run_sensitivity(q, [&](const SensitivityResult& res, const SensitivityCell& c) {
    if (json_out) return;
    std::printf("%s at %s: %s%s\n", res.tensors[c.tensor].c_str(), res.values[c.point].c_str(),
                evaluation_text(c.evaluation, std::nullopt).c_str(), c.reused ? " (recorded before)" : "");
    std::fflush(stdout);
  });
  const std::string metric = metric_of(r, vm);
  if (vm.count("csv")) write_file_atomically(vm["csv"].as<std::string>(), sensitivity_csv(r), true);
  if (!report.empty()) {
    write_file_atomically(report, is_svg(report) ? sensitivity_report_svg(r, metric, q.model) : sensitivity_report_html(r, metric, o.input, q.model), true);
  }
  if (json_out) {
    json j = {{"command", "sweep"}, {"per_tensor", true}, {"input", o.input}, {"model", q.model},
              {"tensors", r.tensors}, {"values", r.values}, {"cells", json::array()}};
    for (const auto& c : r.cells)
      j["cells"].push_back({{"tensor", r.tensors[c.tensor]}, {"value", r.values[c.point]},
                            {"version", c.version ? json(*c.version) : json(nullptr)}, {"sha256", c.sha256},
                            {"achieved_sparsity", c.achieved}, {"reused", c.reused},
                            {"evaluation", evaluation_json(c.evaluation, std::nullopt)}});
    std::cout << j.dump(2) << std::endl;
  } else if (!metric.empty() && !q.only_pair) {
    std::printf("\n%s by tensor (rows) and %s (columns):\n", metric.c_str(), o.mode == RuleMode::sparsity ? "sparsity" : "threshold");
    std::vector<std::vector<std::string>> rows{{"tensor"}};
    for (const auto& v : r.values) rows[0].push_back(v);
    for (std::size_t t = 0; t < r.tensors.size(); ++t) rows.push_back({r.tensors[t]});
    for (const auto& c : r.cells)
      rows[c.tensor + 1].push_back(c.evaluation.ok && c.evaluation.metrics.count(metric)
                                       ? fmt("%.4g", c.evaluation.metrics.at(metric)) : "failed");
    print_table(rows);
  }
  std::size_t failed = 0;
  for (const auto& c : r.cells) failed += c.evaluation.ok ? 0 : 1;
  if (failed) throw EvalError(std::to_string(failed) + " of " + std::to_string(r.cells.size()) + " per-tensor evaluations failed (see above)");
  return 0;
}

}  // namespace

int cmd_sweep(const std::vector<std::string>& args) {
  po::options_description visible = sweep_options();
  po::variables_map vm = parse_with_input(args, visible);
  if (vm.count("help")) {
    std::cout << visible << "\nexit codes: 0 ok, 2 usage, 3 input, 4 NaN, 5 output, 6 registry (--materialize),\n"
              << "7 CUDA device failure, 8 evaluation, 128+N interrupted by signal N. See docs/CLI.md and docs/SLURM.md.\n";
    return 0;
  }
  po::notify(vm);
  if (!vm.count("input")) throw UsageError("missing input file (usage: h5prune sweep MODEL.h5 --sparsity LIST)");
  SweepOptions o;
  o.input = vm["input"].as<std::string>();
  const bool has_s = vm.count("sparsity"), has_t = vm.count("threshold");
  if (has_s == has_t) throw UsageError("give exactly one list: --sparsity LIST or --threshold LIST");
  o.mode = has_s ? RuleMode::sparsity : RuleMode::threshold;
  const char* option = has_s ? "--sparsity" : "--threshold";
  o.values = expand_sweep_values(vm[has_s ? "sparsity" : "threshold"].as<std::string>(), option);
  validate_sweep_values(o.mode, o.values);
  if (vm.count("scope")) {
    const std::string s = vm["scope"].as<std::string>();
    if (s != "tensor" && s != "global") throw UsageError("invalid value '" + s + "' for --scope: expected tensor or global");
    if (has_t) throw UsageError("--scope applies to --sparsity only");
    o.scope = s == "global" ? Scope::global : Scope::tensor;
  }
  o.selection = selection_options(vm);
  o.rules = group_rules_option(vm);
  o.memory_limit = memory_limit_option(vm);
  o.threads = threads_option(vm);
  const int top = vm["top"].as<int>();
  if (top < 0) throw UsageError("invalid value for --top: must be >= 0");
  std::string report;
  if (vm.count("report")) {
    report = vm["report"].as<std::string>();
    const bool html = report.size() > 5 && report.substr(report.size() - 5) == ".html";
    const bool svg = report.size() > 4 && report.substr(report.size() - 4) == ".svg";
    if (!html && !svg) throw UsageError("--report '" + report + "' must end in .html or .svg");
  }
  ReportOptions ro;
  ro.input = o.input;
  ro.model = vm.count("model") ? vm["model"].as<std::string>() : std::filesystem::path(o.input).stem().string();
  ro.top = static_cast<std::size_t>(top);
  const std::string axis = vm["report-axis"].as<std::string>();
  if (axis != "linear" && axis != "log-density")
    throw UsageError("invalid value '" + axis + "' for --report-axis: expected linear or log-density");
  ro.axis = axis == "log-density" ? ReportAxis::log_density : ReportAxis::linear;
  if (ro.axis == ReportAxis::log_density && o.mode != RuleMode::sparsity)
    throw UsageError("--report-axis log-density needs --sparsity (the x axis is the requested sparsity)");
  ReportEvaluations re;
  if (vm.count("max-drop")) {
    re.max_drop = vm["max-drop"].as<double>();
    if (!(re.max_drop >= 0) || !std::isfinite(re.max_drop)) throw UsageError("--max-drop must be a finite number, 0 or more");
  }
  re.maximize = !vm["minimize"].as<bool>();
  if (vm["per-tensor"].as<bool>()) {
    if (!o.rules.empty()) throw UsageError("--per-tensor prunes each tensor alone: it takes no group rules (--rule, --rules)");
    return per_tensor_sweep(vm, o, args, report);
  }
  if (vm.count("array-task")) {
    const std::size_t i = array_task_point(vm["array-task"].as<std::string>(), o.values.size());
    o.values = {o.values[i]};
  }

  const bool materialize_points = vm["materialize"].as<bool>();
  std::string registry_path;
  if (vm.count("registry")) registry_path = vm["registry"].as<std::string>();
  else if (const char* env = std::getenv("H5PRUNE_REGISTRY"); env && *env) registry_path = env;
  if (materialize_points && registry_path.empty())
    throw UsageError("--materialize needs --registry DIR (or H5PRUNE_REGISTRY)");
  const std::optional<EvalSettings> eval = eval_settings(vm);
  if (eval && !materialize_points)
    throw UsageError("--eval applies to --materialize (each recorded point is evaluated) or --per-tensor");
  if (!materialize_points && vm.count("metrics-dir"))
    throw UsageError("--metrics-dir applies to --materialize (a sweep without it writes nothing to record)");
  // The metric chart's options (--per-tensor, which takes --metric, returned above).
  if (!(eval && materialize_points && !report.empty()))
    for (const std::string o : {"metric", "max-drop", "minimize"})
      if (o == "minimize" ? vm[o].as<bool>() : vm.count(o) > 0)
        throw UsageError("--" + o + " applies to --materialize --eval CMD --report FILE (the metric chart) or --per-tensor");
  if (materialize_points) {
    const std::string model = ro.model;
    std::string metrics_dir;
    if (vm.count("metrics-dir")) metrics_dir = vm["metrics-dir"].as<std::string>();
    else if (const char* env = std::getenv("H5PRUNE_METRICS_DIR"); env && *env) metrics_dir = env;
    MaterializeRequest q;
    q.sweep = o;
    q.registry = registry_path;
    q.model = model;
    q.tool = {H5PRUNE_VERSION, H5PRUNE_GIT_REVISION, built_with_cuda()};
    q.command = {"h5prune", "sweep"};
    q.command.insert(q.command.end(), args.begin(), args.end());
    q.metrics_dir = metrics_dir;
    q.eval = eval;
    if (!metrics_dir.empty()) {
      check_metrics_dir(metrics_dir);
      q.metrics.model = model;
      q.metrics.start_time = unix_now();
      q.metrics.tool_version = std::string(H5PRUNE_VERSION) + "+" + H5PRUNE_GIT_REVISION;
      read_slurm_identity(q.metrics);
    }
    if (const char* restarts = std::getenv("SLURM_RESTART_COUNT"); restarts && std::atoi(restarts) > 0)
      std::fprintf(stderr, "h5prune: note: requeued task (SLURM_RESTART_COUNT=%s): points already recorded are skipped\n",
                   restarts);
    const bool json_out = vm["json"].as<bool>();
    // The report draws each metric's drop from the baseline: evaluate the unpruned input first
    // (recorded as the model's baseline, found again on reruns).
    if (eval && !report.empty()) {
      const auto layout = registry::Layout::create(registry_path);
      const EvaluatedOutput base = evaluate_baseline(*eval, o.input, model, &layout);
      if (!base.record.ok) throw EvalError(eval_failure_message(base.record, "the baseline ('" + o.input + "')"));
      re.baseline = base.record;
      if (!json_out)
        std::printf("baseline%s: %s\n", base.reused ? " (recorded before)" : "", evaluation_text(base.record, std::nullopt).c_str());
    }
    MaterializeCallbacks cb;
    cb.on_point = [&](const MaterializedPoint& p) {
      if (!json_out)
        std::printf("%s %s: %s %s@%d (sha256 %.12s, sparsity %.4f)\n", o.mode == RuleMode::sparsity ? "sparsity" : "threshold",
                    p.value.c_str(), p.outcome.already ? "already recorded as" : "recorded as", model.c_str(),
                    p.outcome.version, p.outcome.manifest.output_sha256.c_str(), p.outcome.result.total.sparsity());
      if (!json_out && p.evaluation)
        std::printf("  evaluation%s: %s\n", p.evaluation->reused ? " (recorded before)" : "",
                    evaluation_text(p.evaluation->record, p.evaluation->baseline).c_str());
      std::fflush(stdout);
    };
    cb.on_warning = [](const std::string& w) { std::fprintf(stderr, "h5prune: warning: %s\n", w.c_str()); };
    const auto points = materialize_sweep(q, cb);
    if (!report.empty()) write_materialized_report(report, o, points, eval ? &re : nullptr, ro, vm);
    if (json_out)
      std::cout << json{{"command", "sweep"}, {"input", o.input}, {"model", model}, {"materialized",
                                                                                      materialized_json(points, registry_path)}}
                       .dump(2)
                << std::endl;
    std::size_t failed = 0;
    const MaterializedPoint* first = nullptr;
    for (const auto& p : points)
      if (p.evaluation && !p.evaluation->record.ok && failed++ == 0) first = &p;
    if (first)
      throw EvalError(std::to_string(failed) + " of " + std::to_string(points.size()) + " evaluations failed, the first " +
                      eval_failure_message(first->evaluation->record, model + "@" + std::to_string(first->outcome.version)) +
                      " (the versions are kept; the failures are recorded)");
    return 0;
  }

  ProgressPrinter progress(!vm["quiet"].as<bool>());
  o.on_progress = [&](const Progress& p) { progress.update(p); };
  const SweepResult r = run_sweep(o);
  progress.finish();
  for (const std::string& w : r.warnings) std::fprintf(stderr, "h5prune: warning: %s\n", printable(w).c_str());
  if (vm.count("csv")) write_file_atomically(vm["csv"].as<std::string>(), result_csv(r), true);
  if (!report.empty()) write_file_atomically(report, is_svg(report) ? sweep_report_svg(r, ro) : sweep_report_html(r, ro), true);
  if (vm["json"].as<bool>()) std::cout << json_safe(result_json(r, o.input)).dump(2) << std::endl;
  else print_table_summary(r, o.input);
  return 0;
}

}  // namespace h5p::cli
