// `h5prune prune`: parse and validate options, run the pipeline, print the summary.
#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "common/errors.hpp"
#include "host/pipeline.hpp"
#include "tools/commands.hpp"
#include "tools/format.hpp"
#include "tools/progress.hpp"
#include "tools/version.hpp"

namespace po = boost::program_options;
using nlohmann::json;

namespace h5p::cli {
namespace {

po::options_description prune_options() {
  po::options_description o(
      "usage: h5prune prune MODEL.h5 -o OUT.h5 (--sparsity S | --threshold T) [options]\n\n"
      "Writes a copy of MODEL.h5 with the smallest-magnitude weights of the selected tensors set to\n"
      "+0.0; everything else is copied unchanged. Ties in magnitude are pruned in the byte order of\n"
      "the tensors' paths, then row-major position, so every run gives the same bytes.\n\noptions");
  o.add_options()
      ("help,h", "this help")
      ("output,o", po::value<std::string>(), "output file (required unless --dry-run)")
      ("sparsity", po::value<std::string>(), "prune exactly round_half_even(S*n) weights per scope; S an exact decimal in [0,1]")
      ("threshold", po::value<std::string>(), "prune every weight with |w| < T (T read as float64, >= 0)")
      ("scope", po::value<std::string>(), "tensor (default): n per tensor; global: n over all selected tensors (with --sparsity)")
      ("include", po::value<std::string>(), "only tensors whose full HDF5 path matches this regex (ECMAScript, searched)")
      ("exclude", po::value<std::string>(), "skip tensors whose full HDF5 path matches this regex")
      ("min-ndim", po::value<int>()->default_value(2), "minimum rank of a selected tensor (2: kernels and matrices, not biases)")
      ("memory-limit", po::value<std::string>()->default_value("512M"), "bound on weight bytes held in memory; larger data is streamed in slabs")
      ("backend", po::value<std::string>()->default_value("auto"), "auto | cpu (auto uses the CPU in this version)")
      ("threads", po::value<int>(), "OpenMP threads (default: all cores); results do not depend on it")
      ("json", po::bool_switch(), "print the summary as one JSON object on stdout")
      ("force", po::bool_switch(), "replace an existing output file")
      ("dry-run", po::bool_switch(), "print the plan (tensors, rule, n) and write nothing")
      ("quiet", po::bool_switch(), "no progress output on stderr");
  return o;
}

json tensor_json(const TensorResult& t, bool dry_run) {
  json j = {{"path", t.path}, {"dtype", std::string(dtype_name(t.dtype))}, {"shape", t.shape}, {"n", t.n}};
  if (dry_run) return j;
  j["zeros_before"] = t.zeros_before;
  j["pruned"] = t.pruned;
  j["requested_sparsity"] = t.requested_sparsity ? json(*t.requested_sparsity) : json(nullptr);
  j["sparsity"] = t.sparsity();
  j["threshold"] = t.threshold;
  j["ties"] = t.ties;
  j["ties_pruned"] = t.ties_pruned;
  j["retained_l2"] = t.retained_l2();
  return j;
}

json rule_json(const PruneOptions& o) {
  json r;
  if (o.rule.mode == RuleMode::sparsity) {
    r["mode"] = "sparsity";
    r["sparsity"] = o.rule.sparsity.text;
    r["scope"] = scope_name(o.rule.scope);
  } else {
    r["mode"] = "threshold";
    r["threshold"] = o.rule.threshold;
  }
  r["include"] = o.selection.include ? json(*o.selection.include) : json(nullptr);
  r["exclude"] = o.selection.exclude ? json(*o.selection.exclude) : json(nullptr);
  r["min_ndim"] = o.selection.min_ndim;
  r["rounding"] = "half_even";
  r["ties"] = "lower_position_first";
  return r;
}

void print_json(const PruneOptions& o, const PruneResult& r) {
  json j;
  j["command"] = "prune";
  j["tool"] = {{"version", H5PRUNE_VERSION}, {"git", H5PRUNE_GIT_REVISION}, {"cuda", built_with_cuda()}};
  j["input"] = {{"path", o.input}, {"bytes", r.input_bytes}};
  if (!o.dry_run) j["input"]["sha256"] = r.input_sha256;
  j["output"] = o.dry_run ? json(nullptr)
                          : json{{"path", o.output}, {"sha256", r.output_sha256}, {"bytes", r.output_bytes}};
  j["rule"] = rule_json(o);
  j["backend"] = r.backend;
  j["device"] = r.device;
  j["threads"] = r.threads;
  j["dry_run"] = o.dry_run;
  j["streamed"] = r.streamed;
  j["tensors"] = json::array();
  for (const auto& t : r.tensors) j["tensors"].push_back(tensor_json(t, o.dry_run));
  j["total"] = {{"n", r.total_n}};
  if (!o.dry_run) {
    j["total"]["pruned"] = r.total_pruned;
    j["total"]["sparsity"] = r.total_sparsity();
    j["total"]["retained_l2"] = r.total_retained_l2();
    j["bytes_read"] = r.bytes_read;
    j["bytes_written"] = r.bytes_written;
  }
  j["seconds"] = {{"read", r.seconds.read}, {"compute", r.seconds.compute}, {"write", r.seconds.write},
                  {"total", r.seconds.total}};
  std::cout << j.dump(2) << std::endl;
}

std::string rule_text(const PruneOptions& o) {
  if (o.rule.mode == RuleMode::threshold) return "threshold |w| < " + o.rule.threshold_text;
  return "sparsity " + o.rule.sparsity.text + " per " + (o.rule.scope == Scope::tensor ? "tensor" : "global scope");
}

void print_dry_run(const PruneOptions& o, const PruneResult& r) {
  std::printf("plan: %s on %zu tensor%s of '%s' (nothing written)\n", rule_text(o).c_str(), r.tensors.size(),
              r.tensors.size() == 1 ? "" : "s", o.input.c_str());
  std::vector<std::vector<std::string>> rows{{"tensor", "shape", "dtype", "n"}};
  for (const auto& t : r.tensors)
    rows.push_back({t.path, shape_text(t.shape), std::string(dtype_name(t.dtype)), std::to_string(t.n)});
  rows.push_back({"total", "", "", std::to_string(r.total_n)});
  print_table(rows);
}

void print_summary(const PruneOptions& o, const PruneResult& r) {
  std::vector<std::vector<std::string>> rows{
      {"tensor", "shape", "dtype", "n", "pruned", "requested", "achieved", "threshold", "ties pruned", "retained L2"}};
  for (const auto& t : r.tensors)
    rows.push_back({t.path, shape_text(t.shape), std::string(dtype_name(t.dtype)), std::to_string(t.n),
                    std::to_string(t.pruned), t.requested_sparsity ? fmt("%.4f", *t.requested_sparsity) : "-",
                    fmt("%.4f", t.sparsity()), fmt("%.6g", t.threshold),
                    std::to_string(t.ties_pruned) + "/" + std::to_string(t.ties), fmt("%.4f", t.retained_l2())});
  rows.push_back({"total", "", "", std::to_string(r.total_n), std::to_string(r.total_pruned), "",
                  fmt("%.4f", r.total_sparsity()), "", "", fmt("%.4f", r.total_retained_l2())});
  print_table(rows);
  std::printf("\npruned %llu of %llu weights (%.2f%%) in %zu tensors with %s on %s%s\n",
              static_cast<unsigned long long>(r.total_pruned), static_cast<unsigned long long>(r.total_n),
              100.0 * r.total_sparsity(), r.tensors.size(), rule_text(o).c_str(), r.device.c_str(),
              r.streamed ? ", streamed in slabs" : "");
  std::printf("wrote %s (%s, sha256 %s) in %.2f s (read %.2f, compute %.2f, write %.2f)\n", o.output.c_str(),
              human_bytes(static_cast<double>(r.output_bytes)).c_str(), r.output_sha256.c_str(), r.seconds.total,
              r.seconds.read, r.seconds.compute, r.seconds.write);
}

PruneOptions parse(const po::variables_map& vm) {
  PruneOptions o;
  if (!vm.count("input")) throw UsageError("missing input file (usage: h5prune prune MODEL.h5 -o OUT.h5 --sparsity S)");
  o.input = vm["input"].as<std::string>();
  if (vm.count("output")) o.output = vm["output"].as<std::string>();
  const bool has_s = vm.count("sparsity"), has_t = vm.count("threshold");
  if (has_s == has_t) throw UsageError("give exactly one rule: --sparsity S or --threshold T");
  if (has_s) {
    o.rule.mode = RuleMode::sparsity;
    o.rule.sparsity = parse_decimal(vm["sparsity"].as<std::string>(), "--sparsity");
    const Decimal& s = o.rule.sparsity;
    if (s.above_one())
      throw UsageError("invalid value '" + s.text + "' for --sparsity: must be between 0 and 1");
  } else {
    o.rule.mode = RuleMode::threshold;
    o.rule.threshold_text = vm["threshold"].as<std::string>();
    o.rule.threshold = parse_threshold(o.rule.threshold_text);
  }
  if (vm.count("scope")) {
    const std::string scope = vm["scope"].as<std::string>();
    if (scope != "tensor" && scope != "global")
      throw UsageError("invalid value '" + scope + "' for --scope: expected tensor or global");
    if (has_t) throw UsageError("--scope applies to --sparsity only (a threshold is the same in every scope)");
    o.rule.scope = scope == "global" ? Scope::global : Scope::tensor;
  }
  if (vm.count("include")) o.selection.include = vm["include"].as<std::string>();
  if (vm.count("exclude")) o.selection.exclude = vm["exclude"].as<std::string>();
  o.selection.min_ndim = vm["min-ndim"].as<int>();
  if (o.selection.min_ndim < 0) throw UsageError("invalid value for --min-ndim: must be >= 0");
  o.memory_limit = parse_size(vm["memory-limit"].as<std::string>(), "--memory-limit");
  o.backend = vm["backend"].as<std::string>();
  if (o.backend != "auto" && o.backend != "cpu")
    throw UsageError("invalid value '" + o.backend + "' for --backend: expected auto or cpu");
  if (vm.count("threads")) {
    o.threads = vm["threads"].as<int>();
    if (o.threads < 1) throw UsageError("invalid value for --threads: must be >= 1");
  }
  o.force = vm["force"].as<bool>();
  o.dry_run = vm["dry-run"].as<bool>();
  if (!o.dry_run && o.output.empty()) throw UsageError("missing --output (-o) for prune");
  return o;
}

}  // namespace

int cmd_prune(const std::vector<std::string>& args) {
  po::options_description visible = prune_options();
  po::options_description all;
  all.add(visible).add_options()("input", po::value<std::string>());
  po::positional_options_description pos;
  pos.add("input", 1);
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(all).positional(pos).run(), vm);
  if (vm.count("help")) {
    std::cout << visible << "\nexit codes: 0 ok, 2 usage, 3 input, 4 NaN in a selected tensor, 5 output,\n"
              << "128+N interrupted by signal N (temporaries removed). See docs/CLI.md.\n";
    return 0;
  }
  po::notify(vm);
  PruneOptions o = parse(vm);
  const bool json_out = vm["json"].as<bool>();
  ProgressPrinter progress(!vm["quiet"].as<bool>() && !o.dry_run);
  o.on_progress = [&](const Progress& p) { progress.update(p); };
  o.on_note = [&](const std::string& note) {
    if (!vm["quiet"].as<bool>()) std::fprintf(stderr, "h5prune: note: %s\n", note.c_str());
  };
  const PruneResult r = run_prune(o);
  progress.finish();
  if (json_out) print_json(o, r);
  else if (o.dry_run) print_dry_run(o, r);
  else print_summary(o, r);
  return 0;
}

}  // namespace h5p::cli
