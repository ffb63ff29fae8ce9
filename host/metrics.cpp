// A prune run's Prometheus families and its textfile: identity, file name, failure mapping,
// and the last success time carried over from the previous file of the same identity.
#include "host/metrics.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/errors.hpp"
#include "common/interrupt.hpp"
#include "formats/sha256.hpp"

namespace h5p {

namespace {

constexpr std::size_t kMaxNameBytes = 120;
constexpr std::uintmax_t kMaxPreviousFileBytes = 64u << 20;

FailureReason signal_reason(int sig) {
  switch (sig) {
    case SIGINT: return FailureReason::sigint;
    case SIGTERM: return FailureReason::sigterm;
    case SIGUSR1: return FailureReason::sigusr1;
    default: return FailureReason::signal;
  }
}

FailureReason exit_code_reason(int code) {
  switch (static_cast<ExitCode>(code)) {
    case ExitCode::usage: return FailureReason::usage;
    case ExitCode::input: return FailureReason::input;
    case ExitCode::data: return FailureReason::data;
    case ExitCode::output: return FailureReason::output;
    case ExitCode::registry: return FailureReason::registry;
    case ExitCode::evaluation: return FailureReason::evaluation;
    default: return FailureReason::internal;
  }
}

bool file_name_byte(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == '-';
}

// Runs of bytes outside [A-Za-z0-9._-] become one '_'; at most kMaxNameBytes bytes.
std::string sanitize(const std::string& s) {
  std::string out;
  for (const char c : s) {
    if (file_name_byte(c)) out += c;
    else if (out.empty() || out.back() != '_') out += '_';
  }
  if (out.size() > kMaxNameBytes) out.resize(kMaxNameBytes);
  return out;
}

bool ends_in_underscore_digits(const std::string& s) {
  std::size_t i = s.size();
  while (i > 0 && s[i - 1] >= '0' && s[i - 1] <= '9') --i;
  return i < s.size() && i > 0 && s[i - 1] == '_';
}

std::optional<double> previous_last_success(const std::string& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec || size > kMaxPreviousFileBytes) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return prom::first_sample_value(text.str(), "h5prune_last_success_timestamp_seconds");
}

}  // namespace

const char* failure_reason_name(FailureReason r) {
  switch (r) {
    case FailureReason::none: return "none";
    case FailureReason::usage: return "usage";
    case FailureReason::input: return "input";
    case FailureReason::data: return "data";
    case FailureReason::output: return "output";
    case FailureReason::registry: return "registry";
    case FailureReason::evaluation: return "evaluation";
    case FailureReason::sigint: return "sigint";
    case FailureReason::sigterm: return "sigterm";
    case FailureReason::sigusr1: return "sigusr1";
    case FailureReason::signal: return "signal";
    case FailureReason::internal: return "internal";
  }
  return "internal";
}

RunFailure classify_failure(std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const Interrupted& e) {
    return {signal_reason(e.signal_number()), e.exit_code()};
  } catch (const Error& e) {
    if (const int sig = pending_signal()) return {signal_reason(sig), 128 + sig};
    return {exit_code_reason(e.exit_code()), e.exit_code()};
  } catch (...) {
    return {FailureReason::internal, 1};
  }
}

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void read_slurm_identity(RunMetrics& m) {
  if (const char* task = std::getenv("SLURM_ARRAY_TASK_ID")) m.array_task = task;
  if (const char* job = std::getenv("SLURM_JOB_ID")) m.slurm_job_id = job;
}

void record_eval_failure(RunMetrics& m) {
  m.success = false;
  m.failure = {FailureReason::evaluation, static_cast<int>(ExitCode::evaluation)};
}

void record_success(RunMetrics& m, const PruneResult& r) {
  m.success = true;
  m.output_written = true;
  m.failure = {FailureReason::none, 0};
  m.backend = r.backend;
  m.device = r.device;
  m.seconds = r.seconds;
  m.bytes_read = r.bytes_read;
  m.bytes_written = r.bytes_written;
  m.output_file_bytes = r.output_bytes;
  m.tensors = r.tensors.size();
  m.parameters = r.total.n;
  m.pruned = r.total.pruned;
  m.retained_l2 = r.total.retained_l2();
  m.zeros_before = r.total.zeros_before;
  m.zeros_after = r.total.zeros_after;
  m.tensor_results.clear();
  for (const TensorResult& t : r.tensors)
    m.tensor_results.push_back({t.path, t.n, t.pruned, t.newly_zeroed(), t.threshold});
}

std::string metrics_file_name(const std::string& model, const std::string& array_task) {
  const std::string name = sanitize(model);
  std::string file = "h5prune_";
  file += name;
  if (name != model || (array_task.empty() && ends_in_underscore_digits(name))) {
    file += '-';
    file += sha256_bytes(model.data(), model.size()).substr(0, 8);
  }
  if (!array_task.empty()) {
    file += '_';
    file += sanitize(array_task);
  }
  file += ".prom";
  return file;
}

