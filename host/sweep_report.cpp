// Builds the sweep report's charts and table from a SweepResult and, for a materialised sweep
// with --eval, its evaluations.
#include "host/sweep_report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <set>

#include "formats/prune_record.hpp"
#include "formats/svg_chart.hpp"
#include "host/search.hpp"

namespace h5p {
namespace {

// Two curves closer than this everywhere (half a percent of the [0, 1] range, about a pixel)
// look like one: the per-tensor charts draw one of them and say how many it stands for.
constexpr double kAlike = 0.005;

const char* kBaselineColour = "#6a3d9a";
const char* kBandFill = "#fff0b3";
const char* kBestColour = "#e6007e";

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

double achieved(const SweepResult& r, std::size_t p) {
  const double n = static_cast<double>(r.total_n());
  return n > 0 ? static_cast<double>(r.pruned(p)) / n : 0.0;
}

// A chart of fractions in [0, 1] (the metric charts set their own range).
Chart chart(const std::string& title, const std::string& x_label, const std::string& y_label) {
  Chart c;
  c.title = title;
  c.x_label = x_label;
  c.y_label = y_label;
  return c;
}

XScale x_scale(const ReportOptions& o) { return o.axis == ReportAxis::log_density ? XScale::complement_log : XScale::linear; }

std::string axis_note(const ReportOptions& o) {
  return o.axis == ReportAxis::log_density ? ", log scale of the density 1 - s" : "";
}

std::string swept_label(const SweepResult& r, const ReportOptions& o) {
  return r.mode == RuleMode::sparsity ? std::string("requested sparsity (") + scope_name(r.scope) + " scope" + axis_note(o) + ")"
                                      : "threshold |w| <";
}

Chart overall_chart(const SweepResult& r, const ReportOptions& o) {
  Chart c = chart(o.model + ": achieved sparsity and retained L2, all selected tensors", swept_label(r, o), "fraction");
  c.x_scale = x_scale(o);
  const auto xs = swept_values(r);
  ChartSeries sparsity{"achieved sparsity", xs, {}}, l2{"retained L2", xs, {}};
  for (std::size_t p = 0; p < r.values.size(); ++p) {
    sparsity.y.push_back(achieved(r, p));
    l2.y.push_back(r.retained_l2(p));
  }
  c.series = {sparsity, l2};
  return c;
}

// Per-tensor curves: tensors taken largest first, each joining the first drawn curve it is alike
// to (kAlike), so the `top` curves drawn are distinct; the tensors of the remaining curves are
// folded into one "other" curve.
Chart per_tensor_chart(const SweepResult& r, const ReportOptions& o, bool l2) {
  Chart c = chart(o.model + (l2 ? ": retained L2 per tensor" : ": achieved sparsity per tensor"), swept_label(r, o),
                  l2 ? "retained L2" : "achieved sparsity");
  c.x_scale = x_scale(o);
  std::vector<std::size_t> order(r.tensors.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return r.tensors[a].n > r.tensors[b].n; });
  const auto xs = swept_values(r);
  auto curve = [&](const std::vector<std::size_t>& members) {
    std::vector<double> y;
    for (std::size_t p = 0; p < r.values.size(); ++p) {
      double n = 0, pruned = 0, before = 0, after = 0;
      for (std::size_t ti : members) {
        n += static_cast<double>(r.tensors[ti].n);
        pruned += static_cast<double>(r.cells[p][ti].pruned);
        before += r.tensors[ti].sum_sq;
        after += r.cells[p][ti].sum_sq_after;
      }
      y.push_back(l2 ? retained_l2(before, after) : (n > 0 ? pruned / n : 0.0));
    }
    return y;
  };
  struct Group {
    std::vector<std::size_t> members;
    std::vector<double> y;  // the first member's curve, the one drawn
  };
  std::vector<Group> groups;
  for (std::size_t ti : order) {
    std::vector<double> y = curve({ti});
    auto alike = std::find_if(groups.begin(), groups.end(), [&](const Group& g) {
      for (std::size_t p = 0; p < y.size(); ++p)
        if (std::abs(g.y[p] - y[p]) > kAlike) return false;
      return true;
    });
    if (alike != groups.end()) alike->members.push_back(ti);
    else groups.push_back({{ti}, std::move(y)});
  }
  const std::size_t shown = std::min(o.top, groups.size());
  std::vector<std::size_t> rest;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    if (g >= shown) {
      rest.insert(rest.end(), groups[g].members.begin(), groups[g].members.end());
      continue;
    }
    const std::size_t more = groups[g].members.size() - 1;
    c.series.push_back({r.tensors[groups[g].members[0]].path + (more ? " (+" + std::to_string(more) + " alike)" : ""),
                        xs, groups[g].y});
  }
  if (!rest.empty())
    c.series.push_back({"other (" + std::to_string(rest.size()) + (rest.size() == 1 ? " tensor)" : " tensors)"), xs,
                        curve(rest)});
  return c;
}

