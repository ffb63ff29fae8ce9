// Signals: a clean stop at the next checkpoint for SIGTERM and its kin (Slurm's time limit,
// Ctrl-C, a closed ssh session), an immediate stop on a second one, and temporaries removed
// with async-signal-safe calls when the process crashes.
#include "common/interrupt.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "common/cleanup.hpp"
#include "common/errors.hpp"

namespace h5p {

namespace {
std::atomic<int> g_signal{0};

const char* signal_name(int sig) {
  switch (sig) {
    case SIGHUP: return "SIGHUP";
    case SIGINT: return "SIGINT";
    case SIGQUIT: return "SIGQUIT";
    case SIGPIPE: return "SIGPIPE";
    case SIGALRM: return "SIGALRM";
    case SIGTERM: return "SIGTERM";
    case SIGUSR1: return "SIGUSR1";
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGABRT: return "SIGABRT";
    case SIGFPE: return "SIGFPE";
    case SIGILL: return "SIGILL";
    default: return "signal";
  }
}

// One stderr line built and written with async-signal-safe calls only.
void say(const char* head, int sig, const char* tail) {
  char line[256];
  std::size_t n = 0;
  auto put = [&](const char* s) {
    while (*s && n < sizeof line - 1) line[n++] = *s++;
  };
  char digits[12];
  int d = 0;
  for (int v = sig; d == 0 || v > 0; v /= 10) digits[d++] = static_cast<char>('0' + v % 10);
  put(head);
  while (d > 0 && n < sizeof line - 1) line[n++] = digits[--d];
  put(" (");
  put(signal_name(sig));
  put(")");
  put(tail);
  line[n++] = '\n';
  ssize_t unused = ::write(STDERR_FILENO, line, n);
  (void)unused;
}

extern "C" void on_stop_signal(int sig) {
  int first = 0;
  if (g_signal.compare_exchange_strong(first, sig)) {
    // The run stops at its next checkpoint; a library call that never returns (a damaged file
    // can make HDF5 loop) must not hold the job: the watchdog's SIGALRM comes back here.
    ::alarm(kStopGraceSeconds);
    return;
  }
  run_cleanup();
  say("h5prune: error: interrupted by signal ", first,
      sig == SIGALRM && first != SIGALRM ? " and not stopped within the grace period; stopped at once, temporaries removed"
                                         : " twice; stopped at once, temporaries removed");
  ::_exit(128 + first);
}

extern "C" void on_fatal_signal(int sig) {
  run_cleanup();
  say("h5prune: error: crashed with signal ", sig, "; temporaries removed (please report this file and command)");
  ::signal(sig, SIG_DFL);
  ::raise(sig);  // die by the signal itself (a core dump where enabled)
}

// A stack for the fatal-signal handler: a stack overflow leaves none on the thread's own.
alignas(16) char g_alt_stack[1 << 16];

}  // namespace

Interrupted::Interrupted(int signal_number)
    : std::runtime_error(std::string("interrupted by signal ") + std::to_string(signal_number) +
                         " (" + strsignal(signal_number) + ")"),
      signal_(signal_number) {}

void install_interrupt_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  // let HDF5 I/O finish; the flag is checked between slabs
  for (int sig : kStopSignals) sigaction(sig, &sa, nullptr);

  stack_t st {};
  st.ss_sp = g_alt_stack;
  st.ss_size = sizeof g_alt_stack;
  sigaltstack(&st, nullptr);
  struct sigaction fatal {};
  fatal.sa_handler = on_fatal_signal;
  sigemptyset(&fatal.sa_mask);
  fatal.sa_flags = SA_ONSTACK | SA_RESETHAND;
  for (int sig : {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL}) sigaction(sig, &fatal, nullptr);
}

int pending_signal() { return g_signal.load(std::memory_order_relaxed); }

namespace {
// Test hook: H5PRUNE_TEST_CHECKPOINT_DELAY_MS=N sleeps N ms at every checkpoint (once per slab),
// so tests can signal a run while it is surely in progress. Unset in normal use.
// Compiled only into test builds (H5PRUNE_TEST_HOOKS).
int checkpoint_delay_ms() {
#ifdef H5PRUNE_TEST_HOOKS
  static const int ms = [] {
    const char* v = std::getenv("H5PRUNE_TEST_CHECKPOINT_DELAY_MS");
    return v ? std::max(0, std::atoi(v)) : 0;
  }();
  return ms;
#else
  return 0;
#endif
}
}  // namespace

void check_interrupt() {
  if (int sig = pending_signal()) throw Interrupted(sig);
  if (const int ms = checkpoint_delay_ms()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    if (int sig = pending_signal()) throw Interrupted(sig);
  }
}

}  // namespace h5p
