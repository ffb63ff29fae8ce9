// Re-exec with OMP_WAIT_POLICY=PASSIVE. Why: libgomp's default lets a waiting thread spin
// (about 300k iterations at every barrier and between parallel regions). While h5prune's main
// thread reads or writes HDF5, or another process shares the cores (a Slurm node, a CI
// machine), that spinning burns the CPU the work needs: on the 2-core VM of benchmarks/RESULTS.md
// a 100M-weight prune took 1.8-2.0 s of user CPU with spinning and 0.9 s without.
// Why a re-exec: libgomp reads the variable in its own constructor, which runs before any code
// of ours (setenv in main is too late), and it offers no call to change the policy or the spin
// count afterwards (omp_* has none; GOMP's spin count is internal). The other ways to run code
// before it (a preloaded or -z initfirst library, a wrapper script) would have to be installed
// and kept beside the binary; one exec costs about a millisecond.
#include "common/openmp_wait.hpp"

#include "common/started_through_loader.hpp"

#include <unistd.h>

#include <cstdlib>

namespace h5p {

namespace {
constexpr const char* kPolicy = "OMP_WAIT_POLICY";
constexpr const char* kMarker = "H5PRUNE_OPENMP_REEXEC";
}  // namespace

void prefer_passive_openmp_wait(char** argv) {
  if (std::getenv(kMarker)) {  // the re-executed process: libgomp has read the policy already
    unsetenv(kMarker);
    unsetenv(kPolicy);
    return;
  }
  if (std::getenv(kPolicy)) return;  // the user's choice stands
  // Started through the loader, /proc/self/exe is the loader, which would take argv[1] for the
  // program: carry on as we are.
  if (started_through_loader()) return;
  setenv(kPolicy, "PASSIVE", 1);
  setenv(kMarker, "1", 1);
  execv("/proc/self/exe", argv);
  unsetenv(kMarker);  // exec failed: carry on with the default policy
  unsetenv(kPolicy);
}

}  // namespace h5p
