// A small, dependency-free SVG line chart (axes, ticks, labels, legend; one <path> per series,
// optional reference lines, a shaded band and point markers) for self-contained reports that
// open in any browser without JavaScript or network.
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace h5p {

struct ChartSeries {
  std::string name;
  std::vector<double> x;
  std::vector<double> y;
  bool dots = false;  // a dot at every point (measured points, not a dense curve)
};

// How x values are placed. complement_log spreads the end near 1 (sparsity 0.9, 0.99, 0.999 at
// equal steps): positions by log10(1 - x), whole decades of 1 - x from the one at or above the
// largest to the one at or below the smallest (a density within 0.01 decade of a decade counts as
// on it: 0.99 achieved as 0.99004 ends the axis at 0.99); points with x >= 1 are not drawn.
enum class XScale { linear, complement_log };

struct ChartLine {  // horizontal reference line across the plot (a baseline)
  std::string cls, label, colour;
  double y = 0;
};

struct ChartBand {  // shaded horizontal band across the plot (a tolerance)
  std::string cls, label, fill;
  double y_lo = 0, y_hi = 0;
};

struct ChartMarker {  // one highlighted point (the best choice)
  std::string cls, label, colour;
  double x = 0, y = 0;
};

struct Chart {
  std::string title;
  std::string x_label;
  std::string y_label;
  double y_min = 0.0;  // fixed y range (sparsity and L2 fractions live in [0, 1])
  double y_max = 1.0;
  std::vector<ChartSeries> series;
  XScale x_scale = XScale::linear;
  std::vector<ChartBand> bands;  // drawn first, under everything
  std::vector<ChartLine> lines;
  std::vector<ChartMarker> markers;  // drawn last, over the series
};

// A standalone <svg> element (with xmlns), width x height pixels. Reference lines, bands and
// markers carry class and data-* attributes (data-y, data-y-lo, data-y-hi, data-x) holding their
// values, so tests and scripts can read what was drawn where.
std::string render_svg(const Chart& chart, int width = 780, int height = 360);

// [lo, hi] widened to round values (multiples of the tick step) so that a value range with no
// natural bounds (a loss, an accuracy near 0.97) gets readable ticks at its ends.
std::pair<double, double> round_range(double lo, double hi);

// Escapes &, <, >, " and ' for XML/HTML text and attributes.
std::string xml_escape(const std::string& s);

}  // namespace h5p
