// Runs the user's evaluation command (`--eval CMD`) on one file: /bin/sh -c with {output}
// replaced by the quoted path and H5PRUNE_* in its environment; stdout's last non-empty line
// is the metrics, every other line passes through to stderr. docs/EVAL.md.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "host/eval/metrics_line.hpp"

namespace h5p {

struct EvalRequest {
  std::string command;  // as given, with {output} placeholders
  std::string output;   // the file the command evaluates (dense)
  std::vector<std::pair<std::string, std::string>> env;  // H5PRUNE_* variables, set on top of ours
  std::optional<double> timeout_seconds;
  std::function<void(const std::string&)> on_line;  // the command's other stdout lines, as they come
};

struct EvalRun {
  bool ok = false;
  MetricValues metrics;            // empty unless ok
  std::string failure;             // "" when ok: why it failed, one phrase
  std::optional<int> exit_status;  // when it exited
  std::optional<int> signal;       // when a signal ended it
  bool timed_out = false;
  double started = 0;              // Unix seconds
  double seconds = 0;              // wall time of the command
};

// The command with every {output} replaced by shell_word(path).
std::string expand_eval_command(const std::string& command, const std::string& path);

// Runs the command to its end (or its timeout: SIGTERM to its process group, SIGKILL 2 s
// later). A SIGINT/SIGTERM/SIGUSR1 to h5prune ends the command the same way and throws
// Interrupted. OutputError when the command cannot be started at all.
EvalRun run_eval_command(const EvalRequest& request);

}  // namespace h5p
