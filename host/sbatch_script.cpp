// Renders the sweep's sbatch script; every user value is checked or quoted for where it lands.
#include "host/fixed_regex.hpp"
#include "host/sbatch_script.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "common/errors.hpp"

namespace h5p {

namespace {

bool is_control(char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }

void no_control(const std::string& value, const std::string& option, bool allow_tab = false) {
  for (char c : value)
    if (is_control(c) && !(allow_tab && c == '\t'))
      throw UsageError("invalid value for " + option + ": it holds a control character (" +
                       (c == '\n' ? std::string("a newline") : "byte " + std::to_string(static_cast<int>(c))) +
                       "), which would end the line it is written on");
}

void matches(const std::string& value, const FixedRegex& form, const std::string& option, const std::string& expected) {
  no_control(value, option);
  if (!form.matches(value)) throw UsageError("invalid value '" + value + "' for " + option + ": expected " + expected);
}

// Options the script sets itself (or through its own flags): a passthrough may not change them.
const std::set<std::string>& owned_options() {
  static const std::set<std::string> s{"array", "output", "error", "open-mode", "signal", "requeue", "no-requeue",
                                       "wrap", "ntasks", "chdir", "time", "job-name", "cpus-per-task", "partition",
                                       "account", "qos", "constraint", "mem", "gres", "gpus", "gpus-per-task", "parsable"};
  return s;
}

// Slurm expands %A, %a, ... in --output; a literal % is %%. A backslash would switch the
// expansion off for the whole name, so it is refused.
std::string output_pattern(const std::string& log_dir) {
  if (log_dir.find('\\') != std::string::npos)
    throw UsageError("invalid value '" + log_dir + "' for --log-dir: a backslash turns off Slurm's %A_%a file names");
  std::string dir;
  for (char c : log_dir) dir += c == '%' ? std::string("%%") : std::string(1, c);
  return dir + "/h5prune-sweep_%A_%a.log";
}

}  // namespace

std::string sbatch_word(const std::string& value, const std::string& option) {
  no_control(value, option);
  const bool plain = !value.empty() && std::all_of(value.begin(), value.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::string("._-:/%@+,=").find(c) != std::string::npos;
  });
  if (plain) return value;
  std::string q = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') q += '\\';
    q += c;
  }
  return q + "\"";
}

std::optional<long> slurm_time_seconds(const std::string& text) {
  if (text == "UNLIMITED" || text == "INFINITE" || text == "unlimited" || text == "infinite") return std::nullopt;
  static const FixedRegex form(R"(^(?:([0-9]{1,5})-([0-9]{1,5})(?::([0-9]{1,5})(?::([0-9]{1,5}))?)?|([0-9]{1,7})(?::([0-9]{1,5})(?::([0-9]{1,5}))?)?)$)");
  no_control(text, "--time");
  const auto m = form.match(text);
  if (!m)
    throw UsageError("invalid value '" + text + "' for --time: expected a Slurm time (MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS)");
  const auto num = [&](int i) { return (*m)[i - 1] ? std::stol(*(*m)[i - 1]) : 0L; };
  if ((*m)[0]) return ((num(1) * 24 + num(2)) * 60 + num(3)) * 60 + num(4);
  if ((*m)[6]) return (num(5) * 60 + num(6)) * 60 + num(7);  // H:M:S
  return num(5) * 60 + num(6);                                     // M or M:S
}