std::vector<prom::Family> run_families(const RunMetrics& m, std::optional<double> last_success) {
  using prom::Family;
  using prom::Labels;
  const Labels id{{"model", m.model}, {"array_task", m.array_task}};
  const auto with = [&](Labels extra) {
    Labels l = id;
    l.insert(l.end(), extra.begin(), extra.end());
    return l;
  };
  const auto gauge = [&](const char* name, const char* help, std::optional<double> value) {
    Family f{name, help, "gauge", {}};
    if (value) f.samples.push_back({id, *value});
    return f;
  };
  // Output families: a run that wrote an output, also when its evaluation failed after; not `eval`
  // or `search`, which write none of their own.
  const bool wrote = m.output_written;
  const auto ok = [&](double v) { return wrote ? std::optional<double>(v) : std::nullopt; };
  const auto u = [](std::uint64_t v) { return static_cast<double>(v); };

  std::vector<Family> fs;
  fs.push_back(gauge("h5prune_last_run_start_timestamp_seconds", "Unix time the last run started.", m.start_time));
  fs.push_back(gauge("h5prune_last_run_end_timestamp_seconds", "Unix time the last run ended.", m.end_time));
  fs.push_back(gauge("h5prune_last_success_timestamp_seconds",
                     "Unix time the last successful run ended (kept across failed runs).",
                     m.success ? std::optional<double>(m.end_time) : last_success));
  fs.push_back(gauge("h5prune_last_run_success", "1 if the last run succeeded, 0 if it failed.", m.success ? 1 : 0));
  fs.push_back(gauge("h5prune_last_run_exit_code", "Exit code of the last run (0 ok, 2-8 errors, 128+N signal N).",
                     m.failure.exit_code));
  {
    Family f{"h5prune_last_run_failure_info", "Why the last run failed (present only after a failure).", "gauge", {}};
    if (!m.success) f.samples.push_back({with({{"reason", failure_reason_name(m.failure.reason)}}), 1});
    fs.push_back(f);
  }
  {
    Family f{"h5prune_last_run_info", "Build and backend of the last run; value always 1.", "gauge", {}};
    f.samples.push_back({with({{"backend", m.backend},
                               {"device", m.device},
                               {"version", m.tool_version},
                               {"slurm_job_id", m.slurm_job_id}}),
                         1});
    fs.push_back(f);
  }
  {
    Family f{"h5prune_last_run_duration_seconds",
             "Seconds the last run spent per stage (read, compute, write, publish; total is the whole command).",
             "gauge", {}};
    if (wrote) {
      f.samples.push_back({with({{"stage", "read"}}), m.seconds.read});
      f.samples.push_back({with({{"stage", "compute"}}), m.seconds.compute});
      f.samples.push_back({with({{"stage", "write"}}), m.seconds.write});
      f.samples.push_back({with({{"stage", "publish"}}), m.seconds.publish});
    }
    f.samples.push_back({with({{"stage", "total"}}), m.end_time - m.start_time});
    fs.push_back(f);
  }
  fs.push_back(gauge("h5prune_last_run_read_bytes", "Weight bytes read from the input, all passes.", ok(u(m.bytes_read))));
  fs.push_back(gauge("h5prune_last_run_written_bytes", "Weight bytes written to the output.", ok(u(m.bytes_written))));
  fs.push_back(gauge("h5prune_last_run_output_file_bytes", "Size of the output file.", ok(u(m.output_file_bytes))));
  fs.push_back(gauge("h5prune_last_run_tensors", "Tensors selected for pruning.", ok(u(m.tensors))));
  fs.push_back(gauge("h5prune_last_run_parameters", "Weights in the selected tensors.", ok(u(m.parameters))));
  fs.push_back(gauge("h5prune_last_run_pruned_parameters", "Weights that are zero after pruning because the rule pruned them.",
                     ok(u(m.pruned))));
  fs.push_back(gauge("h5prune_last_run_zeros_before_parameters", "Weights of the selected tensors that were zero in the input.",
                     ok(u(m.zeros_before))));
  fs.push_back(gauge("h5prune_last_run_newly_zeroed_parameters",
                     "Weights this run zeroed: nonzero in the input, zero in the output.",
                     ok(u(m.zeros_after - m.zeros_before))));
  fs.push_back(gauge("h5prune_last_run_zeros_after_parameters", "Weights of the selected tensors that are zero in the output.",
                     ok(u(m.zeros_after))));
  fs.push_back(gauge("h5prune_last_run_sparsity_ratio", "Achieved sparsity: pruned / parameters.",
                     ok(m.parameters ? u(m.pruned) / u(m.parameters) : 0.0)));
  fs.push_back(gauge("h5prune_last_run_requested_sparsity_ratio", "Sparsity requested: S of --sparsity, (M-N)/M of --nm N:M.",
                     m.requested_sparsity));
  fs.push_back(gauge("h5prune_last_run_retained_l2_ratio",
                     "L2 norm of the selected weights after pruning over before (1 when they were all zero).",
                     ok(m.retained_l2)));
  fs.push_back(gauge("h5prune_expected_interval_seconds",
                     "A periodic job's longest expected gap between successes (--metrics-expect-every); absent for one-off runs.",
                     m.expected_interval_seconds));
  fs.push_back(gauge("h5prune_last_run_threshold", "Magnitude threshold requested with --threshold.", m.threshold));
  fs.push_back(gauge("h5prune_last_run_registry_version", "Registry version the last run's output was recorded as.",
                     wrote ? m.registry_version : std::nullopt));
  if (m.per_tensor && wrote) {
    Family n{"h5prune_last_run_tensor_parameters", "Weights in one selected tensor.", "gauge", {}};
    Family p{"h5prune_last_run_tensor_pruned_parameters", "Weights pruned in one tensor.", "gauge", {}};
    Family z{"h5prune_last_run_tensor_newly_zeroed_parameters", "Weights this run zeroed in one tensor.", "gauge", {}};
    Family s{"h5prune_last_run_tensor_sparsity_ratio", "Achieved sparsity of one tensor.", "gauge", {}};
    Family k{"h5prune_last_run_tensor_threshold",
             "Magnitude boundary K of one tensor: every |w| < K was pruned, ties at K in position order.", "gauge", {}};
    for (const TensorMetrics& t : m.tensor_results) {
      const prom::Labels l = with({{"tensor", t.path}});
      n.samples.push_back({l, u(t.n)});
      p.samples.push_back({l, u(t.pruned)});
      z.samples.push_back({l, u(t.newly_zeroed)});
      s.samples.push_back({l, t.n ? u(t.pruned) / u(t.n) : 0.0});
      if (m.has_boundary) k.samples.push_back({l, t.threshold});
    }
    fs.insert(fs.end(), {n, p, z, s, k});
  }
  // Evaluation families: present only when the run evaluated its output (--eval).
  if (m.eval) {
    const std::string version = m.registry_version ? std::to_string(*m.registry_version) : "";
    fs.push_back(gauge("h5prune_eval_success", "1 if the evaluation of the last run's output succeeded, 0 if it failed.",
                       m.eval->ok ? 1 : 0));
    fs.push_back(gauge("h5prune_eval_duration_seconds", "Wall time of the evaluation command.", m.eval->seconds));
    Family v{"h5prune_eval_value", "A metric the evaluation command reported for the last run's output.", "gauge", {}};
    for (const auto& [name, value] : m.eval->values)
      v.samples.push_back({with({{"version", version}, {"metric", name}}), value});
    Family b{"h5prune_eval_baseline_value", "The same metric of the model's unpruned input (its baseline).", "gauge", {}};
    for (const auto& [name, value] : m.eval->baseline) b.samples.push_back({with({{"metric", name}}), value});
    fs.insert(fs.end(), {v, b});
  }
  if (m.search) {
    fs.push_back(gauge("h5prune_search_probes", "Probes the last search made (recorded ones found again included).",
                       u(m.search->probes)));
    fs.push_back(gauge("h5prune_search_failed_probes",
                       "Probes of the last search whose evaluation failed (counted as beyond the drop).",
                       u(m.search->failed_probes)));
    fs.push_back(gauge("h5prune_search_answer_sparsity_ratio",
                       "The highest sparsity (a grid point) within the drop the last search found; absent when none.",
                       m.search->answer));
  }
  return fs;
}

