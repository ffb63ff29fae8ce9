// Untrusted inputs are walked first in a separate process with a time bound (h5prune
// __check-input PATH): libhdf5 1.10 can crash or loop forever on damaged metadata, and there it
// costs the check process, not the run, which stops with one line naming the file and exit 3
// before it has written anything. docs/CLI.md "Damaged files".
#pragma once
#include <string>

#include "formats/hdf5/handle.hpp"

namespace h5p {

// argv[1] of the check process.
inline constexpr const char* kInputCheckCommand = "__check-input";

// Called by the h5prune executable, which runs the check when argv[1] is kInputCheckCommand.
// Other programs that link host/ (unit tests, the fuzzing harness) open inputs unchecked.
void enable_isolated_input_check();

// Seconds the check may take: H5PRUNE_INPUT_CHECK_TIMEOUT (default 60; 0 turns the check off).
unsigned input_check_timeout();

// Checks `path` in a separate process (once per file and process), then opens it read-only.
// InputError naming the file when the check crashed, was killed or did not end in time;
// Interrupted when a stop signal arrives meanwhile.
h5::Handle open_checked_input(const std::string& path);

// The input last opened by open_checked_input ("" before any): names the file in the one line
// a run prints when it runs out of memory outside the places that name their tensor.
const std::string& last_opened_input();

// The check process: h5prune __check-input PATH PARENT_PID. Walks PATH and exits 0 once the walk
// ends (an h5prune error found on the way is the run's to report); crashes and hangs are the
// parent's to see.
[[noreturn]] void run_input_check(int argc, char** argv);

}  // namespace h5p
