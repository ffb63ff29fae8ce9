// One evaluation command as a child process in its own process group, read through a pipe.
#include "host/eval/eval_command.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <thread>

#include "common/errors.hpp"
#include "common/interrupt.hpp"
#include "host/shell_word.hpp"

extern char** environ;

namespace h5p {

namespace {

using Clock = std::chrono::steady_clock;

double unix_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Our environment with `extra` set on top (replacing variables of the same name).
std::vector<std::string> child_environment(const std::vector<std::pair<std::string, std::string>>& extra) {
  std::map<std::string, std::string> vars;
  for (char** e = environ; e && *e; ++e) {
    const std::string kv = *e;
    const auto eq = kv.find('=');
    if (eq != std::string::npos) vars[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : extra) vars[k] = v;
  std::vector<std::string> out;
  for (const auto& [k, v] : vars) out.push_back(k + "=" + v);
  return out;
}

// Ends the command's process group: SIGTERM, then SIGKILL when it has not exited in 2 s.
void end_group(pid_t pid, int& status) {
  ::kill(-pid, SIGTERM);
  const auto deadline = Clock::now() + std::chrono::seconds(2);
  while (Clock::now() < deadline) {
    if (::waitpid(pid, &status, WNOHANG) == pid) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(-pid, SIGKILL);
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

// Splits what arrives on the pipe into lines; keeps the last non-empty one back (it may be
// the metrics line) and hands every other line to on_line.
class LineSplitter {
 public:
  explicit LineSplitter(const std::function<void(const std::string&)>& on_line) : on_line_(on_line) {}
  void add(const char* data, std::size_t n) {
    partial_.append(data, n);
    std::size_t nl;
    while ((nl = partial_.find('\n')) != std::string::npos) {
      line(partial_.substr(0, nl));
      partial_.erase(0, nl + 1);
    }
  }
  std::string finish() {
    if (!partial_.empty()) line(partial_);
    partial_.clear();
    return last_;
  }

 private:
  void line(std::string l) {
    if (!l.empty() && l.back() == '\r') l.pop_back();
    if (l.find_first_not_of(" \t") == std::string::npos) {
      emit(l);
      return;
    }
    if (held_) emit(last_);
    last_ = l;
    held_ = true;
  }
  void emit(const std::string& l) {
    if (on_line_) on_line_(l);
  }
  const std::function<void(const std::string&)>& on_line_;
  std::string partial_, last_;
  bool held_ = false;
};

}  // namespace

std::string expand_eval_command(const std::string& command, const std::string& path) {
  static const std::string kPlaceholder = "{output}";
  std::string out;
  std::size_t at = 0, hit;
  while ((hit = command.find(kPlaceholder, at)) != std::string::npos) {
    out += command.substr(at, hit - at) + shell_word(path);
    at = hit + kPlaceholder.size();
  }
  return out + command.substr(at);
}

EvalRun run_eval_command(const EvalRequest& q) {
  check_interrupt();
  const std::string command = expand_eval_command(q.command, q.output);
  std::vector<std::string> env = child_environment(q.env);
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw OutputError(std::string("cannot run the evaluation: pipe: ") + std::strerror(errno));
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, dflt;
  sigemptyset(&none);
  sigemptyset(&dflt);
  for (int s : {SIGINT, SIGTERM, SIGUSR1, SIGPIPE}) sigaddset(&dflt, s);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &dflt);
  posix_spawnattr_setpgroup(&attr, 0);  // its own group: a timeout ends everything it started
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
  const char* argv[] = {"/bin/sh", "-c", command.c_str(), nullptr};
  EvalRun run;
  run.started = unix_seconds();
  const auto t0 = Clock::now();
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, "/bin/sh", &fa, &attr, const_cast<char* const*>(argv), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    throw OutputError(std::string("cannot run the evaluation command with /bin/sh: ") + std::strerror(rc));
  }

  LineSplitter lines(q.on_line);
  const std::optional<Clock::time_point> deadline =
      q.timeout_seconds ? std::optional(t0 + std::chrono::duration_cast<Clock::duration>(
                                                  std::chrono::duration<double>(*q.timeout_seconds)))
                        : std::nullopt;
  int status = 0;
  bool exited = false, eof = false;
  char buf[65536];
  while (!eof) {
    if (pending_signal()) {
      end_group(pid, status);
      ::close(fds[0]);
      check_interrupt();
    }
    if (deadline && Clock::now() >= *deadline) {
      run.timed_out = true;
      end_group(pid, status);
      exited = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    int wait_ms = 100;  // also how often a child that exited with its stdout still open is noticed
    if (deadline)
      wait_ms = std::clamp<int>(static_cast<int>(std::ceil(std::chrono::duration<double, std::milli>(*deadline - Clock::now()).count())), 0, 100);
    const int pr = ::poll(&p, 1, wait_ms);
    if (pr < 0 && errno != EINTR) break;
    if (pr > 0) {
      const ssize_t n = ::read(fds[0], buf, sizeof buf);
      if (n > 0) lines.add(buf, static_cast<std::size_t>(n));
      else if (n == 0 || errno != EINTR) eof = true;
      continue;
    }
    // Nothing to read: a command that exited while something it started keeps stdout open
    // is finished anyway (only what it printed so far counts).
    if (!exited && ::waitpid(pid, &status, WNOHANG) == pid) {
      exited = true;
      break;
    }
  }
  ::close(fds[0]);
  if (!exited)
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  run.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  const std::string last = lines.finish();
  check_interrupt();
  // Only a successful command's last line is its metrics; otherwise it is output like the rest.
  const auto pass_last = [&] {
    if (!last.empty() && q.on_line) q.on_line(last);
  };

  if (run.timed_out) {
    char t[64];
    std::snprintf(t, sizeof t, "%g", *q.timeout_seconds);
    run.failure = std::string("it timed out after ") + t + " s (--eval-timeout)";
    if (WIFSIGNALED(status)) run.signal = WTERMSIG(status);
    pass_last();
    return run;
  }
  if (WIFSIGNALED(status)) {
    run.signal = WTERMSIG(status);
    run.failure = "it was killed by signal " + std::to_string(*run.signal) + " (" + strsignal(*run.signal) + ")";
    pass_last();
    return run;
  }
  run.exit_status = WEXITSTATUS(status);
  if (*run.exit_status != 0) {
    run.failure = "it exited with status " + std::to_string(*run.exit_status);
    if (*run.exit_status == 127) run.failure += " (command not found?)";
    pass_last();
    return run;
  }
  auto parsed = parse_metrics_line(last);
  if (auto* why = std::get_if<std::string>(&parsed)) {
    run.failure = *why;
    return run;
  }
  run.metrics = std::get<MetricValues>(parsed);
  run.ok = true;
  return run;
}

}  // namespace h5p
