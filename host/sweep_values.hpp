// Sweep value lists: "0.5,0.8,0.9" or the range "a:b:step" expanded in exact decimal
// arithmetic (b is included when it falls on the grid: 0.4:0.9:0.1 is six points).
#pragma once
#include <string>
#include <vector>

namespace h5p {

// Returns the points as decimal strings, in the order given (ranges ascending).
// Throws UsageError naming `option` for malformed input or more than kMaxSweepPoints points.
std::vector<std::string> expand_sweep_values(const std::string& spec, const std::string& option);

constexpr std::size_t kMaxSweepPoints = 10000;

}  // namespace h5p
