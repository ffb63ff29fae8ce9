// SVG line charts: linear axes with ticks at round values, a colour per series from a fixed palette.
#include "formats/svg_chart.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

namespace h5p {

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

namespace {

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

std::string tick_label(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

// Ticks at round values: a step of 1, 2 or 5 x 10^k giving about four intervals over [lo, hi],
// from the first multiple of the step at or above lo.
std::vector<double> round_ticks(double lo, double hi) {
  const double raw = (hi - lo) / 4.0;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * mag * 1.0000001) {
      step = m * mag;
      break;
    }
  std::vector<double> ticks;
  for (double t = std::ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step)
    ticks.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
  return ticks;
}

const char* kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                          "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

}  // namespace

std::string render_svg(const Chart& c, int width, int height) {
  const double left = 70, right = 250, top = 40, bottom = 55;
  const double pw = width - left - right, ph = height - top - bottom;
  double x_min = INFINITY, x_max = -INFINITY;
  for (const auto& s : c.series)
    for (double x : s.x) {
      x_min = std::min(x_min, x);
      x_max = std::max(x_max, x);
    }
  if (!std::isfinite(x_min)) x_min = 0, x_max = 1;
  if (x_max == x_min) x_max = x_min + 1;
  const double y_min = c.y_min, y_max = c.y_max > c.y_min ? c.y_max : c.y_min + 1;
  auto px = [&](double x) { return left + (x - x_min) / (x_max - x_min) * pw; };
  auto py = [&](double y) { return top + (1.0 - (std::clamp(y, y_min, y_max) - y_min) / (y_max - y_min)) * ph; };

  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(width) + "\" height=\"" +
                    std::to_string(height) + "\" viewBox=\"0 0 " + std::to_string(width) + " " +
                    std::to_string(height) + "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  svg += "<text class=\"title\" x=\"" + num(left) + "\" y=\"22\" font-size=\"15\" font-weight=\"bold\">" +
         xml_escape(c.title) + "</text>\n";
  // Axes and ticks.
  svg += "<g class=\"axes\" stroke=\"#333\">\n";
  svg += "<line x1=\"" + num(left) + "\" y1=\"" + num(top + ph) + "\" x2=\"" + num(left + pw) + "\" y2=\"" +
         num(top + ph) + "\"/>\n";
  svg += "<line x1=\"" + num(left) + "\" y1=\"" + num(top) + "\" x2=\"" + num(left) + "\" y2=\"" + num(top + ph) + "\"/>\n";
  svg += "</g>\n<g class=\"ticks\" fill=\"#333\">\n";
  for (const double xv : round_ticks(x_min, x_max)) {
    svg += "<line x1=\"" + num(px(xv)) + "\" y1=\"" + num(top + ph) + "\" x2=\"" + num(px(xv)) + "\" y2=\"" +
           num(top + ph + 5) + "\" stroke=\"#333\"/>";
    svg += "<text x=\"" + num(px(xv)) + "\" y=\"" + num(top + ph + 18) + "\" text-anchor=\"middle\">" + tick_label(xv) +
           "</text>\n";
  }
  for (const double yv : round_ticks(y_min, y_max)) {
    svg += "<line x1=\"" + num(left) + "\" y1=\"" + num(py(yv)) + "\" x2=\"" + num(left + pw) + "\" y2=\"" +
           num(py(yv)) + "\" stroke=\"#eee\"/>";
    svg += "<text x=\"" + num(left - 8) + "\" y=\"" + num(py(yv) + 4) + "\" text-anchor=\"end\">" + tick_label(yv) +
           "</text>\n";
  }
  svg += "</g>\n";
  svg += "<text class=\"x-label\" x=\"" + num(left + pw / 2) + "\" y=\"" + num(height - 12.0) +
         "\" text-anchor=\"middle\">" + xml_escape(c.x_label) + "</text>\n";
  svg += "<text class=\"y-label\" transform=\"translate(18," + num(top + ph / 2) +
         ") rotate(-90)\" text-anchor=\"middle\">" + xml_escape(c.y_label) + "</text>\n";
  // One path per series, and its legend entry.
  for (std::size_t i = 0; i < c.series.size(); ++i) {
    const auto& s = c.series[i];
    const char* colour = kPalette[i % (sizeof kPalette / sizeof *kPalette)];
    std::string d;
    for (std::size_t j = 0; j < s.x.size() && j < s.y.size(); ++j)
      d += (j ? " L" : "M") + num(px(s.x[j])) + "," + num(py(s.y[j]));
    svg += "<path class=\"series\" data-name=\"" + xml_escape(s.name) + "\" d=\"" + d + "\" fill=\"none\" stroke=\"" +
           colour + "\" stroke-width=\"2\"/>\n";
    const double ly = top + 14.0 * static_cast<double>(i);
    svg += "<rect x=\"" + num(left + pw + 12) + "\" y=\"" + num(ly) + "\" width=\"10\" height=\"10\" fill=\"" + colour +
           "\"/><text class=\"legend\" x=\"" + num(left + pw + 26) + "\" y=\"" + num(ly + 9) + "\">" +
           xml_escape(s.name.size() > 34 ? "..." + s.name.substr(s.name.size() - 31) : s.name) + "</text>\n";
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace h5p
