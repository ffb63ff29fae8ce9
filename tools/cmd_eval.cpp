// `h5prune eval TARGET --eval CMD`: evaluates a file or a registry version (NAME@REF) and
// records the result; a plain file with --registry/--model is recorded as the model's baseline.
#include <boost/program_options.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "common/errors.hpp"
#include "formats/sha256.hpp"
#include "host/metrics.hpp"
#include "host/registry/evaluations.hpp"
#include "host/registry/versions.hpp"
#include "tools/commands.hpp"
#include "tools/eval_options.hpp"
#include "tools/options.hpp"

namespace po = boost::program_options;
using nlohmann::json;

namespace h5p::cli {

int cmd_eval(const std::vector<std::string>& args) {
  po::options_description o(
      "usage: h5prune eval (FILE.h5 | NAME@REF) --eval CMD [--registry DIR [--model NAME]] [--json]\n\n"
      "Runs the evaluation command on a registry version (NAME@REF: number, alias, latest, sha256\n"
      "prefix) and records it beside the version, or on a file. A file evaluated with --registry is\n"
      "the model's unpruned input: its result is recorded as the model's baseline (keyed by the\n"
      "file's sha256), from which every evaluated version's drop is measured.\n\noptions");
  o.add_options()("help,h", "this help")(
      "registry", po::value<std::string>(), "registry directory (default: $H5PRUNE_REGISTRY)")(
      "model", po::value<std::string>(), "with a FILE: the model whose baseline it is (default: the file's stem)")(
      "json", po::bool_switch(), "print the evaluation as one JSON object on stdout")(
      "metrics-dir", po::value<std::string>(),
      "write h5prune_<model>[_<array task>].prom here, on success and failure (default: $H5PRUNE_METRICS_DIR)");
  add_eval_options(o);
  po::options_description all;
  all.add(o);
  all.add_options()("target", po::value<std::string>());
  po::positional_options_description pos;
  pos.add("target", 1);
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(all).positional(pos).run(), vm);
  if (vm.count("help")) {
    std::cout << o << "\nexit codes: 0 ok, 2 usage, 3 input, 6 registry, 8 evaluation failed (recorded). See docs/EVAL.md.\n";
    return 0;
  }
  po::notify(vm);
  if (!vm.count("target")) throw UsageError("missing target (usage: h5prune eval FILE.h5|NAME@REF --eval CMD)");
  const std::optional<EvalSettings> settings = eval_settings(vm);
  if (!settings) throw UsageError("missing --eval CMD: the command that evaluates the target");
  const std::string target = vm["target"].as<std::string>();
  std::string registry_dir;
  if (vm.count("registry")) registry_dir = vm["registry"].as<std::string>();
  else if (const char* env = std::getenv("H5PRUNE_REGISTRY"); env && *env) registry_dir = env;

  const bool is_file = std::filesystem::exists(target) || target.find('@') == std::string::npos;
  // The metrics identity: the model the evaluation is recorded under (a usage error before it is
  // known is reported without metrics, as for prune).
  const std::string model = is_file ? (vm.count("model") ? vm["model"].as<std::string>()
                                                         : std::filesystem::path(target).stem().string())
                                    : registry::parse_ref(target).model;
  const std::string metrics_dir = metrics_dir_option(vm);
  std::optional<RunMetrics> metrics;
  if (!metrics_dir.empty()) metrics = start_run_metrics(metrics_dir, model, unix_now());
  bool metrics_written = false;
  try {
    std::optional<registry::Layout> layout;
    std::optional<Manifest> manifest;
    EvalTarget t;
    std::string what;
    if (is_file) {
      if (!std::filesystem::is_regular_file(target)) throw InputError("cannot open '" + target + "': no such file");
      t.file = target;
      t.input = target;
      t.sha256 = sha256_file(target);
      t.model = model;
      what = "'" + target + "'";
      if (!registry_dir.empty()) {
        layout = registry::Layout::create(registry_dir);
        registry::check_model_name(t.model);
        t.baseline = true;
        what = "the baseline of " + t.model + " ('" + target + "')";
      }
    } else {
      if (vm.count("model")) throw UsageError("--model applies to a FILE target (NAME@REF names its model)");
      if (registry_dir.empty()) throw UsageError("NAME@REF needs a registry: --registry DIR or H5PRUNE_REGISTRY");
      layout = registry::Layout::open(registry_dir);
      const registry::VersionRef ref = registry::parse_ref(target);
      manifest = registry::load_manifest(*layout, ref.model, registry::resolve(*layout, ref));
      t = version_target(*layout, *manifest);
      what = manifest->model + "@" + std::to_string(manifest->version);
    }

    const Evaluation e = evaluate(*settings, t, layout ? &*layout : nullptr);
    std::optional<Evaluation> baseline;
    if (manifest) baseline = registry::baseline_of(*layout, *manifest);
    if (metrics) {  // a recorded baseline is its own baseline (its drop is 0)
      record_evaluation(*metrics, {e, t.baseline && e.ok ? std::optional<Evaluation>(e) : baseline, false}, t.version);
      metrics->end_time = unix_now();
      write_run_metrics(metrics_dir, *metrics);
      metrics_written = true;
    }
    if (vm["json"].as<bool>()) {
      json j = {{"command", "eval"},
                {"target", target},
                {"model", t.model},
                {"version", t.version ? json(*t.version) : json(nullptr)},
                {"baseline_of_model", t.baseline},
                {"sha256", t.sha256},
                {"recorded", layout.has_value()},
                {"evaluation", evaluation_json(e, baseline)}};
      std::cout << j.dump(2) << std::endl;
    } else {
      std::printf("%s: %s\n", what.c_str(), evaluation_text(e, baseline).c_str());
      if (layout) std::printf("recorded as evaluation %s in %s\n", e.id.c_str(), layout->root().c_str());
    }
    if (!e.ok) throw EvalError(eval_failure_message(e, what) + (layout ? " (recorded)" : ""));
  } catch (...) {
    if (metrics && !metrics_written)
      if (auto warning = write_failure_metrics(metrics_dir, *metrics, std::current_exception()))
        std::fprintf(stderr, "h5prune: warning: failure metrics not written: %s\n", warning->c_str());
    throw;
  }
  return 0;
}

}  // namespace h5p::cli
