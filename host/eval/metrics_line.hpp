// The evaluation contract's last line: a JSON object of metric names to finite numbers,
// e.g. {"accuracy": 0.973, "loss": 0.112}. docs/EVAL.md.
#pragma once
#include <map>
#include <string>
#include <variant>

namespace h5p {

using MetricValues = std::map<std::string, double>;  // by name, so records and columns have one order

// A metric name: a letter or '_', then letters, digits, '_', '.', '-' (at most 64 bytes), so
// that `log --where NAME>=X` and Prometheus labels can carry it unchanged.
bool valid_metric_name(const std::string& name);

// The metrics of a line, or why it is not a metrics line (one phrase, for the error message).
std::variant<MetricValues, std::string> parse_metrics_line(const std::string& line);

}  // namespace h5p
