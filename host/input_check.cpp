// The isolated input check (see input_check.hpp): spawn, time bound, signals, verdict.
#include "host/input_check.hpp"

#include <dlfcn.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <tuple>
#include <vector>

#include "common/errors.hpp"
#include "common/interrupt.hpp"
#include "common/started_through_loader.hpp"
#include "formats/hdf5/file.hpp"
#include "formats/hdf5/metadata_walk.hpp"

extern char** environ;

namespace h5p {
namespace {

bool g_enabled = false;
std::string g_last_input;

// Files already checked by this process: search and sweep open their input more than once.
using FileKey = std::tuple<dev_t, ino_t, off_t, long, long>;
std::mutex g_mutex;
std::set<FileKey> g_checked;

// The check process's address-space limit: the walk holds metadata and at most 64 MiB of small
// datasets; a damaged file that makes libhdf5 ask for more fails there, not on the node.
constexpr rlim_t kCheckAddressSpace = rlim_t{4} << 30;

std::string signal_text(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

int reap(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

// Starts `h5prune __check-input PATH PARENT` with stdio on /dev/null and `report_fd` as fd 3
// (its closing says the process ended, however it ended).
pid_t spawn_check(const std::string& path, int report_fd) {
  const std::string parent = std::to_string(::getpid());
  std::vector<char*> argv{const_cast<char*>("h5prune")};
  // Started through the loader, /proc/self/exe is the loader: give it the program's own path (as
  // the loader opened it) before the arguments.
  Dl_info self{};
  if (started_through_loader() && ::dladdr(reinterpret_cast<void*>(&spawn_check), &self) && self.dli_fname &&
      *self.dli_fname)
    argv.push_back(const_cast<char*>(self.dli_fname));
  for (const char* a : {kInputCheckCommand, path.c_str(), parent.c_str()}) argv.push_back(const_cast<char*>(a));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);  // glibc's abort text too
  posix_spawn_file_actions_adddup2(&actions, report_fd, 3);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t defaults, none;
  sigemptyset(&defaults);
  for (int sig : kStopSignals) sigaddset(&defaults, sig);  // ignored ones (nohup, SIGPIPE) too
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  pid_t pid = -1;
  // /proc/self/exe is this very file; a chroot or container without /proc has no such link, and
  // then the path the kernel was asked to execute (AT_EXECFN) names the program instead.
  const char* self_exe = "/proc/self/exe";
  if (::access(self_exe, X_OK) != 0) {
    const auto* execfn = reinterpret_cast<const char*>(::getauxval(AT_EXECFN));
    if (execfn && *execfn) self_exe = execfn;
  }
  const int rc = ::posix_spawn(&pid, self_exe, &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) throw InputError("cannot check '" + path + "': cannot start the check process: " + std::strerror(rc));
  return pid;
}

void check_in_child_process(const std::string& path, unsigned limit) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw InputError("cannot check '" + path + "': " + std::strerror(errno));
  // The write end must not be fd 3 already: dup2 onto itself would keep close-on-exec.
  const int report = ::fcntl(fds[1], F_DUPFD_CLOEXEC, 10);
  ::close(fds[1]);
  pid_t pid;
  try {
    pid = spawn_check(path, report);
  } catch (...) {
    ::close(fds[0]);
    ::close(report);
    throw;
  }
  ::close(report);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(limit);
  const auto stop = [&] {
    ::kill(pid, SIGKILL);
    reap(pid);
    ::close(fds[0]);
  };
  for (;;) {
    if (const int sig = pending_signal()) {
      stop();
      throw Interrupted(sig);
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      stop();
      throw InputError("'" + path + "' is damaged or hostile: the HDF5 library did not finish reading its metadata within " +
                       std::to_string(limit) + " s (H5PRUNE_INPUT_CHECK_TIMEOUT); nothing written");
    }
    pollfd p{fds[0], POLLIN, 0};
    // Short waits: a stop signal may land just before poll() starts.
    const int ready = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 200)));
    if (ready > 0) {
      char sink[64];
      const ssize_t n = ::read(fds[0], sink, sizeof sink);
      if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) break;  // the process ended
    }
  }
  ::close(fds[0]);
  const int status = reap(pid);
  if (const int sig = pending_signal()) throw Interrupted(sig);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    if (sig == SIGKILL)
      throw InputError("'" + path + "': the process checking its HDF5 metadata was killed (SIGKILL; out of memory?); nothing written");
    throw InputError("'" + path + "' is damaged: reading its HDF5 metadata crashed the HDF5 library (" + signal_text(sig) +
                     " in the check process); nothing written");
  }
  throw InputError("cannot check '" + path + "': the check process exited with status " +
                   std::to_string(WEXITSTATUS(status)));
}

}  // namespace

void enable_isolated_input_check() { g_enabled = true; }

unsigned input_check_timeout() {
  const char* text = std::getenv("H5PRUNE_INPUT_CHECK_TIMEOUT");
  if (!text || !*text) return 60;
  const std::string v = text;
  if (v.size() > 6 || v.find_first_not_of("0123456789") != std::string::npos)
    throw UsageError("invalid H5PRUNE_INPUT_CHECK_TIMEOUT '" + v + "': expected whole seconds (0 turns the check off)");
  return static_cast<unsigned>(std::stoul(v));
}

h5::Handle open_checked_input(const std::string& path) {
  struct stat st {};
  // Missing files, directories, FIFOs and devices: open_input says why, and nothing is spawned.
  if (g_enabled && ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
    if (const unsigned limit = input_check_timeout()) {
      const FileKey key{st.st_dev, st.st_ino, st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec};
      std::lock_guard<std::mutex> lock(g_mutex);
      if (!g_checked.count(key)) {
        check_in_child_process(path, limit);
        g_checked.insert(key);
      }
    }
  }
  g_last_input = path;
  return h5::open_input(path);
}

const std::string& last_opened_input() { return g_last_input; }

void run_input_check(int argc, char** argv) {
  // Die with the parent, whatever kills it; and if it is already gone, do nothing.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (argc != 4 || std::to_string(::getppid()) != argv[3]) std::_Exit(2);
  // A crash here is expected on damaged files: no core file left behind.
  ::prctl(PR_SET_DUMPABLE, 0);
  const rlimit no_core{0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);
  const rlimit space{kCheckAddressSpace, kCheckAddressSpace};
  ::setrlimit(RLIMIT_AS, &space);
  // The tests' checkpoint delay (common/interrupt.cpp) slows the run, not its check.
  ::unsetenv("H5PRUNE_TEST_CHECKPOINT_DELAY_MS");
  // Fresh and freed heap memory filled with 0xA5: libhdf5 using memory it never initialised (a
  // damaged message it half-decoded) then crashes here for sure, not by the luck of the heap.
  ::mallopt(M_PERTURB, 0xA5);
  h5::silence_library_errors();
  try {
    h5::walk_metadata(argv[2]);
  } catch (const std::exception& e) {
    // The run itself meets and reports the same error in its own words. (stderr is /dev/null in
    // a check process; this line is for a person running the command by hand.)
    std::fprintf(stderr, "walk: %s\n", e.what());
  }
  // Not exit(): HDF5's exit handlers could trip over what the walk left half done.
  std::_Exit(0);
}

}  // namespace h5p
