// Whether this process was started as `ld.so h5prune ...` rather than as `h5prune ...`. Then
// /proc/self/exe names the loader, not h5prune, and whatever re-executes the program (the
// OpenMP wait-policy re-exec, the input check's child) has to say which program to run.
#pragma once

namespace h5p {

// True when the kernel started no interpreter for us (AT_BASE is 0): the loader itself was run.
bool started_through_loader();

}  // namespace h5p
