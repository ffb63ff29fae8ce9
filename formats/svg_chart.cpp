// SVG line charts: linear or complement-log x axes with ticks at round values, a colour per series
// from a fixed palette.
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

// A value in a data-* attribute: enough digits to read it back exactly.
std::string value_text(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::string tick_label(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

// A round step, 1, 2 or 5 x 10^k, giving about four intervals over [lo, hi].
double tick_step(double lo, double hi) {
  const double raw = (hi - lo) / 4.0;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0})
    if (raw <= m * mag * 1.0000001) return m * mag;
  return 10.0 * mag;
}

// Ticks at the multiples of that step inside [lo, hi].
std::vector<double> round_ticks(double lo, double hi) {
  const double step = tick_step(lo, hi);
  std::vector<double> ticks;
  for (double t = std::ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step)
    ticks.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
  return ticks;
}

const char* kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                          "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

// Where x values go: a fraction of the plot width, and the ticks (value, label) under the axis.
struct XAxis {
  XScale scale = XScale::linear;
  double lo = 0, hi = 1;  // linear: x range; complement_log: log10 of the densities 1 - x at the ends (hi at left)
  bool has(double x) const { return scale == XScale::linear || x < 1.0; }
  double frac(double x) const {
    return scale == XScale::linear ? (x - lo) / (hi - lo) : (hi - std::log10(1.0 - x)) / (hi - lo);
  }
};

XAxis x_axis(const Chart& c) {
  XAxis a;
  a.scale = c.x_scale;
  double x_min = INFINITY, x_max = -INFINITY;
  for (const auto& s : c.series)
    for (double x : s.x)
      if (a.has(x)) x_min = std::min(x_min, x), x_max = std::max(x_max, x);
  for (const auto& m : c.markers)
    if (a.has(m.x)) x_min = std::min(x_min, m.x), x_max = std::max(x_max, m.x);
  if (!std::isfinite(x_min)) x_min = 0, x_max = a.scale == XScale::linear ? 1 : 0.9;
  if (a.scale == XScale::linear) {
    a.lo = x_min, a.hi = x_max == x_min ? x_min + 1 : x_max;
  } else {  // whole decades of the density 1 - x; a point within 0.01 decade of one ends there
    a.hi = std::ceil(std::log10(1.0 - x_min) - 0.01);
    a.lo = std::floor(std::log10(1.0 - x_max) + 0.01);
    if (a.lo >= a.hi) a.lo = a.hi - 1;
  }
  return a;
}

std::vector<std::pair<double, std::string>> x_ticks(const XAxis& a) {
  std::vector<std::pair<double, std::string>> ticks;
  if (a.scale == XScale::linear) {
    for (double t : round_ticks(a.lo, a.hi)) ticks.emplace_back(t, tick_label(t));
    return ticks;
  }
  // Densities 10^k at every decade, and 0.5 and 0.2 x 10^k between them when there are few
  // decades: sparsity labels 0, 0.5, 0.8, 0.9, 0.95, 0.98, 0.99, ...
  const bool fine = a.hi - a.lo <= 3;
  const auto label = [](double x) {  // 0.99999 must not round to "1"
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.8g", x);
    return std::string(buf);
  };
  for (double k = a.hi; k >= a.lo - 1e-9; k -= 1) {
    const double d = std::pow(10.0, k);
    ticks.emplace_back(1.0 - d, label(1.0 - d));
    if (fine && k > a.lo + 1e-9)
      for (double m : {0.5, 0.2}) ticks.emplace_back(1.0 - m * d, label(1.0 - m * d));
  }
  return ticks;
}

}  // namespace

std::pair<double, double> round_range(double lo, double hi) {
  if (!(hi > lo)) hi = lo + (lo == 0 ? 1 : std::abs(lo) * 0.1);
  const double step = tick_step(lo, hi);
  return {std::floor(lo / step + 1e-9) * step, std::ceil(hi / step - 1e-9) * step};
}

