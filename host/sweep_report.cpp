// Builds the sweep report's charts and table from a SweepResult.
#include "host/sweep_report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "formats/prune_record.hpp"
#include "formats/svg_chart.hpp"

namespace h5p {
namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::vector<double> swept_values(const SweepResult& r) {
  std::vector<double> xs;
  for (const auto& v : r.values) xs.push_back(std::strtod(v.c_str(), nullptr));
  return xs;
}

std::string swept_label(const SweepResult& r) {
  return r.mode == RuleMode::sparsity ? std::string("requested sparsity (") + scope_name(r.scope) + " scope)"
                                      : "threshold |w| <";
}

Chart overall_chart(const SweepResult& r, const std::string& model) {
  Chart c{model + ": achieved sparsity and retained L2, all selected tensors", swept_label(r), "fraction", 0, 1, {}};
  const auto xs = swept_values(r);
  ChartSeries sparsity{"achieved sparsity", xs, {}}, l2{"retained L2", xs, {}};
  const double n = static_cast<double>(r.total_n());
  for (std::size_t p = 0; p < r.values.size(); ++p) {
    sparsity.y.push_back(n > 0 ? static_cast<double>(r.pruned(p)) / n : 0.0);
    l2.y.push_back(r.retained_l2(p));
  }
  c.series = {sparsity, l2};
  return c;
}

// Per-tensor curves for the `top` largest tensors; the rest folded into one "other" curve.
Chart per_tensor_chart(const SweepResult& r, const std::string& model, std::size_t top, bool l2) {
  Chart c{model + (l2 ? ": retained L2 per tensor" : ": achieved sparsity per tensor"), swept_label(r),
          l2 ? "retained L2" : "achieved sparsity", 0, 1, {}};
  std::vector<std::size_t> order(r.tensors.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return r.tensors[a].n > r.tensors[b].n; });
  const auto xs = swept_values(r);
  const std::size_t shown = std::min(top, order.size());
  auto curve = [&](const std::string& name, const std::vector<std::size_t>& members) {
    ChartSeries s{name, xs, {}};
    for (std::size_t p = 0; p < r.values.size(); ++p) {
      double n = 0, pruned = 0, before = 0, after = 0;
      for (std::size_t ti : members) {
        n += static_cast<double>(r.tensors[ti].n);
        pruned += static_cast<double>(r.cells[p][ti].pruned);
        before += r.tensors[ti].sum_sq;
        after += r.cells[p][ti].sum_sq_after;
      }
      s.y.push_back(l2 ? retained_l2(before, after) : (n > 0 ? pruned / n : 0.0));
    }
    return s;
  };
  for (std::size_t i = 0; i < shown; ++i) c.series.push_back(curve(r.tensors[order[i]].path, {order[i]}));
  if (order.size() > shown)
    c.series.push_back(curve("other (" + std::to_string(order.size() - shown) +
                                 (order.size() - shown == 1 ? " tensor)" : " tensors)"),
                             std::vector<std::size_t>(order.begin() + static_cast<long>(shown), order.end())));
  return c;
}

}  // namespace

std::string sweep_report_svg(const SweepResult& r, const std::string& model) { return render_svg(overall_chart(r, model)); }

std::string sweep_report_html(const SweepResult& r, const std::string& input, const std::string& model,
                              std::size_t top_tensors) {
  std::string h = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>h5prune sweep: " +
                  xml_escape(input) + "</title>\n<style>body{font-family:sans-serif;margin:24px;color:#222}"
                  "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
                  "th{background:#f4f4f4}td:first-child{text-align:left}</style></head><body>\n";
  h += "<h1>Sweep of " + xml_escape(input) + "</h1>\n<p>" + std::to_string(r.values.size()) + " points, " +
       std::to_string(r.tensors.size()) + " tensors, " + std::to_string(r.total_n()) + " weights; rule: " +
       (r.mode == RuleMode::sparsity ? std::string("sparsity, ") + scope_name(r.scope) + " scope" : "threshold") +
       ". Every point equals what <code>h5prune prune</code> does at that value.</p>\n";
  h += "<section id=\"overall\">" + render_svg(overall_chart(r, model)) + "</section>\n";
  h += "<section id=\"per-tensor-l2\">" + render_svg(per_tensor_chart(r, model, top_tensors, true)) + "</section>\n";
  h += "<section id=\"per-tensor-sparsity\">" + render_svg(per_tensor_chart(r, model, top_tensors, false)) + "</section>\n";
  h += "<h2>Points</h2>\n<table id=\"points\"><thead><tr><th>" +
       std::string(r.mode == RuleMode::sparsity ? "sparsity" : "threshold") +
       "</th><th>pruned</th><th>of</th><th>achieved sparsity</th><th>retained L2</th></tr></thead><tbody>\n";
  const double n = static_cast<double>(r.total_n());
  for (std::size_t p = 0; p < r.values.size(); ++p)
    h += "<tr><td>" + xml_escape(r.values[p]) + "</td><td>" + std::to_string(r.pruned(p)) + "</td><td>" +
         std::to_string(r.total_n()) + "</td><td>" + fmt("%.6f", n > 0 ? static_cast<double>(r.pruned(p)) / n : 0.0) +
         "</td><td>" + fmt("%.6f", r.retained_l2(p)) + "</td></tr>\n";
  h += "</tbody></table>\n</body></html>\n";
  return h;
}

}  // namespace h5p