const double* metric_of(const std::optional<Evaluation>& e, const std::string& metric) {
  if (!e || !e->ok) return nullptr;
  const auto it = e->metrics.find(metric);
  return it == e->metrics.end() ? nullptr : &it->second;
}

std::set<std::string> metric_names(const ReportEvaluations& e) {
  std::set<std::string> names;
  for (const auto& p : e.points)
    if (p && p->ok)
      for (const auto& [k, v] : p->metrics) names.insert(k);
  return names;
}

// One metric against achieved sparsity: the evaluated points, the baseline and, for the chosen
// metric, the tolerance band and the best point within it.
Chart metric_chart(const SweepResult& r, const ReportOptions& o, const std::string& metric) {
  const ReportEvaluations& e = *o.evaluations;
  Chart c = chart(o.model + ": " + metric + " against achieved sparsity",
                  "achieved sparsity, all selected tensors" +
                      std::string(o.axis == ReportAxis::log_density ? " (log scale of the density 1 - s)" : ""),
                  metric);
  c.x_scale = x_scale(o);
  ChartSeries s{metric, {}, {}, true};
  double lo = HUGE_VAL, hi = -HUGE_VAL;
  for (std::size_t p = 0; p < r.values.size(); ++p)
    if (const double* v = metric_of(e.points[p], metric)) {
      s.x.push_back(achieved(r, p));
      s.y.push_back(*v);
      lo = std::min(lo, *v), hi = std::max(hi, *v);
    }
  c.series.push_back(s);
  if (const double* b = metric_of(e.baseline, metric)) {
    c.lines.push_back({"baseline", "baseline (unpruned): " + fmt("%.6g", *b), kBaselineColour, *b});
    lo = std::min(lo, *b), hi = std::max(hi, *b);
    if (metric == e.metric) {
      const double edge = e.maximize ? *b - e.max_drop : *b + e.max_drop;
      c.bands.push_back({"tolerance", "within " + fmt("%g", e.max_drop) + " of the baseline", kBandFill,
                         std::min(*b, edge), std::max(*b, edge)});
      lo = std::min(lo, edge), hi = std::max(hi, edge);
      if (const auto best = best_within_tolerance(r, e))
        c.markers.push_back({"best", "best: sparsity " + fmt("%.4g", achieved(r, *best)) + " (" + r.values[*best] + ")",
                             kBestColour, achieved(r, *best), *metric_of(e.points[*best], metric)});
    }
  }
  if (lo <= hi) std::tie(c.y_min, c.y_max) = round_range(lo, hi);
  return c;
}

