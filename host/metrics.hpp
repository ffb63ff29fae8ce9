// What a prune run records for Prometheus (identity, timings, sizes, sparsity, outcome) and
// how it becomes the textfile h5prune_<model>[_<array task>].prom. Families: docs/METRICS.md.
#pragma once
#include <cstdint>
#include <exception>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "formats/prometheus.hpp"
#include "host/pipeline.hpp"

namespace h5p {

// Why a run failed; a bounded set, written as the `reason` label.
enum class FailureReason {
  none, usage, input, data, output, registry, evaluation, sigint, sigterm, sigusr1, signal, internal
};

const char* failure_reason_name(FailureReason r);

struct RunFailure {
  FailureReason reason = FailureReason::internal;
  int exit_code = 1;  // the exit code the CLI returns for this error
};

// Maps an exception as the CLI does (tools/main.cpp): Interrupted -> the signal, 128+N;
// an h5p::Error while a signal is pending -> that signal; other h5p::Error -> its kind;
// anything else -> internal, 1.
RunFailure classify_failure(std::exception_ptr error);

struct TensorMetrics {
  std::string path;
  std::uint64_t n = 0;
  std::uint64_t pruned = 0;
  std::uint64_t newly_zeroed = 0;  // nonzero in the input, zero in the output
  double threshold = 0;  // magnitude boundary K
};

struct RunMetrics {
  // Identity: one file per (model, array task); the exact model name goes in the label.
  std::string model;
  std::string array_task;    // SLURM_ARRAY_TASK_ID, empty outside job arrays
  std::string slurm_job_id;  // SLURM_JOB_ID, empty outside Slurm
  bool per_tensor = false;   // write per-tensor series (cardinality: one series per tensor)
  bool has_boundary = true;  // false for N:M rules, which prune without a magnitude boundary

  double start_time = 0;  // Unix seconds
  double end_time = 0;

  // The rule asked for (known even when the run fails).
  std::optional<double> requested_sparsity;
  std::optional<double> threshold;

  // Set by the registry when it records the output as a version; absent otherwise.
  std::optional<std::uint64_t> registry_version;

  // A periodic job's promise (--metrics-expect-every): a success at least this often. One-off
  // runs leave it unset, so the no-recent-success alert never fires for them.
  std::optional<double> expected_interval_seconds;

  // Outcome; the rest is filled only by a run that wrote its output (record_success), and
  // kept when the evaluation that followed failed.
  bool success = false;
  bool output_written = false;
  RunFailure failure;
  std::string backend, device, tool_version;
  StageSeconds seconds;  // read, compute, write, publish (total is end_time - start_time)
  std::uint64_t bytes_read = 0, bytes_written = 0, output_file_bytes = 0;
  std::uint64_t tensors = 0, parameters = 0, pruned = 0;
  double retained_l2 = 1;  // of the selected weights: sqrt(sum of squares after / before)
  std::uint64_t zeros_before = 0, zeros_after = 0;  // newly zeroed = after - before
  std::vector<TensorMetrics> tensor_results;

  // The evaluation of the output (--eval), when one ran; docs/METRICS.md h5prune_eval_*.
  struct Eval {
    bool ok = false;
    double seconds = 0;
    std::map<std::string, double> values;    // empty when it failed
    std::map<std::string, double> baseline;  // the model's baseline, when recorded
  };
  std::optional<Eval> eval;

  // What a `search` found (docs/METRICS.md h5prune_search_*), when the run was one.
  struct Search {
    std::uint64_t probes = 0;
    std::uint64_t failed_probes = 0;  // evaluations that failed (counted as beyond the drop)
    std::optional<double> answer;     // the answer (a grid point of --sparsity); none found: absent
  };
  std::optional<Search> search;
};

// Wall-clock time now, Unix seconds with sub-second precision.
double unix_now();

// Identity from the environment: SLURM_ARRAY_TASK_ID and SLURM_JOB_ID.
void read_slurm_identity(RunMetrics& m);

// Copies what a finished run produced into m and marks it successful.
void record_success(RunMetrics& m, const PruneResult& r);

// Marks m as failed by its evaluation (reason "evaluation", exit 8); the output's families stay.
void record_eval_failure(RunMetrics& m);

// The file name for an identity: h5prune_<model>[_<task>].prom with every byte outside
// [A-Za-z0-9._-] (runs of them) replaced by one '_', at most 120 bytes of the name; when that
// changed the name, or when it could be read as another model's array task file (no task and
// the name ends in _<digits>), '-' and 8 hex digits of the name's SHA-256 are appended.
std::string metrics_file_name(const std::string& model, const std::string& array_task);

// The families of one run; last_success is carried over from the previous file when this
// run failed.
std::vector<prom::Family> run_families(const RunMetrics& m, std::optional<double> last_success);

// Throws OutputError unless dir is an existing, writable directory.
void check_metrics_dir(const std::string& dir);

// Marks m failed for `error` (classify_failure), stamps its end time and writes it. A write
// that fails too returns its message for the caller to warn with, so that the original error
// and its exit code reach the user unchanged.
std::optional<std::string> write_failure_metrics(const std::string& dir, RunMetrics& m, std::exception_ptr error);

// Writes the run's file atomically into dir (reading the previous file of the same identity
// for its last success time); returns the file's path. Throws OutputError.
std::string write_run_metrics(const std::string& dir, const RunMetrics& m);

}  // namespace h5p
