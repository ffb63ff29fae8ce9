// The sbatch script of a sweep job array (`h5prune slurm sweep`): what goes in, how each value
// is checked or quoted for its context (#SBATCH line or bash), and the rendered text.
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "host/shell_word.hpp"

namespace h5p {

struct SbatchSpec {
  // The sweep each task runs (paths absolute: the job may start in another directory).
  std::string h5prune;          // the binary on the compute nodes (absolute, or a name found on PATH)
  std::string input;
  std::string list_option;      // "--sparsity" or "--threshold"
  std::string list;             // as the user wrote it
  std::vector<std::string> values;  // the expanded points: task i runs values[i]
  std::optional<std::string> scope, include, exclude, memory_limit;
  bool include_optimizer = false;  // --include-optimizer, passed through
  std::optional<int> min_ndim;     // --min-ndim, passed through
  // Group rules as REGEX=SPEC, in force order (the --rule options, then the --rules file's
  // entries): each task gets them as --rule options, so a later edit of the file cannot change
  // what the tasks prune, and the plan line carries them for `slurm status` to find the points.
  std::vector<std::string> rules;
  std::optional<std::string> registry, model, metrics_dir;
  std::optional<std::string> eval, eval_timeout;  // --eval CMD (as given) and --eval-timeout, passed on
  // --per-tensor: the number of selected tensors; the array has tensors x points tasks, task i
  // running the pair (tensor i / points, point i % points) (host/sensitivity).
  std::optional<std::size_t> per_tensor_tensors;

  // Slurm.
  std::string job_name = "h5prune-sweep";
  std::string log_dir;          // absolute; must exist when sbatch runs (the generator makes it)
  std::string chdir;            // absolute working directory of every task
  std::string time = "00:30:00";
  int signal_lead_seconds = 120;  // USR1 this long before the time limit
  int cpus_per_task = 2;
  std::optional<int> max_parallel;
  std::optional<std::string> partition, account, qos, constraint, mem, gres, gpus, gpus_per_task;
  std::vector<std::string> sbatch_options;  // passed through: "--name" or "--name=value"
  std::vector<std::string> setup;           // shell lines run before h5prune (module load ...)

  std::string generated_by;     // "h5prune 0.1.0 (git ...)", for the script's header
};

// Checks every value for its context; UsageError naming the option and the problem. Values
// for #SBATCH lines may not hold control characters (a newline would end the directive and
// start a shell command); names (partition, account, qos) are Slurm names; --time is a Slurm
// duration longer than the signal lead; passthrough options cannot override the ones the
// script relies on (--array, --output, --signal, ...).
void validate_sbatch_spec(const SbatchSpec& spec);

// The script (validate first). Every #SBATCH value is double-quoted when it is not a plain word,
// every bash word single-quoted; the last header line is "# h5prune-plan: {json}", which
// `h5prune slurm status` reads back.
std::string render_sbatch(const SbatchSpec& spec);

// Slurm's --time forms (M, M:S, H:M:S, D-H, D-H:M, D-H:M:S) in seconds; nullopt for UNLIMITED
// or INFINITE. UsageError for anything else.
std::optional<long> slurm_time_seconds(const std::string& text);

// A value for an #SBATCH line: as is when it is a plain word, else in double quotes with \ and "
// escaped (sbatch's own parser reads it back). UsageError for control characters.
std::string sbatch_word(const std::string& value, const std::string& option);

}  // namespace h5p