void check_metrics_dir(const std::string& dir) {
  struct stat st {};
  if (dir.empty()) throw OutputError("empty metrics directory (--metrics-dir or H5PRUNE_METRICS_DIR)");
  if (stat(dir.c_str(), &st) != 0)
    throw OutputError("cannot write metrics to '" + dir + "': " + std::strerror(errno));
  if (!S_ISDIR(st.st_mode)) throw OutputError("cannot write metrics to '" + dir + "': not a directory");
  if (access(dir.c_str(), W_OK | X_OK) != 0)
    throw OutputError("cannot write metrics to '" + dir + "': directory is not writable");
}

std::string write_run_metrics(const std::string& dir, const RunMetrics& m) {
  const std::string path = (std::filesystem::path(dir) / metrics_file_name(m.model, m.array_task)).string();
  const std::optional<double> last_success = m.success ? std::nullopt : previous_last_success(path);
  prom::write_file_atomically(path, prom::render(run_families(m, last_success)));
  return path;
}

std::optional<std::string> write_failure_metrics(const std::string& dir, RunMetrics& m, std::exception_ptr error) {
  try {
    m.success = false;
    m.failure = classify_failure(error);
    if (m.failure.reason != FailureReason::evaluation) m.output_written = false;  // an earlier point's output
    m.end_time = unix_now();
    write_run_metrics(dir, m);
    return std::nullopt;
  } catch (const std::exception& e) {
    return std::string(e.what());
  }
}

}  // namespace h5p
