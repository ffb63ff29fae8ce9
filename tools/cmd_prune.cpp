// `h5prune prune`: parse and validate options, run the pipeline, print the summary.
#include <boost/program_options.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <nlohmann/json.hpp>

#include "common/errors.hpp"
#include "formats/json_names.hpp"
#include "formats/manifest.hpp"
#include "host/memory_budget.hpp"
#include "host/metrics.hpp"
#include "host/registry/fs_ops.hpp"
#include "host/pipeline.hpp"
#include "host/registry/record.hpp"
#include "host/rule_json.hpp"
#include "tools/commands.hpp"
#include "tools/eval_options.hpp"
#include "tools/options.hpp"
#include "tools/format.hpp"
#include "tools/progress.hpp"
#include "tools/version.hpp"

namespace po = boost::program_options;
using nlohmann::json;

namespace h5p::cli {
namespace {

po::options_description prune_options() {
  po::options_description o(
      "usage: h5prune prune MODEL.h5 -o OUT.h5 (--sparsity S [--structured l1|l2] | --threshold T | --nm N:M) [options]\n\n"
      "Writes a copy of MODEL.h5 with the smallest-magnitude weights of the selected tensors set to\n"
      "+0.0; everything else is copied unchanged. Ties in magnitude are pruned in the byte order of\n"
      "the tensors' paths, then row-major position, so every run gives the same bytes.\n\noptions");
  o.add_options()
      ("help,h", "this help")
      ("output,o", po::value<std::string>(), "output file (required unless --dry-run)")
      ("sparsity", po::value<std::string>(), "prune exactly round_half_even(S*n) weights per scope; S an exact decimal in [0,1]")
      ("threshold", po::value<std::string>(), "prune every weight with |w| < T (T read as float64, >= 0)")
      ("threshold-rel", po::value<std::string>(), "prune every weight with |w| < R x max|w| of its tensor (R an exact decimal in [0,1], compared exactly)")
      ("nm", po::value<std::string>(), "N:M (e.g. 2:4): keep the N largest of every M weights along the N:M axis")
      ("nm-axis", po::value<std::string>(), "auto (default: the layer's reduction axis as its framework stores it, docs/RULES.md) | last | an axis (0, 1, -1, ...)")
      ("rule", po::value<std::vector<std::string>>()->composing(), "REGEX=SPEC, repeatable: tensors whose path matches REGEX take SPEC (S, sparsity:S[,global], threshold:T, nm:N:M[,axis=A], structured:l1|l2:S[,axis=A], skip); the first match wins, the rule above takes the rest (docs/RULES.md)")
      ("rules", po::value<std::string>(), "a JSON file of group rules, {\"rules\": [{\"match\": REGEX, \"rule\": SPEC}, ...]}, taken after the --rule options")
      ("structured", po::value<std::string>(), "l1 | l2: with --sparsity S, zero the round_half_even(S x slices) whole slices along --structured-axis with the smallest L1/L2 norms (exact; ties: lower index)")
      ("structured-axis", po::value<std::string>(), "auto (default: the layer's output axis as its framework stores it: units, filters; docs/RULES.md) | last | an axis (0, 1, -1, ...)")
      ("nm-skip-unfit", po::bool_switch(), "leave tensors whose N:M axis is not a multiple of M unpruned (listed in a warning) instead of failing")
      ("format", po::value<std::string>()->default_value("dense"), "dense | csr | coo | bitmask | nm (nm needs --nm): layout of the selected tensors (docs/FORMATS.md)")
      ("compress", po::bool_switch(), "sparse formats: chunked datasets with shuffle + deflate")
      ("scope", po::value<std::string>(), "tensor (default): n per tensor; global: n over all selected tensors (with --sparsity)")
      ("include", po::value<std::string>(), "only tensors whose full HDF5 path matches this regex (ECMAScript, searched)")
      ("exclude", po::value<std::string>(), "skip tensors whose full HDF5 path matches this regex")
      ("include-optimizer", po::bool_switch(), "also select optimizer state (Keras optimizer_weights/, optimizer/), left out by default")
      ("min-ndim", po::value<int>()->default_value(2), "minimum rank of a selected tensor (2: kernels and matrices, not biases)")
      ("memory-limit", po::value<std::string>()->default_value("auto"),
       "bound on weight bytes held in memory; larger data is streamed in slabs (auto: half of what the cgroup or the machine has free)")
      ("backend", po::value<std::string>()->default_value("auto"), "auto | cpu | cuda (auto: CUDA when a device is usable and a tensor has 65536 weights or more, else the CPU)")
      ("device-memory-limit", po::value<std::string>(), "bound on device memory for --backend cuda (default: half of the free memory); larger tensors go through in chunks")
      ("threads", po::value<int>(), "OpenMP threads (default: OMP_NUM_THREADS, else the CPUs this job may use: affinity and cgroup CPU quota); results do not depend on it")
      ("json", po::bool_switch(), "print the summary as one JSON object on stdout")
      ("force", po::bool_switch(), "replace an existing output file")
      ("dry-run", po::bool_switch(), "print the plan (tensors, rule, n) and write nothing")
      ("quiet", po::bool_switch(), "no progress output on stderr")
      ("metrics-dir", po::value<std::string>(), "write h5prune_<model>[_<array task>].prom here for node_exporter's textfile collector, on success and failure (default: $H5PRUNE_METRICS_DIR)")
      ("registry", po::value<std::string>(), "record the output as the next version of --model in this registry; -o becomes optional (default: $H5PRUNE_REGISTRY; docs/REGISTRY.md)")
      ("model", po::value<std::string>(), "model name in the registry and the metrics (default: the input file's name without extension)")
      ("metrics-per-tensor", po::bool_switch(), "also write per-tensor series (one series per tensor and family)")
      ("metrics-expect-every", po::value<std::string>(), "a periodic job: alert when no success for this long (e.g. 26h); one-off runs leave it out");
  add_eval_options(o);
  return o;
}

json tensor_json(const TensorResult& t, bool dry_run) {
  json j = {{"path", t.path}, {"dtype", std::string(dtype_name(t.dtype))}, {"shape", t.shape}, {"n", t.n}};
  if (t.axis) j["axis"] = *t.axis;
  if (t.norm_p) j["structured"] = structured_json(t, dry_run);  // which slices went, so a user can shrink the layer
  if (dry_run) return j;
  j["zeros_before"] = t.zeros_before;
  j["pruned"] = t.pruned;
  j["newly_zeroed"] = t.newly_zeroed();
  j["zeros_after"] = t.zeros_after;
  j["requested_sparsity"] = t.requested_sparsity ? json(*t.requested_sparsity) : json(nullptr);
  j["sparsity"] = t.sparsity();
  j["threshold"] = t.threshold;
  j["ties"] = t.ties;
  j["ties_pruned"] = t.ties_pruned;
  j["retained_l2"] = t.retained_l2();
  j["bytes_before"] = t.bytes_before;
  j["bytes_after"] = t.bytes_after;
  if (t.stored > 0 || t.break_even >= 0) j["stored"] = t.stored;  // sparse formats
  if (t.break_even >= 0) {
    j["break_even_density"] = t.break_even;
    j["larger_than_dense"] = t.bytes_after > t.bytes_before;
  }
  return j;
}

// The run's warnings, then one line per sparse tensor that takes more bytes than its dense form.
std::vector<std::string> run_warnings(const PruneOptions& o, const PruneResult& r) {
  std::vector<std::string> out = r.warnings;
  if (o.format == sparse::Format::dense) return out;
  for (const auto& t : r.tensors) {
    if (t.n == 0 || t.bytes_after <= t.bytes_before) continue;  // an empty tensor has only row pointers
    std::string line = std::string(sparse::format_name(o.format)) + " layout of " + t.path + " takes " +
                       std::to_string(t.bytes_after) + " bytes, more than its " + std::to_string(t.bytes_before) +
                       " dense bytes";
    if (t.break_even >= 0 && t.n > 0)
      line += fmt(" (density %.4f", static_cast<double>(t.stored) / static_cast<double>(t.n)) +
              fmt(" is above the break-even density %.4f)", t.break_even);
    out.push_back(line);
  }
  return out;
}

// `registry` (null without one): where the output was recorded, added as "registry".
void print_json(const PruneOptions& o, const PruneResult& r, const json& registry,
                const std::optional<EvaluatedOutput>& evaluated) {
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
  j["backend_note"] = r.backend_note.empty() ? json(nullptr) : json(r.backend_note);
  j["threads"] = r.threads;
  j["dry_run"] = o.dry_run;
  j["streamed"] = r.streamed;
  j["memory_limit"] = {{"bytes", o.memory_limit},
                       {"auto", o.memory_limit_source.empty() ? json(nullptr) : json(o.memory_limit_source)}};
  j["skipped"] = json::array();
  for (const auto& k : r.skipped) j["skipped"].push_back({{"path", k.path}, {"reason", k.reason}});
  j["tensors"] = json::array();
  for (const auto& t : r.tensors) {
    j["tensors"].push_back(tensor_json(t, o.dry_run));
    if (t.axis) j["tensors"].back()["threshold"] = nullptr;  // N:M (the tensors with an axis) has no magnitude boundary
  }
  j["total"] = {{"n", r.total.n}};
  if (!o.dry_run) {
    j["total"]["pruned"] = r.total.pruned;
    j["total"]["zeros_before"] = r.total.zeros_before;
    j["total"]["newly_zeroed"] = r.total.newly_zeroed();
    j["total"]["zeros_after"] = r.total.zeros_after;
    j["total"]["sparsity"] = r.total.sparsity();
    j["total"]["retained_l2"] = r.total.retained_l2();
    std::uint64_t before = 0, after = 0;
    for (const auto& t : r.tensors) {
      before += t.bytes_before;
      after += t.bytes_after;
    }
    j["total"]["bytes_before"] = before;
    j["total"]["bytes_after"] = after;
    j["warnings"] = run_warnings(o, r);
    j["bytes_read"] = r.bytes_read;
    j["bytes_mapped"] = r.bytes_mapped;
    j["bytes_written"] = r.bytes_written;
    j["selection_bytes"] = r.selection_bytes;
  }
  j["seconds"] = {{"read", r.seconds.read}, {"compute", r.seconds.compute}, {"write", r.seconds.write},
                  {"publish", r.seconds.publish}, {"total", r.seconds.total}};
  if (!registry.is_null()) j["registry"] = registry;
  if (evaluated) j["evaluation"] = evaluation_json(evaluated->record, evaluated->baseline);
  std::cout << json_safe(j).dump(2) << std::endl;
}

std::string base_rule_text(const PruneOptions& o);

std::string rule_text(const PruneOptions& o) {
  if (!o.has_base_rule) return std::to_string(o.rules.size()) + " group rule" + (o.rules.size() == 1 ? "" : "s");
  const std::string groups = o.rules.empty() ? "" : " (and " + std::to_string(o.rules.size()) + " group rule" +
                                                     (o.rules.size() == 1 ? "" : "s") + ")";
  return base_rule_text(o) + groups;
}

std::string base_rule_text(const PruneOptions& o) {
  if (o.rule.mode == RuleMode::threshold) return "threshold |w| < " + o.rule.threshold_text;
  if (o.rule.mode == RuleMode::threshold_rel) return "threshold |w| < " + o.rule.threshold_rel.text + " x max|w| per tensor";
  if (o.rule.mode == RuleMode::structured)
    return "structured L" + std::to_string(o.rule.structured_p) + " sparsity " + o.rule.sparsity.text + " of slices along " +
           (o.rule.structured_axis ? "axis " + std::to_string(*o.rule.structured_axis) : std::string("each tensor's output axis"));
  if (o.rule.mode == RuleMode::nm)
    return "N:M " + std::to_string(o.rule.nm_keep) + ":" + std::to_string(o.rule.nm_group) + " along " +
           (o.rule.nm_axis ? "axis " + std::to_string(*o.rule.nm_axis) : std::string("each tensor's reduction axis"));
  return "sparsity " + o.rule.sparsity.text + " per " + (o.rule.scope == Scope::tensor ? "tensor" : "global scope");
}

void print_dry_run(const PruneOptions& o, const PruneResult& r) {
  std::printf("plan: %s on %zu tensor%s of '%s' (nothing written)\n", rule_text(o).c_str(), r.tensors.size(),
              r.tensors.size() == 1 ? "" : "s", o.input.c_str());
  std::vector<std::vector<std::string>> rows{{"tensor", "shape", "dtype", "n"}};
  for (const auto& t : r.tensors)
    rows.push_back({t.path, shape_text(t.shape), std::string(dtype_name(t.dtype)), std::to_string(t.n)});
  rows.push_back({"total", "", "", std::to_string(r.total.n)});
  print_table(rows);
}

void print_summary(const PruneOptions& o, const PruneResult& r) {
  std::vector<std::vector<std::string>> rows{
      {"tensor", "shape", "dtype", "n", "zeros before", "pruned", "newly zeroed", "zeros after", "requested",
       "achieved", "threshold", "ties pruned", "retained L2", "bytes before", "bytes after"}};
  std::uint64_t before = 0, after = 0;
  for (const auto& t : r.tensors) {
    rows.push_back({t.path, shape_text(t.shape), std::string(dtype_name(t.dtype)), std::to_string(t.n),
                    std::to_string(t.zeros_before), std::to_string(t.pruned), std::to_string(t.newly_zeroed()),
                    std::to_string(t.zeros_after), t.requested_sparsity ? fmt("%.4f", *t.requested_sparsity) : "-",
                    fmt("%.4f", t.sparsity()), t.axis ? "-" : fmt("%.6g", t.threshold),
                    std::to_string(t.ties_pruned) + "/" + std::to_string(t.ties), fmt("%.4f", t.retained_l2()),
                    std::to_string(t.bytes_before), std::to_string(t.bytes_after)});
    before += t.bytes_before;
    after += t.bytes_after;
  }
  rows.push_back({"total", "", "", std::to_string(r.total.n), std::to_string(r.total.zeros_before),
                  std::to_string(r.total.pruned), std::to_string(r.total.newly_zeroed()),
                  std::to_string(r.total.zeros_after), "",
                  fmt("%.4f", r.total.sparsity()), "", "", fmt("%.4f", r.total.retained_l2()), std::to_string(before),
                  std::to_string(after)});
  print_table(rows);
  for (const auto& t : r.tensors)
    if (t.norm_p) std::printf("%s\n", removed_slices_line(t).c_str());
  if (o.format != sparse::Format::dense)
    std::printf("\n%s layout: selected tensors take %s instead of %s (%.1f%%)\n", sparse::format_name(o.format),
                human_bytes(static_cast<double>(after)).c_str(), human_bytes(static_cast<double>(before)).c_str(),
                before ? 100.0 * static_cast<double>(after) / static_cast<double>(before) : 0.0);
  const double n = r.total.n ? static_cast<double>(r.total.n) : 1.0;
  std::printf("\nzeroed %llu weights this run: %llu of %llu were zero before, %llu after (%.2f%% -> %.2f%%)\n",
              static_cast<unsigned long long>(r.total.newly_zeroed()),
              static_cast<unsigned long long>(r.total.zeros_before), static_cast<unsigned long long>(r.total.n),
              static_cast<unsigned long long>(r.total.zeros_after), 100.0 * static_cast<double>(r.total.zeros_before) / n,
              100.0 * static_cast<double>(r.total.zeros_after) / n);
  std::printf("pruned %llu of %llu weights (%.2f%%) in %zu tensors with %s on %s%s\n",
              static_cast<unsigned long long>(r.total.pruned), static_cast<unsigned long long>(r.total.n),
              100.0 * r.total.sparsity(), r.tensors.size(), rule_text(o).c_str(), r.device.c_str(),
              r.streamed ? ", streamed in slabs" : "");
  if (!r.backend_note.empty()) std::printf("backend: %s\n", r.backend_note.c_str());
  const std::string sha = r.output_sha256.empty() ? "" : ", sha256 " + r.output_sha256;
  std::printf("wrote %s (%s%s) in %.2f s (read %.2f, compute %.2f, write %.2f)\n", o.output.c_str(),
              human_bytes(static_cast<double>(r.output_bytes)).c_str(), sha.c_str(), r.seconds.total,
              r.seconds.read, r.seconds.compute, r.seconds.write);
}

// --registry DIR, else $H5PRUNE_REGISTRY; "" when neither (or with --dry-run: nothing is recorded).
std::string registry_dir(const po::variables_map& vm) {
  if (vm["dry-run"].as<bool>()) return "";
  if (vm.count("registry")) {
    const std::string dir = vm["registry"].as<std::string>();
    if (dir.empty()) throw UsageError("invalid value '' for --registry: expected a directory");
    return dir;
  }
  const char* env = std::getenv("H5PRUNE_REGISTRY");
  return env ? env : "";
}

std::string model_name(const po::variables_map& vm, const PruneOptions& o) {
  return vm.count("model") ? vm["model"].as<std::string>() : std::filesystem::path(o.input).stem().string();
}

// Prunes into the registry (or finds the version that already holds this input + rule).
registry::RecordOutcome record_in_registry(const po::variables_map& vm, const PruneOptions& o, const std::string& dir,
                                           const std::vector<std::string>& args) {
  registry::RecordRequest q;
  q.registry = dir;
  q.model = model_name(vm, o);
  q.prune = o;
  q.rule = rule_json(o);
  q.copy_to = o.output;
  q.force = o.force;
  q.tool = {H5PRUNE_VERSION, H5PRUNE_GIT_REVISION, built_with_cuda()};
  q.command = {"h5prune", "prune"};
  q.command.insert(q.command.end(), args.begin(), args.end());
  return registry::record_prune(q);
}

json registry_json(const std::string& dir, const registry::RecordOutcome& rec) {
  return {{"path", dir},
          {"model", rec.manifest.model},
          {"version", rec.version},
          {"ref", rec.manifest.model + "@" + std::to_string(rec.version)},
          {"already_recorded", rec.already},
          {"repaired_blob", rec.repaired.empty() ? json(nullptr) : json(rec.repaired)},
          {"created", rec.manifest.created},
          {"blob", rec.blob_path}};
}

PruneOptions parse(const po::variables_map& vm) {
  PruneOptions o;
  if (!vm.count("input")) throw UsageError("missing input file (usage: h5prune prune MODEL.h5 -o OUT.h5 --sparsity S)");
  o.input = vm["input"].as<std::string>();
  if (vm.count("output")) o.output = vm["output"].as<std::string>();
  const bool has_s = vm.count("sparsity"), has_nm = vm.count("nm"), has_r = vm.count("threshold-rel");
  const bool has_t = vm.count("threshold") || has_r;  // both are thresholds: no --scope
  o.rules = group_rules_option(vm);
  const bool has_structured = vm.count("structured");
  if ((has_structured || vm.count("structured-axis")) && !has_s)
    throw UsageError("--structured and --structured-axis need --sparsity S (the fraction of slices to zero)");
  if (vm.count("structured-axis") && !has_structured)
    throw UsageError("--structured-axis applies to --structured l1|l2 only");
  const int given = has_s + static_cast<int>(vm.count("threshold")) + has_nm + has_r;
  if (given > 1 || (given == 0 && o.rules.empty()))
    throw UsageError("give exactly one rule: --sparsity S, --threshold T, --threshold-rel R or --nm N:M "
                     "(and/or group rules: --rule, --rules)");
  o.has_base_rule = given == 1;
  if ((vm.count("nm-axis") || vm["nm-skip-unfit"].as<bool>()) && !has_nm)
    throw UsageError("--nm-axis and --nm-skip-unfit apply to --nm N:M only");

  if (has_nm) {
    parse_nm(vm["nm"].as<std::string>(), o.rule);
    if (vm.count("nm-axis")) o.rule.nm_axis = parse_nm_axis(vm["nm-axis"].as<std::string>());
    o.rule.nm_skip_unfit = vm["nm-skip-unfit"].as<bool>();
  } else if (has_s) {
    o.rule.mode = RuleMode::sparsity;
    o.rule.sparsity = parse_decimal(vm["sparsity"].as<std::string>(), "--sparsity");
    const Decimal& s = o.rule.sparsity;
    if (s.above_one())
      throw UsageError("invalid value '" + s.text + "' for --sparsity: must be between 0 and 1");
    if (has_structured) {
      o.rule.mode = RuleMode::structured;
      o.rule.structured_p = parse_structured_norm(vm["structured"].as<std::string>(), "--structured");
      if (vm.count("structured-axis")) o.rule.structured_axis = parse_structured_axis(vm["structured-axis"].as<std::string>());
    }
  } else if (has_r) {
    o.rule.mode = RuleMode::threshold_rel;
    o.rule.threshold_rel = parse_relative_threshold(vm["threshold-rel"].as<std::string>(), "--threshold-rel");
  } else if (has_t) {
    o.rule.mode = RuleMode::threshold;
    o.rule.threshold_text = vm["threshold"].as<std::string>();
    o.rule.threshold = parse_threshold(o.rule.threshold_text);
  }
  if (vm.count("scope")) {
    const std::string scope = vm["scope"].as<std::string>();
    if (scope != "tensor" && scope != "global")
      throw UsageError("invalid value '" + scope + "' for --scope: expected tensor or global");
    if (has_t) throw UsageError("--scope applies to --sparsity only (a threshold is the same in every scope)");
    if (!o.has_base_rule) throw UsageError("--scope applies to --sparsity; a group rule gives its own (SPEC,global)");
    if (has_nm) throw UsageError("--scope applies to --sparsity only (--nm works within groups of M weights)");
    if (has_structured) throw UsageError("--scope applies to magnitude --sparsity only (--structured ranks the slices of each tensor)");
    o.rule.scope = scope == "global" ? Scope::global : Scope::tensor;
  }
  o.selection = selection_options(vm);
  const std::string memory = vm["memory-limit"].as<std::string>();
  if (memory == "auto") {
    const MemoryBudget b = auto_memory_budget();
    o.memory_limit = b.limit;
    o.memory_limit_source = "auto: half of " + std::to_string(b.free) + " bytes free (" + b.source + ")";
  } else {
    o.memory_limit = parse_size(memory, "--memory-limit");
  }
  o.backend = vm["backend"].as<std::string>();
  if (o.backend != "auto" && o.backend != "cpu" && o.backend != "cuda")
    throw UsageError("invalid value '" + o.backend + "' for --backend: expected auto, cpu or cuda");
  if (vm.count("device-memory-limit")) {
    o.device_memory_limit = parse_size(vm["device-memory-limit"].as<std::string>(), "--device-memory-limit");
    if (o.device_memory_limit < (1u << 20)) throw UsageError("--device-memory-limit must be at least 1M");
  }
  o.threads = threads_option(vm);
  const std::string format = vm["format"].as<std::string>();
  const auto f = sparse::parse_format(format);
  if (!f) throw UsageError("invalid value '" + format + "' for --format: expected dense, csr, coo, bitmask or nm");
  o.format = *f;
  if (o.format == sparse::Format::nm && !has_nm && o.rules.empty()) throw UsageError("--format nm needs --nm N:M");
  o.compress = vm["compress"].as<bool>();
  if (o.compress && o.format == sparse::Format::dense)
    throw UsageError("--compress applies to the sparse formats (csr, coo, bitmask, nm), not to --format dense");
  if (vm.count("debug-index-limit32")) o.index_limit32 = vm["debug-index-limit32"].as<std::uint64_t>();
  o.force = vm["force"].as<bool>();
  o.dry_run = vm["dry-run"].as<bool>();
  if (!o.dry_run && o.output.empty() && registry_dir(vm).empty())
    throw UsageError("missing --output (-o) for prune (or record it with --registry DIR)");
  return o;
}

// --metrics-dir: where this run's metrics go and under which identity (docs/METRICS.md).
struct MetricsSink {
  std::string dir;
  RunMetrics run;
};

// nullopt without a metrics directory, with --dry-run, or when no model name can be known
// (no --model and no input: the usage error is reported without metrics).
std::optional<MetricsSink> metrics_sink(const po::variables_map& vm, double start_time) {
  MetricsSink s;
  if (vm.count("metrics-dir")) s.dir = vm["metrics-dir"].as<std::string>();
  else if (const char* env = std::getenv("H5PRUNE_METRICS_DIR"); env && *env) s.dir = env;
  else return std::nullopt;
  if (vm["dry-run"].as<bool>()) return std::nullopt;
  if (vm.count("model")) {
    s.run.model = vm["model"].as<std::string>();
    if (s.run.model.empty()) throw UsageError("invalid value '' for --model: must not be empty");
  } else if (vm.count("input")) {
    s.run.model = std::filesystem::path(vm["input"].as<std::string>()).stem().string();
    if (s.run.model.empty()) s.run.model = std::filesystem::path(vm["input"].as<std::string>()).filename().string();
  }
  if (s.run.model.empty()) return std::nullopt;
  check_metrics_dir(s.dir);
  s.run.start_time = start_time;
  s.run.per_tensor = vm["metrics-per-tensor"].as<bool>();
  if (vm.count("metrics-expect-every"))
    s.run.expected_interval_seconds = registry::parse_duration(vm["metrics-expect-every"].as<std::string>(), "--metrics-expect-every");
  s.run.tool_version = std::string(H5PRUNE_VERSION) + "+" + H5PRUNE_GIT_REVISION;
  read_slurm_identity(s.run);
  return s;
}

}  // namespace

int cmd_prune(const std::vector<std::string>& args) {
  po::options_description visible = prune_options();
  po::options_description hidden;
  // Hidden: the largest value a 32-bit index may hold (tests of the 64-bit fallback; docs/FORMATS.md).
  hidden.add_options()("debug-index-limit32", po::value<std::uint64_t>());
  po::variables_map vm = parse_with_input(args, visible, hidden);
  if (vm.count("help")) {
    std::cout << visible << "\nexit codes: 0 ok, 2 usage, 3 input, 4 NaN in a selected tensor, 5 output,\n"
              << "6 registry, 7 CUDA device failure, 8 evaluation (--eval), 128+N interrupted by signal N\n"
              << "(temporaries removed). See docs/CLI.md and docs/EVAL.md.\n";
    return 0;
  }
  po::notify(vm);
  std::optional<MetricsSink> metrics = metrics_sink(vm, unix_now());
  bool metrics_written = false;
  try {
    PruneOptions o = parse(vm);
    const std::optional<EvalSettings> eval = eval_settings(vm);
    if (eval && o.dry_run) throw UsageError("--eval needs an output to evaluate (not --dry-run)");
    if (metrics && o.has_base_rule) {  // N:M prunes M-N of every M weights: that is its requested sparsity
      if (o.rule.mode == RuleMode::sparsity || o.rule.mode == RuleMode::structured)
        metrics->run.requested_sparsity = o.rule.sparsity.approx();
      else if (o.rule.mode == RuleMode::threshold) metrics->run.threshold = o.rule.threshold;
      else if (o.rule.nm_group > 0)
        metrics->run.requested_sparsity = static_cast<double>(o.rule.nm_group - o.rule.nm_keep) / o.rule.nm_group;
      metrics->run.has_boundary = o.rule.mode != RuleMode::nm && o.rule.mode != RuleMode::structured;
    }
    const bool json_out = vm["json"].as<bool>();
    ProgressPrinter progress(!vm["quiet"].as<bool>() && !o.dry_run);
    o.on_progress = [&](const Progress& p) { progress.update(p); };
    o.on_note = [&](const std::string& note) {
      if (!vm["quiet"].as<bool>()) std::fprintf(stderr, "h5prune: note: %s\n", note.c_str());
    };
    const std::string registry_path = registry_dir(vm);
    o.hash = json_out || !registry_path.empty();  // where the hashes are used (docs/CLI.md "Hashes")
    std::optional<registry::RecordOutcome> recorded;
    if (!registry_path.empty()) {
      recorded = record_in_registry(vm, o, registry_path, args);
      if (o.output.empty()) o.output = recorded->blob_path;  // where the file now lies
    }
    const PruneResult r = recorded ? recorded->result : run_prune(o);
    progress.finish();
    std::optional<EvaluatedOutput> evaluated;
    if (eval && !o.dry_run) {
      std::optional<registry::Layout> layout;
      if (recorded) layout = registry::Layout::open(registry_path);
      EvalTarget t;
      t.file = o.output;
      t.format = o.format;
      t.sha256 = r.output_sha256;
      t.input = o.input;
      t.model = model_name(vm, o);
      if (recorded) t.version = recorded->version;
      if (o.has_base_rule) t.rule_env = rule_env(o.rule);  // --rule groups only: no single rule to name
      evaluated = evaluate_output(*eval, t, layout ? &*layout : nullptr, recorded ? &recorded->manifest : nullptr);
    }
    if (metrics) {  // the last step of a run: its end time, then the file
      record_success(metrics->run, r);
      if (recorded) metrics->run.registry_version = static_cast<std::uint64_t>(recorded->version);
      if (evaluated) {
        metrics->run.eval = eval_metrics(*evaluated);
        if (!evaluated->record.ok) record_eval_failure(metrics->run);
      }
      metrics->run.end_time = unix_now();
      write_run_metrics(metrics->dir, metrics->run);
      metrics_written = true;
    }
    json registry_info = recorded ? registry_json(registry_path, *recorded) : json(nullptr);
    if (json_out) print_json(o, r, registry_info, evaluated);
    else if (o.dry_run) print_dry_run(o, r);
    else if (recorded && recorded->already)
      std::printf("already recorded as %s@%d (sha256 %s, sparsity %.4f); %s%s%s\n",
                  recorded->manifest.model.c_str(), recorded->version, r.output_sha256.c_str(), r.total.sparsity(),
                  recorded->pruned ? "pruned again, nothing new recorded" : "nothing pruned",
                  vm.count("output") ? ", copied to " : "", vm.count("output") ? o.output.c_str() : "");
    else print_summary(o, r);
    if (recorded && !recorded->already && !json_out)
      std::printf("recorded as %s@%d in %s\n", recorded->manifest.model.c_str(), recorded->version, registry_path.c_str());
    if (evaluated && !json_out) std::printf("evaluation: %s\n", evaluation_text(evaluated->record, evaluated->baseline).c_str());
    if (recorded && !recorded->repaired.empty())
      std::fprintf(stderr, "h5prune: warning: the blob of %s@%d was missing or damaged (%s); restored from this run's identical output\n",
                   recorded->manifest.model.c_str(), recorded->version, recorded->repaired.c_str());
    if (!o.dry_run)
      for (const std::string& w : run_warnings(o, r)) std::fprintf(stderr, "h5prune: warning: %s\n", printable(w).c_str());
    if (evaluated && !evaluated->record.ok)
      throw EvalError(eval_failure_message(evaluated->record, recorded ? recorded->manifest.model + "@" +
                                                                              std::to_string(recorded->version)
                                                                        : "'" + o.output + "'") +
                      (recorded ? " (the version is kept; the failure is recorded)" : " (the output is kept)"));
    return 0;
  } catch (...) {
    if (metrics && !metrics_written) {
      if (auto warning = write_failure_metrics(metrics->dir, metrics->run, std::current_exception()))
        std::fprintf(stderr, "h5prune: warning: failure metrics not written: %s\n", warning->c_str());
    }
    throw;
  }
}

}  // namespace h5p::cli