void validate_sbatch_spec(const SbatchSpec& s) {
  static const FixedRegex slurm_name(R"(^[A-Za-z0-9_.-]+(,[A-Za-z0-9_.-]+)*$)");
  static const FixedRegex gpu_count(R"(^([A-Za-z0-9_.-]+:)?[0-9]+$)");
  static const FixedRegex gres(R"(^[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+)*(,[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+)*)*$)");
  static const FixedRegex mem(R"(^[0-9]+[KMGT]?$)");
  static const FixedRegex constraint(R"(^[A-Za-z0-9_.,&|!*:\[\]()-]+$)");
  static const FixedRegex passthrough(R"(^--([a-z][a-z0-9-]*)(=.*)?$)");

  no_control(s.job_name, "--job-name");
  if (s.job_name.empty()) throw UsageError("invalid value '' for --job-name: must not be empty");
  for (const auto* p : {&s.input, &s.log_dir, &s.chdir})
    if (p->empty() || p->front() != '/') throw UsageError("sbatch paths must be absolute: '" + *p + "'");
  if (s.h5prune.empty()) throw UsageError("invalid value '' for --h5prune");
  no_control(s.log_dir, "--log-dir");
  output_pattern(s.log_dir);
  no_control(s.chdir, "--chdir");
  no_control(s.list, s.list_option);
  if (s.values.empty()) throw UsageError("the sweep has no points");
  if (s.cpus_per_task < 1) throw UsageError("invalid value for --cpus-per-task: must be >= 1");
  if (s.max_parallel && *s.max_parallel < 1) throw UsageError("invalid value for --max-parallel: must be >= 1");
  if (s.signal_lead_seconds < 1 || s.signal_lead_seconds > 65535)
    throw UsageError("invalid value for --signal-lead: must be 1 to 65535 seconds");
  if (const auto limit = slurm_time_seconds(s.time); limit && *limit <= s.signal_lead_seconds)
    throw UsageError("--time " + s.time + " (" + std::to_string(*limit) + " s) is not longer than the " +
                     std::to_string(s.signal_lead_seconds) +
                     " s signal lead: every task would be told to stop before it starts; give a longer --time or a shorter --signal-lead");
  if (s.partition) matches(*s.partition, slurm_name, "--partition", "a Slurm partition name (letters, digits, _ . -; comma-separated)");
  if (s.account) matches(*s.account, slurm_name, "--account", "a Slurm account name (letters, digits, _ . -)");
  if (s.qos) matches(*s.qos, slurm_name, "--qos", "a Slurm QOS name (letters, digits, _ . -)");
  if (s.constraint) matches(*s.constraint, constraint, "--constraint", "a Slurm feature expression (features with & | , ! [ ] * :)");
  if (s.mem) matches(*s.mem, mem, "--mem", "a size like 4000, 16G or 512M");
  if (s.gres) matches(*s.gres, gres, "--gres", "a Slurm GRES list like gpu:1 or gpu:a100:2");
  if (s.gpus) matches(*s.gpus, gpu_count, "--gpus", "[TYPE:]COUNT, like 1 or a100:1");
  if (s.gpus_per_task) matches(*s.gpus_per_task, gpu_count, "--gpus-per-task", "[TYPE:]COUNT, like 1 or a100:1");
  for (const auto& o : s.sbatch_options) {
    no_control(o, "--sbatch-option");
    const auto m = passthrough.match(o);
    if (!m)
      throw UsageError("invalid value '" + o + "' for --sbatch-option: expected --NAME or --NAME=VALUE (long sbatch options only)");
    if (owned_options().count(*(*m)[0]))
      throw UsageError("--sbatch-option '" + o + "': the script sets --" + *(*m)[0] +
                       " itself (use the generator's own option if it has one; see h5prune slurm sweep --help)");
  }
  for (const auto& line : s.setup) {
    no_control(line, "--setup", true);
    if (line.empty()) throw UsageError("invalid value '' for --setup: expected a shell line such as 'module load cuda'");
  }
  for (const auto* o : {&s.scope, &s.include, &s.exclude, &s.memory_limit, &s.registry, &s.model, &s.metrics_dir})
    if (*o) no_control(**o, "a sweep option");  // bash would take it, but the plan line would break
  for (const auto& r : s.rules) no_control(r, "--rule");
  if (s.min_ndim && *s.min_ndim < 0) throw UsageError("invalid value for --min-ndim: must be >= 0");
}

