// Slurm job arrays: which sweep point an array task runs (the task ID itself, DESIGN.md), and
// the compact --array text for a set of task IDs (the rerun line of `slurm status`).
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace h5p {

// The point a task runs for `--array-task SPEC`: "auto" reads SLURM_ARRAY_TASK_ID, anything
// else is the index itself. The point is the task ID, whatever subset was submitted, so that
// `sbatch --array=7` runs point 7. UsageError when the ID is missing, empty, not a plain
// non-negative number, or beyond the `points` of the sweep.
std::size_t array_task_point(const std::string& spec, std::size_t points);

// The same rule with the environment passed in (nullopt: the variable is unset).
std::size_t point_of_task_id(const std::optional<std::string>& task_id, std::size_t points);

// Ascending, de-duplicated IDs as Slurm's --array list: {0,1,2,5,7,8} -> "0-2,5,7-8".
std::string array_ranges(std::vector<std::size_t> ids);

}  // namespace h5p
