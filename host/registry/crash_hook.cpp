// The kill -9 test hook; does nothing unless the environment variable names a step, and is
// compiled only into test builds (H5PRUNE_TEST_HOOKS).
#include "host/registry/crash_hook.hpp"

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace h5p::registry {

bool crash_requested(const char* step) {
#ifdef H5PRUNE_TEST_HOOKS
  const char* at = std::getenv("H5PRUNE_REGISTRY_CRASH_AT");
  return at && std::strcmp(at, step) == 0;
#else
  (void)step;
  return false;
#endif
}

void crash_point(const char* step) {
  if (crash_requested(step)) std::raise(SIGKILL);
}

void pause_before_pruning() {
#ifdef H5PRUNE_TEST_HOOKS
  if (const char* ms = std::getenv("H5PRUNE_REGISTRY_PAUSE_BEFORE_PRUNE_MS"))
    std::this_thread::sleep_for(std::chrono::milliseconds(std::atoi(ms)));
#endif
}

}  // namespace h5p::registry
