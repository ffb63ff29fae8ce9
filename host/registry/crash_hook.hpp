// Test hook: H5PRUNE_REGISTRY_CRASH_AT=<step> kills the process with SIGKILL when a publish
// reaches that step, to prove that a writer killed at any point leaves no partial version.
#pragma once

namespace h5p::registry {

// True when H5PRUNE_REGISTRY_CRASH_AT names `step`.
bool crash_requested(const char* step);

// Raises SIGKILL when H5PRUNE_REGISTRY_CRASH_AT names `step` (no cleanup runs, like kill -9).
void crash_point(const char* step);

// Sleeps H5PRUNE_REGISTRY_PAUSE_BEFORE_PRUNE_MS milliseconds (when set): a test replaces the
// input in this window, between a rerun's hash of it and the pruning.
void pause_before_pruning();

}  // namespace h5p::registry
