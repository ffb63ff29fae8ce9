// OpenMP threads that wait by sleeping, not spinning: chosen before libgomp starts (it reads
// OMP_WAIT_POLICY once, when it is loaded), by re-executing the program once with it set.
#pragma once

namespace h5p {

// When the user has not set OMP_WAIT_POLICY: sets it to PASSIVE and re-executes
// /proc/self/exe with the same arguments (once; a marker variable stops a second time). In the
// re-executed process both variables are removed again, so commands that h5prune runs (--eval)
// see the environment the user gave. Without /proc, or if exec fails, it carries on as it is.
void prefer_passive_openmp_wait(char** argv);

}  // namespace h5p
