// Signal flag for clean shutdown at Slurm time limits (SIGTERM/SIGUSR1) and Ctrl-C.
#include "common/interrupt.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>
#include <csignal>
#include <cstring>
#include <string>

#include "common/errors.hpp"

namespace h5p {

namespace {
std::atomic<int> g_signal{0};

extern "C" void on_signal(int sig) {
  int expected = 0;
  g_signal.compare_exchange_strong(expected, sig);
}
}  // namespace

Interrupted::Interrupted(int signal_number)
    : std::runtime_error(std::string("interrupted by signal ") + std::to_string(signal_number) +
                         " (" + strsignal(signal_number) + ")"),
      signal_(signal_number) {}

void install_interrupt_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  // let HDF5 I/O finish; the flag is checked between slabs
  for (int sig : {SIGINT, SIGTERM, SIGUSR1}) sigaction(sig, &sa, nullptr);
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
