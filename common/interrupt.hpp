// Cooperative cancellation: signal handlers set a flag that long loops check between slabs;
// a second signal, or a run that does not stop in time, ends the process at once.
#pragma once
#include <csignal>

namespace h5p {

// Signals that stop a run cleanly (exit 128 + signal, temporaries removed, failure metrics):
// Ctrl-C, Slurm's time limit and warning, a closed terminal or ssh session, a closed pipe, alarm.
inline constexpr int kStopSignals[] = {SIGINT, SIGTERM, SIGUSR1, SIGHUP, SIGQUIT, SIGPIPE, SIGALRM};

// Seconds a run has, after the first stop signal, to reach a checkpoint before it is ended at
// once (temporaries removed, no failure metrics).
inline constexpr unsigned kStopGraceSeconds = 10;

// Installs the stop handlers above, and for SIGSEGV, SIGBUS, SIGABRT, SIGFPE and SIGILL a
// handler that removes the armed temporaries (common/cleanup.hpp), prints one line and dies
// by the signal.
void install_interrupt_handlers();

// The signal received, or 0.
int pending_signal();

// Throws Interrupted when a signal has arrived.
void check_interrupt();

}  // namespace h5p
