// The sweep report: the curves a user picks a sparsity by (achieved sparsity and retained L2
// against the swept value, overall and for the largest tensors; with evaluations, every metric
// against achieved sparsity with the baseline, the tolerance band and the best point marked),
// plus the table, as one self-contained HTML file or the main chart alone as SVG.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "formats/evaluation.hpp"
#include "host/pipeline.hpp"
#include "host/sweep.hpp"

namespace h5p {

// linear: x is the sparsity; log_density: x placed by log10(1 - sparsity), so 0.9, 0.99 and
// 0.999 are equally far apart (points at sparsity 1 have no place there and are listed instead).
enum class ReportAxis { linear, log_density };

// The evaluations of a materialised sweep, one per point of the SweepResult.
struct ReportEvaluations {
  std::vector<std::optional<Evaluation>> points;  // nullopt: not evaluated
  std::vector<int> versions;                      // the registry version of each point
  std::optional<Evaluation> baseline;             // the unpruned input's
  std::string metric;                             // the one whose band and best point are drawn
  double max_drop = 0.01;                         // tolerance, in the metric's units
  bool maximize = true;                           // higher is better
};

struct ReportOptions {
  std::string input;
  std::string model;  // names every chart (the standalone SVG too): --model, or the input's stem
  std::size_t top = 8;
  ReportAxis axis = ReportAxis::linear;
  const ReportEvaluations* evaluations = nullptr;
};

// The point with the highest achieved sparsity whose `metric` evaluation succeeded and stays
// within max_drop of the baseline (search's feasibility); nullopt when none or no baseline.
std::optional<std::size_t> best_within_tolerance(const SweepResult& r, const ReportEvaluations& e);

// A SweepResult rebuilt from the per-tensor results of materialised points (in point order):
// the report of a materialised sweep shows what was recorded.
SweepResult sweep_result_of(RuleMode mode, Scope scope, const std::vector<std::string>& values,
                            const std::vector<const PruneResult*>& results);

std::string sweep_report_html(const SweepResult& r, const ReportOptions& o);
// The metric chart of ReportEvaluations::metric when there are evaluations, else the overall chart.
std::string sweep_report_svg(const SweepResult& r, const ReportOptions& o);

}  // namespace h5p
