// A small, dependency-free SVG line chart (axes, ticks, labels, legend; one <path> per series)
// for self-contained reports that open in any browser without JavaScript or network.
#pragma once
#include <string>
#include <vector>

namespace h5p {

struct ChartSeries {
  std::string name;
  std::vector<double> x;
  std::vector<double> y;
};

struct Chart {
  std::string title;
  std::string x_label;
  std::string y_label;
  double y_min = 0.0;  // fixed y range (sparsity and L2 fractions live in [0, 1])
  double y_max = 1.0;
  std::vector<ChartSeries> series;
};

// A standalone <svg> element (with xmlns), width x height pixels.
std::string render_svg(const Chart& chart, int width = 780, int height = 360);

// Escapes &, <, >, " and ' for XML/HTML text and attributes.
std::string xml_escape(const std::string& s);

}  // namespace h5p
