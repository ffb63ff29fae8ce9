// The whole metadata walk of an input with nothing written to disk: every object, link,
// attribute and dataset header, the chunk index of large datasets and the data of small ones,
// copied into a file held in memory. An isolated check process runs it (host/input_check), so
// that a crash or an endless loop of libhdf5 on damaged metadata happens there, not in a run.
#pragma once
#include <string>

namespace h5p::h5 {

// Walks `path` the way prune, stats and densify will (open, dataset listing, faithful copy);
// throws h5prune's errors as they do.
void walk_metadata(const std::string& path);

}  // namespace h5p::h5
