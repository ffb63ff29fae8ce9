// Paths to remove when the process dies abruptly (a crash, a second SIGTERM): a fixed table of
// slots that a signal handler can walk with async-signal-safe calls only (unlink, rmdir).
#pragma once
#include <string>

namespace h5p {

// Arms removal of `path` (a file, or with `directory` an empty directory) on an abrupt exit;
// returns a slot for disarm_cleanup, or -1 when the table is full (then nothing is armed).
int arm_cleanup(const std::string& path, bool directory = false);

// Disarms a slot (no-op for -1). Normal exits remove their temporaries themselves.
void disarm_cleanup(int slot);

// Removes every armed path. Async-signal-safe: called from signal handlers.
void run_cleanup() noexcept;

}  // namespace h5p
