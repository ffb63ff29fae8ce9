// The sensitivity report: a heatmap of one metric by tensor (rows) and point (columns), which
// shows at a glance which layers tolerate pruning; self-contained HTML (with the table) or SVG.
#pragma once
#include <string>

#include "host/sensitivity.hpp"

namespace h5p {

std::string sensitivity_report_svg(const SensitivityResult& r, const std::string& metric, const std::string& model);
std::string sensitivity_report_html(const SensitivityResult& r, const std::string& metric, const std::string& input,
                                    const std::string& model);

}  // namespace h5p