std::string points_note(const SweepResult& r, const ReportOptions& o) {
  if (o.axis != ReportAxis::log_density) return "";
  std::string at_one;
  for (std::size_t p = 0; p < r.values.size(); ++p)
    if (achieved(r, p) >= 1.0 || std::strtod(r.values[p].c_str(), nullptr) >= 1.0) at_one += (at_one.empty() ? "" : ", ") + r.values[p];
  return at_one.empty() ? "" : "<p class=\"note\">Not drawn on the log-density axis (sparsity 1 leaves no density): " +
                                   xml_escape(at_one) + "; see the table.</p>\n";
}

std::string table(const SweepResult& r, const ReportOptions& o) {
  const ReportEvaluations* e = o.evaluations;
  const std::set<std::string> names = e ? metric_names(*e) : std::set<std::string>{};
  const double* base = e ? metric_of(e->baseline, e->metric) : nullptr;
  const auto best = e ? best_within_tolerance(r, *e) : std::nullopt;
  std::string h = "<h2>Points</h2>\n<table id=\"points\"><thead><tr><th>" +
                  std::string(r.mode == RuleMode::sparsity ? "sparsity" : "threshold") +
                  "</th><th>pruned</th><th>of</th><th>achieved sparsity</th><th>retained L2</th>";
  if (e) {
    h += "<th>version</th>";
    for (const auto& n : names) h += "<th>" + xml_escape(n) + "</th>";
    if (base) h += "<th>" + xml_escape(e->metric) + " drop</th>";
  }
  h += "</tr></thead><tbody>\n";
  for (std::size_t p = 0; p < r.values.size(); ++p) {
    h += std::string(best && *best == p ? "<tr class=\"best\">" : "<tr>") + "<td>" + xml_escape(r.values[p]) + "</td><td>" +
         std::to_string(r.pruned(p)) + "</td><td>" + std::to_string(r.total_n()) + "</td><td>" + fmt("%.6f", achieved(r, p)) +
         "</td><td>" + fmt("%.6f", r.retained_l2(p)) + "</td>";
    if (e) {
      h += "<td>" + (p < e->versions.size() ? std::to_string(e->versions[p]) : std::string("-")) + "</td>";
      for (const auto& n : names) {
        const double* v = metric_of(e->points[p], n);
        h += "<td>" + (v ? fmt("%.6g", *v) : std::string(e->points[p] && !e->points[p]->ok ? "failed" : "-")) + "</td>";
      }
      if (base) {
        const double* v = metric_of(e->points[p], e->metric);
        h += "<td>" + (v ? fmt("%.6g", metric_drop(*base, *v, e->maximize)) : std::string("-")) + "</td>";
      }
    }
    h += "</tr>\n";
  }
  return h + "</tbody></table>\n";
}

std::string choice_text(const SweepResult& r, const ReportOptions& o) {
  const ReportEvaluations& e = *o.evaluations;
  const double* base = metric_of(e.baseline, e.metric);
  if (!base)
    return "<p id=\"choice\">No baseline of " + xml_escape(e.metric) + " is recorded for this input, so no tolerance is "
           "drawn: <code>h5prune eval INPUT --registry DIR --model NAME --eval CMD</code> records one.</p>\n";
  const std::string within = "within " + fmt("%g", e.max_drop) + " of the baseline " + fmt("%.6g", *base) + " (" +
                             (e.maximize ? "higher" : "lower") + " is better)";
  const auto best = best_within_tolerance(r, e);
  if (!best) return "<p id=\"choice\">No evaluated point has " + xml_escape(e.metric) + " " + within + ".</p>\n";
  const double v = *metric_of(e.points[*best], e.metric);
  return "<p id=\"choice\">Highest sparsity with " + xml_escape(e.metric) + " " + within + ": <b>" +
         xml_escape(r.values[*best]) + "</b> (achieved " + fmt("%.6f", achieved(r, *best)) + ", version " +
         (*best < e.versions.size() ? std::to_string(e.versions[*best]) : std::string("-")) + "): " +
         xml_escape(e.metric) + " " + fmt("%.6g", v) + ", drop " + fmt("%.6g", metric_drop(*base, v, e.maximize)) + ".</p>\n";
}

}  // namespace

