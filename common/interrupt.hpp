// Cooperative cancellation: signal handlers set a flag that long loops check between slabs.
#pragma once

namespace h5p {

// Installs handlers for SIGINT, SIGTERM and SIGUSR1 (Slurm's warning signal).
void install_interrupt_handlers();

// The signal received, or 0.
int pending_signal();

// Throws Interrupted when a signal has arrived.
void check_interrupt();

}  // namespace h5p
