// Prometheus text exposition (format 0.0.4) for node_exporter's textfile collector:
// escaping, HELP/TYPE lines, value formatting, and an atomic write of the whole file.
#pragma once
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace h5p::prom {

using Labels = std::vector<std::pair<std::string, std::string>>;  // name, value (in order)

struct Sample {
  Labels labels;
  double value = 0;
};

struct Family {
  std::string name;
  std::string help;
  std::string type;  // "gauge", "counter", "untyped"
  std::vector<Sample> samples;
};

// Label values: backslash, double quote and line feed escaped (\\, \", \n).
std::string escape_label_value(const std::string& value);

// HELP text: backslash and line feed escaped.
std::string escape_help(const std::string& help);

// Replaces every invalid UTF-8 sequence by U+FFFD, so a label value is always valid UTF-8.
std::string valid_utf8(const std::string& text);

// Shortest text that reads back as the same double; NaN, +Inf, -Inf as Prometheus spells them.
std::string format_value(double value);

// The whole exposition: each family once, HELP then TYPE then its samples, no timestamps.
// Families without samples are left out. Throws std::invalid_argument on an invalid metric
// or label name, or on a family name given twice.
std::string render(const std::vector<Family>& families);

// Writes text to path through a temporary file in the same directory (fsync, rename), so a
// reader sees the previous file or the new one, never part of one. Throws OutputError.
void write_file_atomically(const std::string& path, const std::string& text);

// The value of the first sample of `family` in an exposition text, or nullopt when there is
// none or it does not parse (used to carry a value over from the previous run's file).
std::optional<double> first_sample_value(const std::string& text, const std::string& family);

}  // namespace h5p::prom
