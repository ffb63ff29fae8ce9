// `h5prune slurm sweep|status|collect`: parses the options, checks what can be checked at generation
// time (directories, names, the input), and prints host/'s script or status report.
#include <boost/program_options.hpp>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "common/errors.hpp"
#include "host/metrics.hpp"
#include "host/registry/fs_ops.hpp"
#include "host/registry/layout.hpp"
#include "host/registry/versions.hpp"
#include "host/sbatch_script.hpp"
#include "host/sensitivity.hpp"
#include "host/slurm_status.hpp"
#include "host/sweep.hpp"
#include "host/sweep_materialize.hpp"
#include "host/sweep_values.hpp"
#include "tools/commands.hpp"
#include "tools/format.hpp"
#include "tools/options.hpp"
#include "tools/version.hpp"

namespace po = boost::program_options;
namespace fs = std::filesystem;
using nlohmann::json;

namespace h5p::cli {
namespace {

constexpr const char* kUsage =
    "usage: h5prune slurm sweep MODEL.h5 (--sparsity LIST | --threshold LIST) --registry DIR --model NAME [options] > sweep.sbatch\n"
    "       h5prune slurm status sweep.sbatch [--json]\n"
    "       h5prune slurm collect sweep.sbatch [--json] [--keep-metrics]";

std::string self_path() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "h5prune";
  return std::string(buf, static_cast<std::size_t>(n));
}

// Absolute and normal, without a trailing '/' ("." -> "/home/me/work").
std::string absolute(const std::string& p) {
  std::string a = fs::absolute(p).lexically_normal().string();
  while (a.size() > 1 && a.back() == '/') a.pop_back();
  return a;
}

std::optional<std::string> opt(const po::variables_map& vm, const char* name) {
  if (!vm.count(name)) return std::nullopt;
  return vm[name].as<std::string>();
}

po::options_description sweep_options() {
  po::options_description o(
      "usage: h5prune slurm sweep MODEL.h5 (--sparsity LIST | --threshold LIST) --registry DIR --model NAME [options] > sweep.sbatch\n\n"
      "Prints an sbatch script for a job array with one sweep point per task: task i runs point i\n"
      "(so 'sbatch --array=7 sweep.sbatch' reruns point 7 only). Each task runs 'h5prune sweep ...\n"
      "--array-task auto --materialize' in the background and forwards SIGUSR1 (sent --signal-lead s\n"
      "before the time limit) and SIGTERM to it, so it stops cleanly; it records its point as a\n"
      "version (a rerun or requeue skips points already recorded). Paths become absolute; the log\n"
      "directory is created; the registry and metrics directories are checked now, not at run time.\n"
      "'h5prune slurm status sweep.sbatch' shows which points are recorded, failed or missing.\n\nsweep");
  o.add_options()
      ("help,h", "this help")
      ("sparsity", po::value<std::string>(), "sparsities, as for sweep")
      ("threshold", po::value<std::string>(), "thresholds, as for sweep")
      ("scope", po::value<std::string>(), "tensor or global, with --sparsity")
      ("include", po::value<std::string>(), "selection regex, passed through")
      ("exclude", po::value<std::string>(), "exclusion regex, passed through")
      ("include-optimizer", po::bool_switch(), "also select optimizer state, passed through")
      ("min-ndim", po::value<int>(), "minimum rank of a selected tensor, passed through")
      ("rule", po::value<std::vector<std::string>>()->composing(), "REGEX=SPEC, repeatable: a group rule every task keeps, as for sweep (docs/RULES.md)")
      ("rules", po::value<std::string>(), "a JSON file of group rules, read now: its rules go into the script after the --rule ones")
      ("memory-limit", po::value<std::string>(), "h5prune's --memory-limit in each task, passed through")
      ("registry", po::value<std::string>(), "registry directory: each task records its point (created now if missing)")
      ("model", po::value<std::string>(), "model name in the registry and metrics")
      ("metrics-dir", po::value<std::string>(), "node_exporter textfile directory for per-task metrics (must exist)")
      ("eval", po::value<std::string>(), "each task evaluates its recorded point with this command (sweep --eval, docs/EVAL.md)")
      ("eval-timeout", po::value<std::string>(), "sweep --eval-timeout, passed through")
      ("per-tensor", po::bool_switch(), "sensitivity analysis: one (tensor, point) pair per array task (needs --eval)")
      ("no-record", po::bool_switch(), "generate a script without --registry anyway: each task only prints an analysis");
  po::options_description s("Slurm");
  s.add_options()
      ("job-name", po::value<std::string>()->default_value("h5prune-sweep"), "#SBATCH --job-name")
      ("time", po::value<std::string>()->default_value("00:30:00"), "#SBATCH --time per task; must exceed --signal-lead")
      ("signal-lead", po::value<int>()->default_value(120), "seconds before the time limit that Slurm sends USR1")
      ("partition", po::value<std::string>(), "#SBATCH --partition")
      ("account", po::value<std::string>(), "#SBATCH --account")
      ("qos", po::value<std::string>(), "#SBATCH --qos")
      ("constraint", po::value<std::string>(), "#SBATCH --constraint (node features)")
      ("gpus", po::value<std::string>(), "#SBATCH --gpus ([TYPE:]N per job; --backend auto then uses CUDA)")
      ("gpus-per-task", po::value<std::string>(), "#SBATCH --gpus-per-task ([TYPE:]N)")
      ("gres", po::value<std::string>(), "#SBATCH --gres (e.g. gpu:1, gpu:a100:1)")
      ("cpus-per-task", po::value<int>()->default_value(2), "#SBATCH --cpus-per-task (also --threads)")
      ("mem", po::value<std::string>(), "#SBATCH --mem")
      ("max-parallel", po::value<int>(), "run at most this many tasks at once (--array=...%N)")
      ("sbatch-option", po::value<std::vector<std::string>>(), "another #SBATCH line, --NAME[=VALUE] (repeatable)")
      ("setup", po::value<std::vector<std::string>>(), "a shell line run before h5prune, e.g. 'module load cuda' (repeatable)")
      ("log-dir", po::value<std::string>()->default_value("."), "directory of the %A_%a log files (created)")
      ("chdir", po::value<std::string>(), "working directory of the tasks (default: the current one)")
      ("h5prune", po::value<std::string>(), "path of h5prune on the compute nodes (default: this binary)");
  o.add(s);
  return o;
}

// Each rule as the --rule text that parses back to it (a --rules file's regex could hold '='
// followed by what reads as a SPEC: refused, rather than a task pruning by another rule).
std::vector<std::string> rule_options(const std::vector<GroupRule>& rules) {
  std::vector<std::string> out;
  for (const GroupRule& g : rules) {
    std::string text = g.match + "=" + g.spec;
    std::optional<GroupRule> back;
    try {
      back = parse_rule_option(text);
    } catch (const UsageError&) {
    }
    if (!back || back->match != g.match || back->spec != g.spec)
      throw UsageError("the rule '" + text + "' (regex '" + g.match + "') does not read back as --rule REGEX=SPEC: "
                       "write its regex without '=' before a SPEC-like text (e.g. '[=]0')");
    out.push_back(std::move(text));
  }
  return out;
}

void check_registry_at_generation(const std::string& dir, const std::string& model) {
  registry::check_model_name(model);
  registry::Layout::create(dir);  // the first task would do the same; failing now saves the array
}

int slurm_sweep(const std::vector<std::string>& args) {
  po::options_description visible = sweep_options();
  po::variables_map vm = parse_with_input(args, visible);
  if (vm.count("help")) {
    std::cout << visible << "\nexit codes: 0 ok, 2 usage, 3 input, 5 output (log or metrics directory), 6 registry.\n"
              << "See docs/SLURM.md for a worked example.\n";
    return 0;
  }
  po::notify(vm);
  if (!vm.count("input")) throw UsageError("missing input file (usage: h5prune slurm sweep MODEL.h5 --sparsity LIST)");
  const bool has_s = vm.count("sparsity"), has_t = vm.count("threshold");
  if (has_s == has_t) throw UsageError("give exactly one list: --sparsity LIST or --threshold LIST");
  SbatchSpec spec;
  spec.list_option = has_s ? "--sparsity" : "--threshold";
  spec.list = vm[has_s ? "sparsity" : "threshold"].as<std::string>();
  spec.values = expand_sweep_values(spec.list, spec.list_option);
  validate_sweep_values(has_s ? RuleMode::sparsity : RuleMode::threshold, spec.values);
  spec.scope = opt(vm, "scope");
  if (spec.scope && has_t) throw UsageError("--scope applies to --sparsity only");
  if (spec.scope && *spec.scope != "tensor" && *spec.scope != "global")
    throw UsageError("invalid value '" + *spec.scope + "' for --scope: expected tensor or global");
  spec.include = opt(vm, "include");
  spec.exclude = opt(vm, "exclude");
  spec.include_optimizer = vm["include-optimizer"].as<bool>();
  if (vm.count("min-ndim")) spec.min_ndim = vm["min-ndim"].as<int>();
  spec.rules = rule_options(group_rules_option(vm));
  spec.memory_limit = opt(vm, "memory-limit");
  spec.model = opt(vm, "model");
  const bool no_record = vm["no-record"].as<bool>();
  if (vm.count("registry") && !spec.model) throw UsageError("--registry needs --model NAME");
  if (vm.count("registry") && no_record) throw UsageError("--no-record and --registry contradict each other");
  if (!vm.count("registry") && !no_record)
    throw UsageError("without --registry the tasks record nothing (each only prints an analysis into its log): "
                     "give --registry DIR --model NAME, or --no-record to generate such a script anyway");
  if (vm.count("metrics-dir") && !vm.count("registry"))
    throw UsageError("--metrics-dir needs --registry: only recorded points write metrics");
  spec.eval = opt(vm, "eval");
  spec.eval_timeout = opt(vm, "eval-timeout");
  if (spec.eval && !vm.count("registry")) throw UsageError("--eval needs --registry: each task evaluates its recorded point");
  if (spec.eval_timeout && !spec.eval) throw UsageError("--eval-timeout applies to --eval");
  if (spec.eval_timeout) registry::parse_duration(*spec.eval_timeout, "--eval-timeout");
  const bool per_tensor = vm["per-tensor"].as<bool>();
  if (per_tensor && !spec.eval) throw UsageError("--per-tensor needs --eval CMD");
  if (per_tensor && !spec.rules.empty())
    throw UsageError("--per-tensor prunes each tensor alone: it takes no group rules (--rule, --rules)");

  spec.job_name = vm["job-name"].as<std::string>();
  spec.time = vm["time"].as<std::string>();
  spec.signal_lead_seconds = vm["signal-lead"].as<int>();
  spec.cpus_per_task = vm["cpus-per-task"].as<int>();
  if (vm.count("max-parallel")) spec.max_parallel = vm["max-parallel"].as<int>();
  spec.partition = opt(vm, "partition");
  spec.account = opt(vm, "account");
  spec.qos = opt(vm, "qos");
  spec.constraint = opt(vm, "constraint");
  spec.mem = opt(vm, "mem");
  spec.gres = opt(vm, "gres");
  spec.gpus = opt(vm, "gpus");
  spec.gpus_per_task = opt(vm, "gpus-per-task");
  if (vm.count("sbatch-option")) spec.sbatch_options = vm["sbatch-option"].as<std::vector<std::string>>();
  if (vm.count("setup")) spec.setup = vm["setup"].as<std::vector<std::string>>();
  spec.generated_by = std::string("h5prune ") + H5PRUNE_VERSION + " (git " + H5PRUNE_GIT_REVISION + ")";

  // Paths: absolute, since a task may start elsewhere (and --chdir says where).
  const std::string input = vm["input"].as<std::string>();
  spec.input = absolute(input);
  spec.chdir = absolute(vm.count("chdir") ? vm["chdir"].as<std::string>() : std::string("."));
  spec.log_dir = absolute(vm["log-dir"].as<std::string>());
  if (vm.count("registry")) spec.registry = absolute(vm["registry"].as<std::string>());
  if (vm.count("metrics-dir")) spec.metrics_dir = absolute(vm["metrics-dir"].as<std::string>());
  const std::string exe = vm.count("h5prune") ? vm["h5prune"].as<std::string>() : self_path();
  spec.h5prune = exe.find('/') == std::string::npos ? exe : absolute(exe);
  if (per_tensor) {  // the array's size is known only from the file's selected tensors
    SweepOptions so;
    so.input = spec.input;
    so.selection.include = spec.include;
    so.selection.exclude = spec.exclude;
    so.selection.include_optimizer = spec.include_optimizer;
    if (spec.min_ndim) so.selection.min_ndim = *spec.min_ndim;
    spec.per_tensor_tensors = selected_tensors(so).size();
  }
  validate_sbatch_spec(spec);  // every value, before anything is created on disk

  std::error_code ec;
  if (!fs::is_regular_file(spec.input, ec)) throw InputError("cannot read '" + input + "': no such file");
  if (!fs::is_directory(spec.chdir, ec)) throw UsageError("--chdir '" + spec.chdir + "' is not a directory");
  if (spec.registry) check_registry_at_generation(*spec.registry, *spec.model);
  if (spec.metrics_dir) check_metrics_dir(*spec.metrics_dir);
  // Slurm opens the log before the script runs: a missing directory loses the job's output.
  fs::create_directories(spec.log_dir, ec);
  if (ec || !fs::is_directory(spec.log_dir) || ::access(spec.log_dir.c_str(), W_OK | X_OK) != 0)
    throw OutputError("cannot create the log directory '" + spec.log_dir + "'" + (ec ? ": " + ec.message() : ""));
  if (no_record)
    std::fprintf(stderr, "h5prune: warning: --no-record: the %zu tasks will record nothing and write no metrics\n",
                 spec.values.size());
  std::cout << render_sbatch(spec);
  return 0;
}

// The idempotency key each point's task records under, exactly as `sweep --materialize` does.
std::vector<std::string> point_keys(const SweepPlan& plan) {
  SweepOptions so;
  so.input = plan.input;
  so.mode = plan.list_option == "--sparsity" ? RuleMode::sparsity : RuleMode::threshold;
  so.scope = plan.scope && *plan.scope == "global" ? Scope::global : Scope::tensor;
  so.values = plan.values;
  so.selection.include = plan.include;
  so.selection.exclude = plan.exclude;
  so.selection.include_optimizer = plan.include_optimizer;
  if (plan.min_ndim) so.selection.min_ndim = *plan.min_ndim;
  try {
    for (const std::string& r : plan.rules) so.rules.push_back(parse_rule_option(r));
    return sweep_point_keys(so, H5PRUNE_VERSION);
  } catch (const Error& e) {
    throw InputError("cannot read the sweep's input '" + plan.input + "' to find its points in the registry: " + e.what());
  }
}

int slurm_status(const std::vector<std::string>& args) {
  po::options_description visible(
      "usage: h5prune slurm status sweep.sbatch [--json]\n\n"
      "For a script written by 'h5prune slurm sweep': which points are recorded in its registry, which\n"
      "failed (their metrics file or log says so) and which are missing (never ran, pending, running\n"
      "or killed), and the 'sbatch --array=...' line that reruns exactly the points not recorded.\n"
      "Reads only the registry, the metrics files and the logs: no squeue, no sacct.\n\noptions");
  visible.add_options()("help,h", "this help")("json", po::bool_switch(), "print the status as JSON");
  po::variables_map vm = parse_with_input(args, visible);  // the script is the one positional argument
  if (vm.count("help")) {
    std::cout << visible << "\nexit codes: 0 every point recorded, 1 some points not recorded, 2 usage,\n"
              << "3 unreadable script or input, 6 registry.\n";
    return 0;
  }
  po::notify(vm);
  if (!vm.count("input")) throw UsageError("missing script (usage: h5prune slurm status sweep.sbatch)");
  const SweepPlan plan = read_sweep_plan(vm["input"].as<std::string>());
  const auto points = sweep_status(plan, point_keys(plan));
  const std::string rerun = rerun_command(plan, points);
  std::size_t counts[3] = {0, 0, 0};
  for (const auto& p : points) ++counts[static_cast<int>(p.state)];
  if (vm["json"].as<bool>()) {
    json j = {{"script", plan.script}, {"registry", *plan.registry}, {"model", *plan.model}, {"points", json::array()},
              {"recorded", counts[0]}, {"failed", counts[1]}, {"missing", counts[2]},
              {"rerun", rerun.empty() ? json(nullptr) : json(rerun)}};
    for (const auto& p : points)
      j["points"].push_back({{"index", p.index}, {"value", p.value}, {"state", point_state_name(p.state)},
                             {"version", p.state == PointState::recorded ? json(p.version) : json(nullptr)},
                             {"detail", p.detail}});
    std::cout << j.dump(2) << std::endl;
  } else {
    std::vector<std::vector<std::string>> rows{{"task", plan.list_option.substr(2), "state", "version", "detail"}};
    for (const auto& p : points)
      rows.push_back({std::to_string(p.index), p.value, point_state_name(p.state),
                      p.state == PointState::recorded ? *plan.model + "@" + std::to_string(p.version) : "-", p.detail});
    print_table(rows);
    std::printf("\n%zu of %zu points recorded, %zu failed, %zu missing\n", counts[0], points.size(), counts[1], counts[2]);
    if (!rerun.empty()) std::printf("rerun the rest with:\n  %s\n", rerun.c_str());
  }
  return counts[0] == points.size() ? 0 : 1;
}

int slurm_collect(const std::vector<std::string>& args) {
  po::options_description visible(
      "usage: h5prune slurm collect sweep.sbatch [--json] [--keep-metrics]\n\n"
      "The sweep's final step: one row per point with its recorded version, achieved sparsity,\n"
      "retained L2 and sha256 (what 'slurm status' says for the others), and, unless --keep-metrics,\n"
      "removes the per-task metrics files of the recorded points: one-off tasks then leave the\n"
      "monitoring, while failed and missing points keep theirs. Prints the rerun line when some\n"
      "points are not recorded.\n\noptions");
  visible.add_options()("help,h", "this help")("json", po::bool_switch(), "print the result as JSON")(
      "keep-metrics", po::bool_switch(), "leave the per-task metrics files in place");
  po::variables_map vm = parse_with_input(args, visible);  // the script is the one positional argument
  if (vm.count("help")) {
    std::cout << visible << "\nexit codes: 0 every point recorded, 1 some points not recorded, 2 usage,\n"
              << "3 unreadable script or input, 5 a metrics file could not be removed, 6 registry.\n";
    return 0;
  }
  po::notify(vm);
  if (!vm.count("input")) throw UsageError("missing script (usage: h5prune slurm collect sweep.sbatch)");
  const SweepPlan plan = read_sweep_plan(vm["input"].as<std::string>());
  const auto points = sweep_status(plan, point_keys(plan));
  const registry::Layout l = registry::Layout::open(*plan.registry);
  const std::vector<std::string> retired =
      vm["keep-metrics"].as<bool>() ? std::vector<std::string>{} : retire_task_metrics(plan, points);
  const std::string rerun = rerun_command(plan, points);
  std::size_t recorded = 0;
  json j = {{"script", plan.script}, {"registry", *plan.registry}, {"model", *plan.model}, {"points", json::array()},
            {"metrics_removed", retired}, {"rerun", rerun.empty() ? json(nullptr) : json(rerun)}};
  std::vector<std::vector<std::string>> rows{
      {"task", plan.list_option.substr(2), "state", "version", "sparsity", "retained L2", "sha256"}};
  for (const auto& p : points) {
    json row = {{"index", p.index}, {"value", p.value}, {"state", point_state_name(p.state)}, {"version", nullptr},
                {"sparsity", nullptr}, {"retained_l2", nullptr}, {"sha256", nullptr}, {"detail", p.detail}};
    std::vector<std::string> text{std::to_string(p.index), p.value, point_state_name(p.state), "-", "-", "-", "-"};
    if (p.state == PointState::recorded) {
      ++recorded;
      const Manifest m = registry::load_manifest(l, *plan.model, p.version);
      row["version"] = p.version;
      row["sparsity"] = m.total.sparsity();
      row["retained_l2"] = m.total.retained_l2();
      row["sha256"] = m.output_sha256;
      text = {std::to_string(p.index), p.value, "recorded", *plan.model + "@" + std::to_string(p.version),
              fmt("%.4f", m.total.sparsity()), fmt("%.4f", m.total.retained_l2()), m.output_sha256.substr(0, 12)};
    }
    j["points"].push_back(row);
    rows.push_back(text);
  }
  if (vm["json"].as<bool>()) {
    std::cout << j.dump(2) << std::endl;
  } else {
    print_table(rows);
    std::printf("\n%zu of %zu points recorded; %zu per-task metrics file%s removed\n", recorded, points.size(),
                retired.size(), retired.size() == 1 ? "" : "s");
    if (!rerun.empty()) std::printf("rerun the rest with:\n  %s\n", rerun.c_str());
  }
  return recorded == points.size() ? 0 : 1;
}

}  // namespace

int cmd_slurm(const std::vector<std::string>& args) {
  const std::string what = args.empty() ? "" : args.front();
  const std::vector<std::string> rest(args.begin() + (args.empty() ? 0 : 1), args.end());
  if (what == "sweep") return slurm_sweep(rest);
  if (what == "status") return slurm_status(rest);
  if (what == "collect") return slurm_collect(rest);
  if (what == "-h" || what == "--help") {
    std::cout << kUsage << "\n\n'h5prune slurm sweep|status|collect --help' list the options.\n";
    return 0;
  }
  throw UsageError("unknown slurm command '" + what + "': expected 'slurm sweep', 'slurm status' or 'slurm collect' (see h5prune slurm --help)");
}

}  // namespace h5p::cli