std::string render_svg(const Chart& c, int width, int height) {
  const double left = 70, right = 250, top = 40, bottom = 55;
  const double pw = width - left - right, ph = height - top - bottom;
  const XAxis xa = x_axis(c);
  const double y_min = c.y_min, y_max = c.y_max > c.y_min ? c.y_max : c.y_min + 1;
  auto px = [&](double x) { return left + xa.frac(x) * pw; };
  auto py = [&](double y) { return top + (1.0 - (std::clamp(y, y_min, y_max) - y_min) / (y_max - y_min)) * ph; };

  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(width) + "\" height=\"" +
                    std::to_string(height) + "\" viewBox=\"0 0 " + std::to_string(width) + " " +
                    std::to_string(height) + "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  svg += "<text class=\"title\" x=\"" + num(left) + "\" y=\"22\" font-size=\"15\" font-weight=\"bold\">" +
         xml_escape(c.title) + "</text>\n";
  for (const auto& b : c.bands) {
    const double y0 = py(std::max(b.y_lo, b.y_hi)), y1 = py(std::min(b.y_lo, b.y_hi));
    svg += "<rect class=\"" + b.cls + "\" data-y-lo=\"" + value_text(b.y_lo) + "\" data-y-hi=\"" + value_text(b.y_hi) +
           "\" x=\"" + num(left) + "\" y=\"" + num(y0) + "\" width=\"" + num(pw) + "\" height=\"" + num(y1 - y0) +
           "\" fill=\"" + b.fill + "\"/>\n";
  }
  // Axes and ticks.
  svg += "<g class=\"axes\" stroke=\"#333\">\n";
  svg += "<line x1=\"" + num(left) + "\" y1=\"" + num(top + ph) + "\" x2=\"" + num(left + pw) + "\" y2=\"" +
         num(top + ph) + "\"/>\n";
  svg += "<line x1=\"" + num(left) + "\" y1=\"" + num(top) + "\" x2=\"" + num(left) + "\" y2=\"" + num(top + ph) + "\"/>\n";
  svg += "</g>\n<g class=\"ticks\" fill=\"#333\">\n";
  for (const auto& [xv, label] : x_ticks(xa)) {
    svg += "<line class=\"x-tick\" data-x=\"" + value_text(xv) + "\" x1=\"" + num(px(xv)) + "\" y1=\"" + num(top + ph) +
           "\" x2=\"" + num(px(xv)) + "\" y2=\"" + num(top + ph + 5) + "\" stroke=\"#333\"/>";
    svg += "<text x=\"" + num(px(xv)) + "\" y=\"" + num(top + ph + 18) + "\" text-anchor=\"middle\">" + label +
           "</text>\n";
  }
  for (const double yv : round_ticks(y_min, y_max)) {
    svg += "<line class=\"y-tick\" data-y=\"" + value_text(yv) + "\" x1=\"" + num(left) + "\" y1=\"" + num(py(yv)) +
           "\" x2=\"" + num(left + pw) + "\" y2=\"" + num(py(yv)) + "\" stroke=\"#eee\"/>";
    svg += "<text x=\"" + num(left - 8) + "\" y=\"" + num(py(yv) + 4) + "\" text-anchor=\"end\">" + tick_label(yv) +
           "</text>\n";
  }
  svg += "</g>\n";
  svg += "<text class=\"x-label\" x=\"" + num(left + pw / 2) + "\" y=\"" + num(height - 12.0) +
         "\" text-anchor=\"middle\">" + xml_escape(c.x_label) + "</text>\n";
  svg += "<text class=\"y-label\" transform=\"translate(18," + num(top + ph / 2) +
         ") rotate(-90)\" text-anchor=\"middle\">" + xml_escape(c.y_label) + "</text>\n";
  for (const auto& l : c.lines)
    svg += "<line class=\"" + l.cls + "\" data-y=\"" + value_text(l.y) + "\" x1=\"" + num(left) + "\" y1=\"" + num(py(l.y)) +
           "\" x2=\"" + num(left + pw) + "\" y2=\"" + num(py(l.y)) + "\" stroke=\"" + l.colour +
           "\" stroke-width=\"2\" stroke-dasharray=\"8,4\"/>\n";
  // One path per series (broken where a point has no place on the axis), and the legend.
  std::size_t legend = 0;
  auto legend_entry = [&](const std::string& name, const std::string& swatch) {
    const double ly = top + 14.0 * static_cast<double>(legend++);
    svg += swatch.empty() ? "" : "<rect x=\"" + num(left + pw + 12) + "\" y=\"" + num(ly) +
                                     "\" width=\"10\" height=\"10\" fill=\"" + swatch + "\"/>";
    // The distinguishing end of a long name (tensor paths differ at their end); the whole in a tooltip.
    svg += "<text class=\"legend\" x=\"" + num(left + pw + 26) + "\" y=\"" + num(ly + 9) + "\"><title>" +
           xml_escape(name) + "</title>" + xml_escape(name.size() > 34 ? "..." + name.substr(name.size() - 31) : name) +
           "</text>\n";
  };
  for (std::size_t i = 0; i < c.series.size(); ++i) {
    const auto& s = c.series[i];
    const char* colour = kPalette[i % (sizeof kPalette / sizeof *kPalette)];
    std::string d, dots;
    bool pen_down = false;
    for (std::size_t j = 0; j < s.x.size() && j < s.y.size(); ++j) {
      if (!xa.has(s.x[j])) {
        pen_down = false;
        continue;
      }
      d += (pen_down ? " L" : (d.empty() ? "M" : " M")) + num(px(s.x[j])) + "," + num(py(s.y[j]));
      pen_down = true;
      if (s.dots)
        dots += "<circle cx=\"" + num(px(s.x[j])) + "\" cy=\"" + num(py(s.y[j])) + "\" r=\"3\" fill=\"" + colour + "\"/>";
    }
    svg += "<path class=\"series\" data-name=\"" + xml_escape(s.name) + "\" d=\"" + d + "\" fill=\"none\" stroke=\"" +
           colour + "\" stroke-width=\"2\"/>\n" + (dots.empty() ? "" : dots + "\n");
    legend_entry(s.name, colour);
  }
  for (const auto& l : c.lines) legend_entry(l.label, l.colour);
  for (const auto& b : c.bands) legend_entry(b.label, b.fill);
  for (const auto& m : c.markers) {
    if (!xa.has(m.x)) continue;
    svg += "<circle class=\"" + m.cls + "\" data-x=\"" + value_text(m.x) + "\" data-y=\"" + value_text(m.y) + "\" cx=\"" +
           num(px(m.x)) + "\" cy=\"" + num(py(m.y)) + "\" r=\"7\" fill=\"none\" stroke=\"" + m.colour +
           "\" stroke-width=\"3\"/>\n";
    legend_entry(m.label, m.colour);
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace h5p
