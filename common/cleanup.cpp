// The table of temporaries a signal handler removes; see cleanup.hpp.
#include "common/cleanup.hpp"

#include <unistd.h>

#include <atomic>
#include <cstring>

namespace h5p {

namespace {

constexpr int kSlots = 32;
constexpr int kPathMax = 4096;

// state: 0 free, 1 being filled or emptied, 2 armed file, 3 armed directory.
struct Slot {
  std::atomic<int> state{0};
  char path[kPathMax];
};
Slot g_slots[kSlots];

}  // namespace

int arm_cleanup(const std::string& path, bool directory) {
  if (path.empty() || path.size() >= kPathMax) return -1;
  for (int i = 0; i < kSlots; ++i) {
    int expected = 0;
    if (!g_slots[i].state.compare_exchange_strong(expected, 1)) continue;
    std::memcpy(g_slots[i].path, path.c_str(), path.size() + 1);
    g_slots[i].state.store(directory ? 3 : 2);
    return i;
  }
  return -1;
}

void disarm_cleanup(int slot) {
  if (slot >= 0 && slot < kSlots) g_slots[slot].state.store(0);
}

void run_cleanup() noexcept {
  // Files first, then directories (which rmdir removes only once empty).
  for (int pass = 2; pass <= 3; ++pass)
    for (auto& s : g_slots)
      if (s.state.load() == pass) {
        if (pass == 2) ::unlink(s.path);
        else ::rmdir(s.path);
      }
}

}  // namespace h5p