std::optional<std::size_t> best_within_tolerance(const SweepResult& r, const ReportEvaluations& e) {
  const double* base = metric_of(e.baseline, e.metric);
  if (!base) return std::nullopt;
  std::optional<std::size_t> best;
  for (std::size_t p = 0; p < r.values.size() && p < e.points.size(); ++p) {
    const double* v = metric_of(e.points[p], e.metric);
    if (v && metric_drop(*base, *v, e.maximize) <= e.max_drop && (!best || achieved(r, p) > achieved(r, *best))) best = p;
  }
  return best;
}

SweepResult sweep_result_of(RuleMode mode, Scope scope, const std::vector<std::string>& values,
                            const std::vector<const PruneResult*>& results) {
  SweepResult r;
  r.mode = mode;
  r.scope = scope;
  r.values = values;
  if (results.empty()) return r;
  for (const TensorResult& t : results[0]->tensors)
    r.tensors.push_back({t.path, t.dtype, t.shape, t.n, t.zeros_before, t.sum_sq_before});
  for (const PruneResult* pr : results) {
    std::vector<SweepCell> row(r.tensors.size());
    for (const TensorResult& t : pr->tensors)
      for (std::size_t i = 0; i < r.tensors.size(); ++i)
        if (r.tensors[i].path == t.path) row[i] = {t.pruned, t.threshold, t.ties, t.ties_pruned, t.sum_sq_after};
    r.cells.push_back(std::move(row));
  }
  return r;
}

std::string sweep_report_svg(const SweepResult& r, const ReportOptions& o) {
  if (o.evaluations && !metric_names(*o.evaluations).empty()) return render_svg(metric_chart(r, o, o.evaluations->metric));
  return render_svg(overall_chart(r, o));
}

std::string sweep_report_html(const SweepResult& r, const ReportOptions& o) {
  std::string h = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>h5prune sweep: " +
                  xml_escape(o.model) + "</title>\n<style>body{font-family:sans-serif;margin:24px;color:#222}"
                  "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
                  "th{background:#f4f4f4}td:first-child{text-align:left}tr.best td{background:#fde0ef}</style></head><body>\n";
  h += "<h1>Sweep of " + xml_escape(o.model) + " (" + xml_escape(o.input) + ")</h1>\n<p>" + std::to_string(r.values.size()) +
       " points, " + std::to_string(r.tensors.size()) + " tensors, " + std::to_string(r.total_n()) + " weights; rule: " +
       (r.mode == RuleMode::sparsity ? std::string("sparsity, ") + scope_name(r.scope) + " scope" : "threshold") +
       ". Every point equals what <code>h5prune prune</code> does at that value.</p>\n";
  h += points_note(r, o);
  if (o.evaluations) {
    h += choice_text(r, o);
    const auto names = metric_names(*o.evaluations);
    // The chosen metric first.
    std::vector<std::string> ordered;
    if (names.count(o.evaluations->metric)) ordered.push_back(o.evaluations->metric);
    for (const auto& n : names)
      if (n != o.evaluations->metric) ordered.push_back(n);
    for (const auto& n : ordered)
      h += "<section class=\"metric\" data-metric=\"" + xml_escape(n) + "\">" + render_svg(metric_chart(r, o, n)) + "</section>\n";
  }
  h += "<section id=\"overall\">" + render_svg(overall_chart(r, o)) + "</section>\n";
  h += "<section id=\"per-tensor-l2\">" + render_svg(per_tensor_chart(r, o, true)) + "</section>\n";
  h += "<section id=\"per-tensor-sparsity\">" + render_svg(per_tensor_chart(r, o, false)) + "</section>\n";
  h += table(r, o);
  h += "</body></html>\n";
  return h;
}

}  // namespace h5p
