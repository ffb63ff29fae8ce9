// `h5prune search INPUT --eval CMD --metric NAME --max-drop D`: the highest sparsity whose
// metric stays within D of the baseline (host/search), printed as a probe table and an answer.
#include <boost/program_options.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "common/errors.hpp"
#include "host/registry/aliases.hpp"
#include "host/search.hpp"
#include "tools/commands.hpp"
#include "tools/eval_options.hpp"
#include "tools/format.hpp"
#include "tools/options.hpp"
#include "tools/version.hpp"

namespace po = boost::program_options;
using nlohmann::json;

namespace h5p::cli {

namespace {

po::options_description search_options() {
  po::options_description o(
      "usage: h5prune search MODEL.h5 --eval CMD --metric NAME --max-drop D [options]\n\n"
      "Evaluates the unpruned model (the baseline), then bisects on --sparsity for the highest value\n"
      "whose METRIC stays within D of the baseline, to the --resolution grid. With a registry every\n"
      "probe is a version with its evaluation: a killed or requeued search resumes for free.\n"
      "Bisection assumes the metric worsens as sparsity rises; when it does not, the answer is the\n"
      "highest feasible probe made (docs/EVAL.md).\n\noptions");
  o.add_options()
      ("help,h", "this help")
      ("metric", po::value<std::string>(), "the metric (a name in the evaluation's JSON line) to hold")
      ("max-drop", po::value<double>(), "the largest allowed drop from the baseline, in the metric's units (>= 0)")
      ("maximize", po::bool_switch(), "higher is better (default): the drop is baseline - value")
      ("minimize", po::bool_switch(), "lower is better (a loss): the drop is value - baseline")
      ("sparsity-range", po::value<std::string>()->default_value("0:1"), "A:B, the sparsities searched (exact decimals)")
      ("resolution", po::value<std::string>()->default_value("0.01"), "the grid step between probes")
      ("scope", po::value<std::string>(), "tensor (default) or global, as for prune --sparsity")
      ("include", po::value<std::string>(), "only tensors whose full HDF5 path matches this regex")
      ("exclude", po::value<std::string>(), "skip tensors whose full HDF5 path matches this regex")
      ("min-ndim", po::value<int>()->default_value(2), "minimum rank of a selected tensor")
      ("memory-limit", po::value<std::string>()->default_value("auto"), "bound on weight bytes held in memory: auto (half of what this process may use; docs/CLI.md Memory) or a size")
      ("threads", po::value<int>(), "OpenMP threads (default: OMP_NUM_THREADS, else the CPUs this job may use: affinity and cgroup CPU quota)")
      ("registry", po::value<std::string>(), "record every probe (and the baseline) here; resumable (default: $H5PRUNE_REGISTRY)")
      ("model", po::value<std::string>(), "model name in the registry (default: the input file's stem)")
      ("alias", po::value<std::string>(), "with a registry: point this alias at the answer's version")
      ("json", po::bool_switch(), "print the probes and the answer as one JSON object on stdout")
      ("metrics-dir", po::value<std::string>(), "write h5prune_<model>[_<array task>].prom here, on success and failure (default: $H5PRUNE_METRICS_DIR)");
  add_eval_options(o);
  return o;
}

json probe_json(const SearchProbe& p, const Evaluation& baseline, const std::string& metric, bool maximize) {
  json j = {{"sparsity", p.sparsity},
            {"achieved_sparsity", p.achieved},
            {"version", p.version ? json(*p.version) : json(nullptr)},
            {"feasible", p.feasible},
            {"reused", p.reused},
            {"evaluation", evaluation_json(p.evaluation, baseline)},
            {"value", nullptr},
            {"drop", nullptr}};
  if (p.evaluation.ok && p.evaluation.metrics.count(metric)) {
    j["value"] = p.evaluation.metrics.at(metric);
    j["drop"] = metric_drop(baseline.metrics.at(metric), p.evaluation.metrics.at(metric), maximize);
  }
  return j;
}

}  // namespace

int cmd_search(const std::vector<std::string>& args) {
  po::options_description visible = search_options();
  po::variables_map vm = parse_with_input(args, visible);
  if (vm.count("help")) {
    std::cout << visible << "\nexit codes: 0 ok (also when no sparsity is within the drop), 2 usage, 3 input,\n"
              << "6 registry, 8 the baseline's evaluation failed, 128+N signal N. See docs/EVAL.md.\n";
    return 0;
  }
  po::notify(vm);
  if (!vm.count("input")) throw UsageError("missing input file (usage: h5prune search MODEL.h5 --eval CMD --metric NAME --max-drop D)");
  SearchRequest q;
  q.base.input = vm["input"].as<std::string>();
  const std::optional<EvalSettings> eval = eval_settings(vm);
  if (!eval) throw UsageError("missing --eval CMD: the command that evaluates each probe");
  q.eval = *eval;
  if (!vm.count("metric")) throw UsageError("missing --metric NAME: the metric the search holds");
  q.metric = vm["metric"].as<std::string>();
  if (!vm.count("max-drop")) throw UsageError("missing --max-drop D: how far the metric may fall from the baseline");
  q.max_drop = vm["max-drop"].as<double>();
  if (!(q.max_drop >= 0)) throw UsageError("--max-drop must be 0 or more");
  if (vm["maximize"].as<bool>() && vm["minimize"].as<bool>()) throw UsageError("give --maximize or --minimize, not both");
  q.maximize = !vm["minimize"].as<bool>();
  const std::string range = vm["sparsity-range"].as<std::string>();
  const auto colon = range.find(':');
  if (colon == std::string::npos || range.find(':', colon + 1) != std::string::npos)
    throw UsageError("invalid value '" + range + "' for --sparsity-range: expected A:B, e.g. 0.5:0.99");
  q.low = range.substr(0, colon);
  q.high = range.substr(colon + 1);
  q.resolution = vm["resolution"].as<std::string>();
  if (vm.count("scope")) {
    const std::string s = vm["scope"].as<std::string>();
    if (s != "tensor" && s != "global") throw UsageError("invalid value '" + s + "' for --scope: expected tensor or global");
    q.base.scope = s == "global" ? Scope::global : Scope::tensor;
  }
  q.base.selection = selection_options(vm);
  q.base.memory_limit = memory_limit_option(vm);
  q.base.threads = threads_option(vm);
  if (vm.count("registry")) q.registry = vm["registry"].as<std::string>();
  else if (const char* env = std::getenv("H5PRUNE_REGISTRY"); env && *env) q.registry = env;
  q.model = vm.count("model") ? vm["model"].as<std::string>() : std::filesystem::path(q.base.input).stem().string();
  if (vm.count("alias") && q.registry.empty()) throw UsageError("--alias needs a registry (--registry DIR)");
  if (vm.count("alias")) registry::check_alias_name(vm["alias"].as<std::string>());
  q.tool = {H5PRUNE_VERSION, H5PRUNE_GIT_REVISION, built_with_cuda()};
  q.command = {"h5prune", "search"};
  q.command.insert(q.command.end(), args.begin(), args.end());
  search_grid(q.low, q.high, q.resolution);  // usage errors before any work

  const bool json_out = vm["json"].as<bool>();
  SearchCallbacks cb;
  cb.on_probe = [&](const SearchProbe& p) {
    if (json_out) return;
    std::printf("probe sparsity %s: %s%s -> %s\n", p.sparsity.c_str(),
                p.version ? (q.model + "@" + std::to_string(*p.version) + " ").c_str() : "",
                evaluation_text(p.evaluation, std::nullopt).c_str(),
                p.feasible ? "within the drop" : "beyond the drop");
    std::fflush(stdout);
  };
  const std::string metrics_dir = metrics_dir_option(vm);
  std::optional<RunMetrics> metrics;
  if (!metrics_dir.empty()) metrics = start_run_metrics(metrics_dir, q.model, unix_now());
  SearchResult r;
  try {
    r = run_search(q, cb);
    if (r.best && vm.count("alias"))
      registry::set_alias(registry::Layout::open(q.registry), q.model, vm["alias"].as<std::string>(), *r.probes[*r.best].version);
  } catch (...) {
    if (metrics)
      if (auto warning = write_failure_metrics(metrics_dir, *metrics, std::current_exception()))
        std::fprintf(stderr, "h5prune: warning: failure metrics not written: %s\n", warning->c_str());
    throw;
  }
  if (metrics) {
    record_search(*metrics, r);
    metrics->end_time = unix_now();
    write_run_metrics(metrics_dir, *metrics);
  }
  const double base = r.baseline.metrics.at(q.metric);
  const SearchProbe* best = r.best ? &r.probes[*r.best] : nullptr;

  if (json_out) {
    json j = {{"command", "search"},
              {"input", q.base.input},
              {"model", q.model},
              {"metric", q.metric},
              {"direction", q.maximize ? "maximize" : "minimize"},
              {"max_drop", q.max_drop},
              {"range", {q.low, q.high}},
              {"resolution", q.resolution},
              {"baseline", {{"value", base}, {"reused", r.baseline_reused}, {"evaluation", evaluation_json(r.baseline, std::nullopt)}}},
              {"probes", json::array()},
              {"answer", nullptr},
              {"alias", vm.count("alias") && best ? json(vm["alias"].as<std::string>()) : json(nullptr)}};
    for (const auto& p : r.probes) j["probes"].push_back(probe_json(p, r.baseline, q.metric, q.maximize));
    if (best) j["answer"] = probe_json(*best, r.baseline, q.metric, q.maximize);
    std::cout << j.dump(2) << std::endl;
    return 0;
  }
  std::printf("\n");
  std::vector<std::vector<std::string>> rows{{"sparsity", "version", q.metric, "drop", "within", "reused"}};
  std::vector<const SearchProbe*> sorted;
  for (const auto& p : r.probes) sorted.push_back(&p);
  std::sort(sorted.begin(), sorted.end(), [](const SearchProbe* a, const SearchProbe* b) {
    return parse_decimal(a->sparsity, "").approx() < parse_decimal(b->sparsity, "").approx();
  });
  for (const SearchProbe* p : sorted) {
    const bool has = p->evaluation.ok && p->evaluation.metrics.count(q.metric);
    rows.push_back({p->sparsity, p->version ? std::to_string(*p->version) : "-",
                    has ? fmt("%.6g", p->evaluation.metrics.at(q.metric)) : "failed",
                    has ? fmt("%.6g", metric_drop(base, p->evaluation.metrics.at(q.metric), q.maximize)) : "-",
                    p->feasible ? "yes" : "no", p->reused ? "yes" : ""});
  }
  print_table(rows);
  std::printf("\nbaseline %s %.6g%s; max drop %g (%s)\n", q.metric.c_str(), base,
              r.baseline_reused ? " (recorded before)" : "", q.max_drop, q.maximize ? "higher is better" : "lower is better");
  if (best)
    std::printf("answer: sparsity %s (achieved %.4f)%s, %s %.6g, drop %.6g%s\n", best->sparsity.c_str(), best->achieved,
                best->version ? (" = " + q.model + "@" + std::to_string(*best->version)).c_str() : "", q.metric.c_str(),
                best->evaluation.metrics.at(q.metric), metric_drop(base, best->evaluation.metrics.at(q.metric), q.maximize),
                vm.count("alias") ? (", alias " + vm["alias"].as<std::string>()).c_str() : "");
  else
    std::printf("answer: none: even sparsity %s drops %s by more than %g\n", q.low.c_str(), q.metric.c_str(), q.max_drop);
  return 0;
}

}  // namespace h5p::cli
