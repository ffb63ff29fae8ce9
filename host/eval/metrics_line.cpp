// Parsing the evaluation command's metrics line; every rejection says what was wrong.
#include "host/eval/metrics_line.hpp"

#include <cmath>
#include <nlohmann/json.hpp>

namespace h5p {

bool valid_metric_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  const auto letter = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (!letter(name[0])) return false;
  for (char c : name)
    if (!letter(c) && !(c >= '0' && c <= '9') && c != '.' && c != '-') return false;
  return true;
}

std::variant<MetricValues, std::string> parse_metrics_line(const std::string& line) {
  if (line.empty()) return std::string("it printed nothing on stdout");
  const std::string shown = line.size() > 80 ? line.substr(0, 77) + "..." : line;
  const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    return "its last stdout line is not a JSON object of metrics: '" + shown + "'";
  if (j.empty()) return std::string("its last stdout line is an empty JSON object (no metric)");
  MetricValues out;
  for (const auto& [name, value] : j.items()) {
    if (!valid_metric_name(name))
      return "metric name '" + name + "' is not [A-Za-z_][A-Za-z0-9_.-]* (at most 64 bytes)";
    if (!value.is_number()) return "metric '" + name + "' is not a number: " + value.dump();
    const double v = value.get<double>();
    if (!std::isfinite(v)) return "metric '" + name + "' is not finite";
    out[name] = v;
  }
  return out;
}

}  // namespace h5p
