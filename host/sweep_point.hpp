// One point of a sweep as the prune it stands for: what `sweep --materialize` records for the
// point and what `slurm status` looks up to see whether the point is recorded.
#pragma once
#include <string>

#include "host/pipeline.hpp"
#include "host/sweep.hpp"

namespace h5p {

// The prune options of point `value` (a decimal text of the sweep's list) of sweep `so`.
PruneOptions sweep_point_prune_options(const SweepOptions& so, const std::string& value);

}  // namespace h5p
