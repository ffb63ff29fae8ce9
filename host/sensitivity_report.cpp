// Heatmap cells coloured from red (the lowest value seen) to green (the highest), with the
// value written in each cell; failed evaluations grey. Long tensor paths keep their end.
#include "host/sensitivity_report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "formats/svg_chart.hpp"

namespace h5p {
namespace {

std::string num(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// The distinguishing end of a long path: "…/dense_3/kernel:0".
std::string path_tail(const std::string& p, std::size_t keep = 38) {
  return p.size() <= keep ? p : "\u2026" + p.substr(p.size() - keep);
}

const double* value_of(const SensitivityCell& c, const std::string& metric) {
  if (!c.evaluation.ok) return nullptr;
  const auto it = c.evaluation.metrics.find(metric);
  return it == c.evaluation.metrics.end() ? nullptr : &it->second;
}

}  // namespace

std::string sensitivity_report_svg(const SensitivityResult& r, const std::string& metric, const std::string& model) {
  const int label_w = 300, cell_w = std::max(46, 560 / std::max<int>(1, static_cast<int>(r.values.size()))), cell_h = 24,
            top = 58;
  const int width = label_w + cell_w * static_cast<int>(r.values.size()) + 20;
  const int height = top + cell_h * static_cast<int>(r.tensors.size()) + 30;
  double lo = HUGE_VAL, hi = -HUGE_VAL;
  for (const auto& c : r.cells)
    if (const double* v = value_of(c, metric)) lo = std::min(lo, *v), hi = std::max(hi, *v);
  std::string s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(width) + "\" height=\"" +
                  std::to_string(height) + "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  s += "<text x=\"10\" y=\"20\" font-size=\"15\" font-weight=\"bold\">" + xml_escape(model) + ": " + xml_escape(metric) +
       " with one tensor pruned at a time</text>\n";
  s += "<text x=\"" + std::to_string(label_w) + "\" y=\"" + std::to_string(top - 22) +
       "\">requested sparsity of that tensor (the others untouched)</text>\n";
  for (std::size_t p = 0; p < r.values.size(); ++p)
    s += "<text x=\"" + std::to_string(label_w + static_cast<int>(p) * cell_w + cell_w / 2) + "\" y=\"" +
         std::to_string(top - 6) + "\" text-anchor=\"middle\">" + xml_escape(r.values[p]) + "</text>\n";
  for (std::size_t t = 0; t < r.tensors.size(); ++t)
    s += "<text x=\"" + std::to_string(label_w - 6) + "\" y=\"" + std::to_string(top + static_cast<int>(t) * cell_h + 16) +
         "\" text-anchor=\"end\"><title>" + xml_escape(r.tensors[t]) + "</title>" + xml_escape(path_tail(r.tensors[t])) +
         "</text>\n";
  for (const auto& c : r.cells) {
    const int x = label_w + static_cast<int>(c.point) * cell_w, y = top + static_cast<int>(c.tensor) * cell_h;
    const double* v = value_of(c, metric);
    std::string fill = "#bbbbbb", text = "failed";
    if (v) {
      const double f = hi > lo ? (*v - lo) / (hi - lo) : 1.0;  // 0 worst seen .. 1 best seen
      fill = "hsl(" + num("%.0f", 120.0 * f) + ",70%,62%)";
      text = num("%.4g", *v);
    }
    s += "<rect class=\"cell\" x=\"" + std::to_string(x) + "\" y=\"" + std::to_string(y) + "\" width=\"" +
         std::to_string(cell_w - 2) + "\" height=\"" + std::to_string(cell_h - 2) + "\" fill=\"" + fill + "\"><title>" +
         xml_escape(r.tensors[c.tensor] + " at " + r.values[c.point] + ": " + text) + "</title></rect>\n";
    s += "<text x=\"" + std::to_string(x + cell_w / 2 - 1) + "\" y=\"" + std::to_string(y + 15) +
         "\" text-anchor=\"middle\" font-size=\"11\">" + text + "</text>\n";
  }
  s += "<text x=\"10\" y=\"" + std::to_string(height - 8) + "\" fill=\"#555\">colour: red = lowest " + xml_escape(metric) +
       " seen (" + (lo <= hi ? num("%.4g", lo) : std::string("-")) + "), green = highest (" +
       (lo <= hi ? num("%.4g", hi) : std::string("-")) + "); grey = evaluation failed</text>\n</svg>\n";
  return s;
}

std::string sensitivity_report_html(const SensitivityResult& r, const std::string& metric, const std::string& input,
                                    const std::string& model) {
  std::string h = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>h5prune sensitivity: " +
                  xml_escape(model) + "</title>\n<style>body{font-family:sans-serif;margin:24px;color:#222}"
                  "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
                  "th{background:#f4f4f4}td:first-child{text-align:left}</style></head><body>\n";
  h += "<h1>Sensitivity of " + xml_escape(model) + " (" + xml_escape(input) + ")</h1>\n<p>Each cell is the evaluation of "
       "the file <code>h5prune prune --include '^TENSOR$'</code> writes at that point: one tensor pruned, the others "
       "untouched. A layer whose row stays green tolerates pruning.</p>\n";
  h += "<section id=\"heatmap\">" + sensitivity_report_svg(r, metric, model) + "</section>\n";
  h += "<h2>Cells</h2>\n<table id=\"cells\"><thead><tr><th>tensor</th><th>point</th><th>achieved</th><th>" +
       xml_escape(metric) + "</th><th>version</th></tr></thead><tbody>\n";
  for (const auto& c : r.cells) {
    const double* v = value_of(c, metric);
    h += "<tr><td>" + xml_escape(r.tensors[c.tensor]) + "</td><td>" + xml_escape(r.values[c.point]) + "</td><td>" +
         num("%.4f", c.achieved) + "</td><td>" + (v ? num("%.6g", *v) : std::string("failed")) + "</td><td>" +
         (c.version ? std::to_string(*c.version) : std::string("-")) + "</td></tr>\n";
  }
  h += "</tbody></table>\n</body></html>\n";
  return h;
}

}  // namespace h5p
