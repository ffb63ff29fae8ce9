// Small text helpers shared by the subcommands' human output.
#pragma once
#include <hdf5.h>

#include <cstdio>
#include <string>
#include <vector>

#include "formats/json_names.hpp"
#include "formats/prune_record.hpp"

namespace h5p::cli {

inline std::string shape_text(const std::vector<hsize_t>& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  if (shape.size() == 1) s += ",";
  return s + ")";
}

inline std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

inline std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) {
    b /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u ? "%.1f %s" : "%.0f %s", b, units[u]);
  return buf;
}

// A structured tensor's removed slices, one line: "PATH: zeroed 2 of 8 slices along axis 1 (L2): [0,5]".
inline std::string removed_slices_line(const TensorResult& t) {
  std::string line = printable(t.path);
  line.append(": zeroed ").append(std::to_string(t.removed_slices.size())).append(" of ").append(std::to_string(t.slices));
  line.append(" slices along axis ").append(std::to_string(t.axis.value_or(0))).append(" (L").append(std::to_string(t.norm_p));
  line.append("): [");
  for (std::size_t i = 0; i < t.removed_slices.size(); ++i) {
    if (i) line.push_back(',');
    line.append(std::to_string(t.removed_slices[i]));
  }
  line.push_back(']');
  return line;
}

// Left-aligned first column, right-aligned others. Cells (tensor names from files) are printed
// with control characters and bytes that are not UTF-8 as \xHH.
inline void print_table(std::vector<std::vector<std::string>> rows) {
  if (rows.empty()) return;
  for (auto& r : rows)
    for (auto& cell : r) cell = printable(cell);
  std::vector<std::size_t> width(rows[0].size(), 0);
  for (const auto& r : rows)
    for (std::size_t c = 0; c < r.size(); ++c) width[c] = std::max(width[c], r[c].size());
  for (const auto& r : rows) {
    std::string line;
    for (std::size_t c = 0; c < r.size(); ++c) {
      const std::string pad(width[c] - r[c].size(), ' ');
      line += c == 0 ? r[c] + pad : "  " + pad + r[c];
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::printf("%s\n", line.c_str());
  }
}

}  // namespace h5p::cli
