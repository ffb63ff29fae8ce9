// The sweep report: the curves a user picks a sparsity by (achieved sparsity and retained L2
// against the swept value, overall and for the largest tensors), plus the table, as one
// self-contained HTML file or the main chart alone as SVG.
#pragma once
#include <string>

#include "host/sweep.hpp"

namespace h5p {

std::string sweep_report_html(const SweepResult& r, const std::string& input, std::size_t top_tensors);
std::string sweep_report_svg(const SweepResult& r);

}  // namespace h5p