std::string render_sbatch(const SbatchSpec& s) {
  validate_sbatch_spec(s);
  std::ostringstream out;
  const auto directive = [&](const std::string& name, const std::string& value) {
    out << "#SBATCH --" << name << "=" << sbatch_word(value, "--" + name) << "\n";
  };
  out << "#!/bin/bash\n";
  directive("job-name", s.job_name);
  const std::size_t tasks = s.per_tensor_tensors ? *s.per_tensor_tensors * s.values.size() : s.values.size();
  out << "#SBATCH --array=0-" << tasks - 1;
  if (s.max_parallel) out << "%" << *s.max_parallel;
  out << "\n";
  directive("output", output_pattern(s.log_dir));
  out << "#SBATCH --open-mode=append\n";
  out << "#SBATCH --signal=B:USR1@" << s.signal_lead_seconds << "\n";
  out << "#SBATCH --requeue\n";
  directive("time", s.time);
  out << "#SBATCH --ntasks=1\n#SBATCH --cpus-per-task=" << s.cpus_per_task << "\n";
  directive("chdir", s.chdir);
  if (s.partition) directive("partition", *s.partition);
  if (s.account) directive("account", *s.account);
  if (s.qos) directive("qos", *s.qos);
  if (s.constraint) directive("constraint", *s.constraint);
  if (s.mem) directive("mem", *s.mem);
  if (s.gres) directive("gres", *s.gres);
  if (s.gpus) directive("gpus", *s.gpus);
  if (s.gpus_per_task) directive("gpus-per-task", *s.gpus_per_task);
  for (const auto& o : s.sbatch_options) {
    const auto eq = o.find('=');
    if (eq == std::string::npos) out << "#SBATCH " << o << "\n";
    else out << "#SBATCH " << o.substr(0, eq) << "=" << sbatch_word(o.substr(eq + 1), "--sbatch-option") << "\n";
  }
  if (s.per_tensor_tensors)
    out << "#\n# Generated by " << s.generated_by << ": per-tensor sensitivity, " << *s.per_tensor_tensors
        << " tensors x " << s.values.size() << " points of " << s.list_option << " " << s.list
        << ",\n# one (tensor, point) pair per array task: task i prunes tensor i / " << s.values.size()
        << " alone at point i % " << s.values.size() << ".\n";
  else
    out << "#\n# Generated by " << s.generated_by << ": " << s.values.size() << " points of " << s.list_option << " "
        << s.list << ",\n# one per array task: task i runs point i, so 'sbatch --array=7 THIS' reruns point 7 only.\n";
  out << "# Each task is an idempotent worker: rerun or requeued, it skips points already recorded.\n";
  out << "# 'h5prune slurm status THIS' lists recorded, failed and missing points and the rerun line.\n";
  nlohmann::json plan = {{"plan", 1},
                         {"input", s.input},
                         {"list_option", s.list_option},
                         {"values", s.values},
                         {"log_dir", s.log_dir},
                         {"max_parallel", s.max_parallel ? nlohmann::json(*s.max_parallel) : nlohmann::json(nullptr)},
                         {"job_name", s.job_name}};
  if (s.per_tensor_tensors) plan["per_tensor_tensors"] = *s.per_tensor_tensors;
  const auto opt = [&](const char* key, const std::optional<std::string>& v) {
    plan[key] = v ? nlohmann::json(*v) : nlohmann::json(nullptr);
  };
  opt("scope", s.scope);
  opt("include", s.include);
  opt("exclude", s.exclude);
  if (s.include_optimizer) plan["include_optimizer"] = true;
  if (s.min_ndim) plan["min_ndim"] = *s.min_ndim;
  if (!s.rules.empty()) plan["rules"] = s.rules;
  opt("memory_limit", s.memory_limit);
  opt("registry", s.registry);
  opt("model", s.model);
  opt("metrics_dir", s.metrics_dir);
  out << "# h5prune-plan: " << plan.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace) << "\n\n";

  if (!s.setup.empty()) {
    // Before `set -u`: environment modules' scripts often read unset variables.
    out << "# Set-up lines (--setup), run in this shell before h5prune starts.\n";
    for (const auto& line : s.setup) out << line << "\n";
    out << "\n";
  }
  out << "set -u\n";
  out << "echo \"h5prune sweep: task ${SLURM_ARRAY_TASK_ID} of job ${SLURM_ARRAY_JOB_ID}, restart "
         "${SLURM_RESTART_COUNT:-0}, on $(hostname) at $(date -u +%Y-%m-%dT%H:%M:%SZ)\"\n\n";
  out << shell_word(s.h5prune) << " sweep " << shell_word(s.input) << " " << s.list_option << " " << shell_word(s.list);
  if (s.scope) out << " --scope " << shell_word(*s.scope);
  if (s.include) out << " --include " << shell_word(*s.include);
  if (s.exclude) out << " --exclude " << shell_word(*s.exclude);
  if (s.include_optimizer) out << " --include-optimizer";
  if (s.min_ndim) out << " --min-ndim " << *s.min_ndim;
  for (const auto& r : s.rules) out << " --rule " << shell_word(r);
  if (s.memory_limit) out << " --memory-limit " << shell_word(*s.memory_limit);
  out << " --threads " << s.cpus_per_task << " --array-task auto";
  if (s.registry) out << " --materialize --registry " << shell_word(*s.registry);
  if (s.model) out << " --model " << shell_word(*s.model);
  if (s.metrics_dir) out << " --metrics-dir " << shell_word(*s.metrics_dir);
  if (s.per_tensor_tensors) out << " --per-tensor";
  if (s.eval) out << " --eval " << shell_word(*s.eval);
  if (s.eval_timeout) out << " --eval-timeout " << shell_word(*s.eval_timeout);
  out << " &\npid=$!\n\n";
  out << "# Slurm sends USR1 to this shell " << s.signal_lead_seconds
      << " s before the time limit, TERM on scancel: pass them on;\n"
         "# h5prune stops at the next slab, removes temporaries, writes failure metrics, exits 128+N.\n";
  out << "trap 'kill -USR1 \"$pid\" 2>/dev/null' USR1\n";
  out << "trap 'kill -TERM \"$pid\" 2>/dev/null' TERM INT\n";
  out << "# A trapped signal interrupts 'wait'; wait again until h5prune has really exited.\n";
  out << "while kill -0 \"$pid\" 2>/dev/null; do wait \"$pid\"; done\n";
  out << "wait \"$pid\"\nrc=$?\n";
  out << "echo \"h5prune sweep: task ${SLURM_ARRAY_TASK_ID} exited with $rc at $(date -u +%Y-%m-%dT%H:%M:%SZ)\"\n";
  out << "exit $rc\n";
  return out.str();
}

}  // namespace h5p
