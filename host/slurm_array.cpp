// Array task -> sweep point (the ID itself) and --array range text.
#include "host/slurm_array.hpp"

#include <algorithm>
#include <cstdlib>

#include "common/errors.hpp"

namespace h5p {

namespace {

// A plain decimal index: digits only (no sign, no spaces), at most 9 of them.
std::optional<std::size_t> plain_index(const std::string& s) {
  if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  return static_cast<std::size_t>(std::stoul(s));
}

std::size_t within(std::size_t index, std::size_t points, const std::string& what) {
  if (index >= points)
    throw UsageError(what + " " + std::to_string(index) + " is beyond the " + std::to_string(points) +
                     " points of this sweep (points 0-" + std::to_string(points ? points - 1 : 0) + ")");
  return index;
}

}  // namespace

std::size_t point_of_task_id(const std::optional<std::string>& task_id, std::size_t points) {
  if (!task_id)
    throw UsageError("--array-task auto needs SLURM_ARRAY_TASK_ID (run it inside a Slurm job array)");
  if (task_id->empty())
    throw UsageError("SLURM_ARRAY_TASK_ID is set but empty: no array task to run (run it inside a Slurm job array)");
  const auto id = plain_index(*task_id);
  if (!id) throw UsageError("SLURM_ARRAY_TASK_ID='" + *task_id + "' is not an array task index");
  return within(*id, points, "array task");
}

std::size_t array_task_point(const std::string& spec, std::size_t points) {
  if (spec == "auto") {
    const char* v = std::getenv("SLURM_ARRAY_TASK_ID");
    return point_of_task_id(v ? std::optional<std::string>(v) : std::nullopt, points);
  }
  const auto index = plain_index(spec);
  if (!index) throw UsageError("invalid value '" + spec + "' for --array-task: expected auto or an index");
  return within(*index, points, "--array-task");
}

std::string array_ranges(std::vector<std::size_t> ids) {
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  std::string out;
  for (std::size_t i = 0; i < ids.size();) {
    std::size_t j = i;
    while (j + 1 < ids.size() && ids[j + 1] == ids[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(ids[i]);
    if (j > i) out += '-' + std::to_string(ids[j]);
    i = j + 1;
  }
  return out;
}

}  // namespace h5p
