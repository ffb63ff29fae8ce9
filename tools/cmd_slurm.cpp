// `h5prune slurm sweep`: prints an sbatch script that runs one sweep point per array task,
// each an idempotent worker (no polling, no scontrol, no sacct), safe at Slurm's time limit.
#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <unistd.h>

#include "common/errors.hpp"
#include "host/sweep.hpp"
#include "host/sweep_values.hpp"
#include "tools/commands.hpp"
#include "tools/version.hpp"

namespace po = boost::program_options;

namespace h5p::cli {
namespace {

// Single-quotes a word for bash.
std::string sh_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string self_path() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "h5prune";
  return std::string(buf, static_cast<std::size_t>(n));
}

}  // namespace

int cmd_slurm(const std::vector<std::string>& args) {
  po::options_description visible(
      "usage: h5prune slurm sweep MODEL.h5 (--sparsity LIST | --threshold LIST) [options] > sweep.sbatch\n\n"
      "Prints an sbatch script for a job array with one sweep point per task. Each task runs\n"
      "'h5prune sweep ... --array-task auto' in the background and forwards SIGUSR1 (sent 120 s\n"
      "before the time limit) and SIGTERM to it, so it stops cleanly; with --registry each task\n"
      "records its point as a version (a rerun or requeue skips points already recorded).\n\noptions");
  visible.add_options()
      ("help,h", "this help")
      ("sparsity", po::value<std::string>(), "sparsities, as for sweep")
      ("threshold", po::value<std::string>(), "thresholds, as for sweep")
      ("scope", po::value<std::string>(), "tensor or global, with --sparsity")
      ("include", po::value<std::string>(), "selection regex, passed through")
      ("exclude", po::value<std::string>(), "exclusion regex, passed through")
      ("include-optimizer", po::bool_switch(), "also select optimizer state, passed through")
      ("memory-limit", po::value<std::string>(), "h5prune's --memory-limit in each task, passed through")
      ("registry", po::value<std::string>(), "registry directory: each task records its point (--materialize)")
      ("model", po::value<std::string>(), "model name in the registry and metrics")
      ("metrics-dir", po::value<std::string>(), "node_exporter textfile directory for per-task metrics")
      ("partition", po::value<std::string>(), "#SBATCH --partition")
      ("account", po::value<std::string>(), "#SBATCH --account")
      ("time", po::value<std::string>()->default_value("00:30:00"), "#SBATCH --time per task")
      ("gpus", po::value<int>(), "#SBATCH --gpus per task (and --backend auto picks CUDA)")
      ("cpus-per-task", po::value<int>()->default_value(2), "#SBATCH --cpus-per-task (also --threads)")
      ("mem", po::value<std::string>(), "#SBATCH --mem")
      ("max-parallel", po::value<int>(), "run at most this many tasks at once (--array=...%N)")
      ("log-dir", po::value<std::string>()->default_value("."), "directory of the %A_%a log files")
      ("job-name", po::value<std::string>(), "#SBATCH --job-name (default h5prune-sweep)")
      ("h5prune", po::value<std::string>(), "path of h5prune on the compute nodes (default: this binary)");
  po::options_description all;
  all.add(visible).add_options()("what", po::value<std::string>())("input", po::value<std::string>());
  po::positional_options_description pos;
  pos.add("what", 1).add("input", 1);
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(all).positional(pos).run(), vm);
  if (vm.count("help")) {
    std::cout << visible << "\nSee docs/SLURM.md for a worked example.\n";
    return 0;
  }
  po::notify(vm);
  if (!vm.count("what") || vm["what"].as<std::string>() != "sweep")
    throw UsageError("usage: h5prune slurm sweep MODEL.h5 --sparsity LIST [options] (only 'sweep' is supported)");
  if (!vm.count("input")) throw UsageError("missing input file (usage: h5prune slurm sweep MODEL.h5 --sparsity LIST)");
  const bool has_s = vm.count("sparsity"), has_t = vm.count("threshold");
  if (has_s == has_t) throw UsageError("give exactly one list: --sparsity LIST or --threshold LIST");
  const std::string list_opt = has_s ? "--sparsity" : "--threshold";
  const std::string list = vm[has_s ? "sparsity" : "threshold"].as<std::string>();
  const auto values = expand_sweep_values(list, list_opt);
  validate_sweep_values(has_s ? RuleMode::sparsity : RuleMode::threshold, values);
  if (vm.count("scope") && has_t) throw UsageError("--scope applies to --sparsity only");
  if (vm.count("registry") && !vm.count("model")) throw UsageError("--registry needs --model NAME");
  const int cpus = vm["cpus-per-task"].as<int>();
  if (cpus < 1) throw UsageError("invalid value for --cpus-per-task: must be >= 1");

  const std::string input = vm["input"].as<std::string>();
  const std::string exe = vm.count("h5prune") ? vm["h5prune"].as<std::string>() : self_path();
  const std::string log_dir = vm["log-dir"].as<std::string>();
  std::ostringstream s;
  s << "#!/bin/bash\n";
  s << "#SBATCH --job-name=" << (vm.count("job-name") ? vm["job-name"].as<std::string>() : "h5prune-sweep") << "\n";
  s << "#SBATCH --array=0-" << values.size() - 1;
  if (vm.count("max-parallel")) s << "%" << vm["max-parallel"].as<int>();
  s << "\n";
  s << "#SBATCH --output=" << log_dir << "/h5prune-sweep_%A_%a.log\n";
  s << "#SBATCH --open-mode=append\n";
  s << "#SBATCH --signal=B:USR1@120\n";
  s << "#SBATCH --requeue\n";
  s << "#SBATCH --time=" << vm["time"].as<std::string>() << "\n";
  s << "#SBATCH --ntasks=1\n#SBATCH --cpus-per-task=" << cpus << "\n";
  if (vm.count("partition")) s << "#SBATCH --partition=" << vm["partition"].as<std::string>() << "\n";
  if (vm.count("account")) s << "#SBATCH --account=" << vm["account"].as<std::string>() << "\n";
  if (vm.count("mem")) s << "#SBATCH --mem=" << vm["mem"].as<std::string>() << "\n";
  if (vm.count("gpus")) s << "#SBATCH --gpus=" << vm["gpus"].as<int>() << "\n";
  s << "#\n# Generated by h5prune " << H5PRUNE_VERSION << " (git " << H5PRUNE_GIT_REVISION << "): " << values.size()
    << " points of " << list_opt << " " << list << ", one per array task.\n";
  s << "# Each task is an idempotent worker: rerun or requeued, it skips points already recorded.\n\n";
  s << "set -u\n";
  s << "echo \"h5prune sweep: task ${SLURM_ARRAY_TASK_ID} of job ${SLURM_ARRAY_JOB_ID}, restart "
       "${SLURM_RESTART_COUNT:-0}, on $(hostname) at $(date -u +%Y-%m-%dT%H:%M:%SZ)\"\n\n";
  s << sh_quote(exe) << " sweep " << sh_quote(input) << " " << list_opt << " " << sh_quote(list);
  if (vm.count("scope")) s << " --scope " << sh_quote(vm["scope"].as<std::string>());
  if (vm.count("include")) s << " --include " << sh_quote(vm["include"].as<std::string>());
  if (vm.count("exclude")) s << " --exclude " << sh_quote(vm["exclude"].as<std::string>());
  if (vm["include-optimizer"].as<bool>()) s << " --include-optimizer";
  if (vm.count("memory-limit")) s << " --memory-limit " << sh_quote(vm["memory-limit"].as<std::string>());
  s << " --threads " << cpus << " --array-task auto";
  if (vm.count("registry"))
    s << " --materialize --registry " << sh_quote(vm["registry"].as<std::string>()) << " --model "
      << sh_quote(vm["model"].as<std::string>());
  else if (vm.count("model"))
    s << " --model " << sh_quote(vm["model"].as<std::string>());
  if (vm.count("metrics-dir")) s << " --metrics-dir " << sh_quote(vm["metrics-dir"].as<std::string>());
  s << " &\npid=$!\n\n";
  s << "# Slurm sends USR1 to this shell 120 s before the time limit, TERM on scancel: pass them on;\n"
       "# h5prune stops at the next slab, removes temporaries, writes failure metrics, exits 128+N.\n";
  s << "trap 'kill -USR1 \"$pid\" 2>/dev/null' USR1\n";
  s << "trap 'kill -TERM \"$pid\" 2>/dev/null' TERM INT\n";
  s << "# A trapped signal interrupts 'wait'; wait again until h5prune has really exited.\n";
  s << "while kill -0 \"$pid\" 2>/dev/null; do wait \"$pid\"; done\n";
  s << "wait \"$pid\"\nrc=$?\n";
  s << "echo \"h5prune sweep: task ${SLURM_ARRAY_TASK_ID} exited with $rc at $(date -u +%Y-%m-%dT%H:%M:%SZ)\"\n";
  s << "exit $rc\n";
  std::cout << s.str();
  return 0;
}

}  // namespace h5p::cli
