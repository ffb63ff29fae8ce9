// The sweep report: the curves a user picks a sparsity by (achieved sparsity and retained L2
// against the swept value, overall and for the largest tensors), plus the table, as one
// self-contained HTML file or the main chart alone as SVG.
#pragma once
#include <string>

#include "host/sweep.hpp"

namespace h5p {

// `model` names every chart (the standalone SVG too): --model, or the input file's stem.
std::string sweep_report_html(const SweepResult& r, const std::string& input, const std::string& model,
                              std::size_t top_tensors);
std::string sweep_report_svg(const SweepResult& r, const std::string& model);

}  // namespace h5p
