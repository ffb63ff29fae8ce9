// The registry's read and upkeep commands: log, show, diff, get, alias, rm, verify, gc
// (docs/REGISTRY.md). Each parses its options, calls host/registry and prints.
#include <algorithm>
#include <boost/program_options.hpp>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "common/errors.hpp"
#include "formats/json_names.hpp"
#include "formats/atomic_file.hpp"
#include "host/registry/alias_history.hpp"
#include "host/registry/aliases.hpp"
#include "host/registry/blob_store.hpp"
#include "host/registry/evaluations.hpp"
#include "host/registry/fs_ops.hpp"
#include "host/registry/maintenance.hpp"
#include "host/registry/retire.hpp"
#include "host/registry/version_query.hpp"
#include "host/registry/versions.hpp"
#include "tools/commands.hpp"
#include "tools/eval_options.hpp"
#include "tools/format.hpp"

namespace po = boost::program_options;
using nlohmann::json;

namespace h5p::cli {
namespace {
using namespace h5p::registry;

constexpr const char* kExitCodes =
    "\nexit codes: 0 ok, 2 usage, 5 output, 6 registry (damaged blob or manifest, missing version,\n"
    "bad name). See docs/REGISTRY.md.\n";

po::options_description base_options(const std::string& usage) {
  po::options_description o(usage + "\n\noptions");
  o.add_options()("help,h", "this help")(
      "registry", po::value<std::string>(), "registry directory (default: $H5PRUNE_REGISTRY)");
  return o;
}

// Parses args; returns false after printing --help.
bool parse_args(const std::vector<std::string>& args, const po::options_description& visible,
                const std::vector<std::string>& positional, po::variables_map& vm) {
  po::options_description all;
  all.add(visible);
  po::positional_options_description pos;
  for (const auto& p : positional) {
    all.add_options()(p.c_str(), po::value<std::string>());
    pos.add(p.c_str(), 1);
  }
  po::store(po::command_line_parser(args).options(all).positional(pos).run(), vm);
  if (vm.count("help")) {
    std::cout << visible << kExitCodes;
    return false;
  }
  po::notify(vm);
  return true;
}

std::string required(const po::variables_map& vm, const std::string& name, const std::string& usage) {
  if (!vm.count(name)) throw UsageError("missing " + name + " (usage: " + usage + ")");
  return vm[name].as<std::string>();
}

Layout open_registry(const po::variables_map& vm) {
  std::string dir;
  if (vm.count("registry")) dir = vm["registry"].as<std::string>();
  else if (const char* env = std::getenv("H5PRUNE_REGISTRY"); env && *env) dir = env;
  if (dir.empty()) throw UsageError("no registry given: use --registry DIR or set H5PRUNE_REGISTRY");
  return Layout::open(dir);
}

std::string rule_text(const json& rule) {
  std::string s;
  if (rule.value("mode", "") == "sparsity")
    s = "sparsity " + rule.value("sparsity", "?") + (rule.value("scope", "tensor") == "global" ? " global" : "");
  else if (rule.contains("threshold") && rule["threshold"].is_number())
    s = "threshold " + fmt("%.6g", rule["threshold"].get<double>());
  else
    s = rule.value("mode", "?");
  if (rule.contains("include") && rule["include"].is_string()) s += " include " + rule["include"].get<std::string>();
  if (rule.contains("exclude") && rule["exclude"].is_string()) s += " exclude " + rule["exclude"].get<std::string>();
  return s;
}

std::string parent_text(const Manifest& m) {
  if (m.parent_model && m.parent_version) return *m.parent_model + "@" + std::to_string(*m.parent_version);
  return "sha256:" + m.parent_sha256.substr(0, 12);
}

std::vector<std::string> aliases_of(const std::map<std::string, int>& aliases, int v) {
  std::vector<std::string> out;
  for (const auto& [name, target] : aliases)
    if (target == v) out.push_back(name);
  return out;
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

// A version's evaluations as log, show and diff print them.
struct VersionEvaluation {
  std::optional<Evaluation> newest;    // the newest record, successful or not
  std::optional<Evaluation> baseline;  // the model's baseline for the version's input
  std::size_t count = 0;
};

std::vector<VersionEvaluation> version_evaluations(const Layout& l, const std::vector<Manifest>& manifests) {
  std::vector<VersionEvaluation> out;
  for (const Manifest& m : manifests) {
    const std::vector<Evaluation> records = list_evaluations(l, m.model, m.version);
    VersionEvaluation v;
    v.newest = newest(records, /*ok_only=*/false);
    v.baseline = baseline_of(l, m);
    v.count = records.size();
    out.push_back(std::move(v));
  }
  return out;
}

// "0.9731", "0.9731 (-0.0052)" below a baseline, "failed", or "-" without an evaluation.
std::string metric_cell(const VersionEvaluation& e, const std::string& name) {
  if (!e.newest) return "-";
  if (!e.newest->ok) return "failed";
  const auto it = e.newest->metrics.find(name);
  if (it == e.newest->metrics.end()) return "-";
  std::string cell = fmt("%.4g", it->second);
  if (e.baseline && e.baseline->metrics.count(name))
    cell += " (" + fmt("%+.3g", it->second - e.baseline->metrics.at(name)) + ")";
  return cell;
}

// ----------------------------------------------------------------------------- log

json version_json(const Manifest& m, const std::map<std::string, int>& aliases) {
  return {{"version", m.version},
          {"sha256", m.output_sha256},
          {"bytes", m.output_bytes},
          {"created", m.created},
          {"finished", m.finished},
          {"rule", m.rule},
          {"sparsity", json_number(m.total.sparsity())},
          {"retained_l2", json_number(m.total.retained_l2())},
          {"parent", {{"sha256", m.parent_sha256},
                      {"model", m.parent_model ? json(*m.parent_model) : json(nullptr)},
                      {"version", m.parent_version ? json(*m.parent_version) : json(nullptr)}}},
          {"aliases", aliases_of(aliases, m.version)}};
}

// `log` without a name: one line per model.
int log_models(const Layout& l, bool as_json) {
  json j = {{"registry", l.root()}, {"models", json::array()}};
  std::vector<std::vector<std::string>> rows{{"model", "versions", "latest", "retired", "bytes", "aliases"}};
  for (const auto& model : list_models(l)) {
    const std::vector<int> live = list_versions(l, model);
    const std::size_t retired = version_numbers(l, model).size() - live.size();
    const auto aliases = list_aliases(l, model);
    std::map<std::string, std::uint64_t> blobs;  // distinct outputs: a blob is stored once
    for (int v : live) {
      try {
        const Manifest m = load_manifest(l, model, v);
        blobs[m.output_sha256] = m.output_bytes;
      } catch (const RegistryError&) {
      }
    }
    std::uint64_t bytes = 0;
    for (const auto& [sha, b] : blobs) bytes += b;
    std::string alias_text;
    for (const auto& [a, v] : aliases) alias_text += (alias_text.empty() ? "" : ",") + a + "->" + std::to_string(v);
    j["models"].push_back({{"model", model},
                           {"versions", live.size()},
                           {"latest", live.empty() ? json(nullptr) : json(live.back())},
                           {"retired", retired},
                           {"bytes", bytes},
                           {"aliases", aliases}});
    rows.push_back({model, std::to_string(live.size()), live.empty() ? "-" : std::to_string(live.back()),
                    std::to_string(retired), human_bytes(static_cast<double>(bytes)), alias_text.empty() ? "-" : alias_text});
  }
  if (as_json) std::cout << json_safe(j).dump(2) << std::endl;
  else if (rows.size() == 1) std::printf("no models in registry '%s'\n", l.root().c_str());
  else print_table(rows);
  return 0;
}

int cmd_log(const std::vector<std::string>& args) {
  const std::string usage = "h5prune log [NAME] [--sort version|sparsity|time] [--rule FIELD=VALUE]... "
                            "[--where 'METRIC>=X']... [--json] [--registry DIR]";
  auto o = base_options("usage: " + usage +
                        "\n\nWithout NAME: every model (live versions, latest, retired, bytes, aliases). With NAME: its\n"
                        "versions, newest first, or in the --sort order, only those whose rule matches every --rule\n"
                        "and whose newest evaluation satisfies every --where. Evaluated metrics are columns.\n"
                        "'log NAME --where \"accuracy>=0.97\" --sort sparsity': the last row is the highest sparsity\n"
                        "that keeps the accuracy.");
  o.add_options()("json", po::bool_switch(), "print {\"model\", \"versions\": [...]} (or {\"models\": [...]}) on stdout")(
      "limit", po::value<int>(), "show only the first N versions of the order")(
      "sort", po::value<std::string>()->default_value("version"),
      "version (newest first), sparsity (achieved, lowest first) or time (created, newest first)")(
      "reverse", po::bool_switch(), "the opposite order")(
      "rule", po::value<std::vector<std::string>>(), "only versions whose rule has FIELD=VALUE (repeatable): sparsity=0.9, scope=global, mode=threshold")(
      "where", po::value<std::vector<std::string>>(), "only versions whose newest evaluation has METRIC OP X (repeatable; OP >= <= > < == !=), e.g. 'accuracy>=0.97'");
  po::variables_map vm;
  if (!parse_args(args, o, {"name"}, vm)) return 0;
  const Layout l = open_registry(vm);
  if (!vm.count("name")) return log_models(l, vm["json"].as<bool>());
  const std::string model = vm["name"].as<std::string>();
  check_model_name(model);
  if (list_versions(l, model).empty()) throw RegistryError("no model '" + model + "' in registry '" + l.root() + "'");
  VersionQuery q;
  q.sort = parse_sort_key(vm["sort"].as<std::string>());
  q.reverse = vm["reverse"].as<bool>();
  if (vm.count("rule"))
    for (const auto& r : vm["rule"].as<std::vector<std::string>>()) q.rule_equals.push_back(parse_rule_filter(r));
  if (vm.count("where"))
    for (const auto& w : vm["where"].as<std::vector<std::string>>()) q.metric_where.push_back(parse_metric_condition(w));
  if (vm.count("limit")) {
    if (vm["limit"].as<int>() < 0) throw UsageError("invalid value for --limit: must be >= 0");
    q.limit = static_cast<std::size_t>(vm["limit"].as<int>());
  }
  const auto aliases = list_aliases(l, model);
  const std::vector<Manifest> manifests = query_versions(l, model, q);
  const std::vector<VersionEvaluation> evals = version_evaluations(l, manifests);
  if (vm["json"].as<bool>()) {
    json j = {{"model", model}, {"versions", json::array()}};
    for (std::size_t i = 0; i < manifests.size(); ++i) {
      json v = version_json(manifests[i], aliases);
      const VersionEvaluation& e = evals[i];
      v["evaluation"] = e.newest ? evaluation_json(*e.newest, e.baseline) : json(nullptr);
      v["evaluations"] = e.count;
      j["versions"].push_back(std::move(v));
    }
    std::cout << json_safe(j).dump(2) << std::endl;
    return 0;
  }
  // One column per metric any listed version reports (its newest evaluation).
  std::set<std::string> metric_names;
  for (const auto& e : evals)
    if (e.newest)
      for (const auto& [name, value] : e.newest->metrics) metric_names.insert(name);
  std::vector<std::vector<std::string>> rows{{"version", "created", "rule", "sparsity", "retained L2"}};
  for (const auto& name : metric_names) rows[0].push_back(name);
  rows[0].insert(rows[0].end(), {"sha256", "parent", "aliases"});
  for (std::size_t i = 0; i < manifests.size(); ++i) {
    const Manifest& m = manifests[i];
    std::vector<std::string> row{std::to_string(m.version), m.created, rule_text(m.rule), fmt("%.4f", m.total.sparsity()),
                                 fmt("%.4f", m.total.retained_l2())};
    for (const auto& name : metric_names) row.push_back(metric_cell(evals[i], name));
    row.insert(row.end(), {m.output_sha256.substr(0, 12), parent_text(m), join(aliases_of(aliases, m.version), ",")});
    rows.push_back(row);
  }
  if (manifests.empty()) std::printf("no version of '%s' matches\n", model.c_str());
  else print_table(rows);
  return 0;
}

// ----------------------------------------------------------------------------- rm

int cmd_rm(const std::vector<std::string>& args) {
  const std::string usage = "h5prune rm NAME@REF [--force] [--json] [--registry DIR]";
  auto o = base_options("usage: " + usage +
                        "\n\nRetires a version: it leaves every listing and lookup at once (one atomic link), its number\n"
                        "is never reused, its manifest and evaluation records stay as the record, and 'h5prune gc'\n"
                        "removes its file once no other version has the same output. Refused while an alias points at\n"
                        "it, unless --force.");
  o.add_options()("force", po::bool_switch(), "also remove the aliases that point at it")(
      "json", po::bool_switch(), "print {\"model\", \"version\", \"aliases_removed\", \"already_retired\"}");
  po::variables_map vm;
  if (!parse_args(args, o, {"ref"}, vm)) return 0;
  const std::string text = required(vm, "ref", usage);
  if (text.find('@') == std::string::npos)
    throw UsageError("rm needs NAME@REF (e.g. bert@3): it retires one version, never a whole model by default");
  const VersionRef ref = parse_ref(text);
  const Layout l = open_registry(vm);
  const int v = resolve(l, ref);
  const Retired r = retire_version(l, ref.model, v, vm["force"].as<bool>(), "rm");
  if (vm["json"].as<bool>()) {
    std::cout << json_safe(json{{"model", ref.model}, {"version", v}, {"aliases_removed", r.aliases_removed},
                                {"already_retired", r.already}}).dump(2)
              << std::endl;
  } else {
    std::printf("retired %s@%d%s%s; 'h5prune gc' frees its file when no other version uses it\n", ref.model.c_str(), v,
                r.aliases_removed.empty() ? "" : (" and removed alias " + join(r.aliases_removed, ", ")).c_str(),
                r.already ? " (already retired)" : "");
  }
  return 0;
}

// ----------------------------------------------------------------------------- show

int cmd_show(const std::vector<std::string>& args) {
  const std::string usage = "h5prune show NAME@REF [--json] [--registry DIR]";
  auto o = base_options("usage: " + usage +
                        "\n\nPrints one version's manifest. REF: a version number, an alias, 'latest', or a sha256\n"
                        "prefix (at least 4 hex digits, or 'sha256:PREFIX').");
  o.add_options()("json", po::bool_switch(), "print the manifest as JSON (with its aliases)");
  po::variables_map vm;
  if (!parse_args(args, o, {"ref"}, vm)) return 0;
  const VersionRef ref = parse_ref(required(vm, "ref", usage));
  const Layout l = open_registry(vm);
  const Manifest m = load_manifest(l, ref.model, resolve(l, ref));
  const auto aliases = aliases_of(list_aliases(l, ref.model), m.version);
  const std::vector<Evaluation> records = list_evaluations(l, m.model, m.version);
  const std::optional<Evaluation> baseline = baseline_of(l, m);
  if (vm["json"].as<bool>()) {
    json j = manifest_to_json(m);
    j["aliases"] = aliases;
    j["evaluations"] = json::array();
    for (const auto& e : records) j["evaluations"].push_back(evaluation_to_json(e));
    j["baseline"] = baseline ? evaluation_to_json(*baseline) : json(nullptr);
    std::cout << json_safe(j).dump(2) << std::endl;
    return 0;
  }
  const auto opt = [](const std::optional<std::string>& s) { return s ? *s : std::string("-"); };
  std::vector<std::vector<std::string>> head{
      {"version", m.model + "@" + std::to_string(m.version)},
      {"aliases", aliases.empty() ? "-" : join(aliases, ", ")},
      {"created", m.created + " (finished " + m.finished + ")"},
      {"output", m.output_sha256 + " (" + human_bytes(static_cast<double>(m.output_bytes)) + ")"},
      {"parent", m.parent_sha256 + " (" + m.parent_path + ")" +
                     (m.parent_model ? ", " + parent_text(m) : std::string(""))},
      {"rule", m.rule.dump()},
      {"total", std::to_string(m.total.pruned) + " of " + std::to_string(m.total.n) + " pruned (" +
                    fmt("%.4f", m.total.sparsity()) + "), retained L2 " + fmt("%.4f", m.total.retained_l2())},
      {"tool", m.tool_version + " (git " + m.tool_git + ", CUDA " + (m.tool_cuda ? "yes" : "no") + ")"},
      {"backend", m.backend + " on " + m.device},
      {"host", m.user + "@" + m.host},
      {"slurm", "job " + opt(m.slurm_job_id) + ", array job " + opt(m.slurm_array_job_id) + ", task " +
                    opt(m.slurm_array_task_id)},
      {"command", join(m.command, " ")}};
  for (const auto& r : head) std::printf("%-9s %s\n", r[0].c_str(), r[1].c_str());
  std::printf("\n");
  std::vector<std::vector<std::string>> rows{{"tensor", "dtype", "n", "pruned", "sparsity", "threshold", "retained L2"}};
  for (const auto& t : m.tensors)
    rows.push_back({t.path, std::string(dtype_name(t.dtype)), std::to_string(t.n), std::to_string(t.pruned), fmt("%.4f", t.sparsity()),
                    fmt("%.6g", t.threshold), fmt("%.4f", t.retained_l2())});
  print_table(rows);
  for (const auto& t : m.tensors)
    if (t.norm_p) std::printf("%s\n", removed_slices_line(t).c_str());
  std::printf("\nbaseline  %s\n", baseline ? (evaluation_text(*baseline, std::nullopt) + " (evaluation " + baseline->id + ")").c_str()
                                          : "- (h5prune eval INPUT.h5 --registry DIR --model NAME --eval CMD records one)");
  if (records.empty()) {
    std::printf("evaluations: none\n");
    return 0;
  }
  std::printf("evaluations (%zu, oldest first):\n", records.size());
  std::vector<std::vector<std::string>> erows{{"id", "started", "result", "seconds", "command"}};
  for (const auto& e : records)
    erows.push_back({e.id, e.started, evaluation_text(e, baseline), fmt("%.3f", e.seconds), e.command});
  print_table(erows);
  return 0;
}

// ----------------------------------------------------------------------------- diff

json tensor_fields(const TensorResult& t) {
  return {{"n", t.n}, {"pruned", t.pruned}, {"sparsity", json_number(t.sparsity())},
          {"threshold", json_number(t.threshold)}, {"retained_l2", json_number(t.retained_l2())}};
}

int cmd_diff(const std::vector<std::string>& args) {
  const std::string usage = "h5prune diff NAME@A NAME@B [--json] [--registry DIR]";
  auto o = base_options("usage: " + usage + "\n\nCompares two versions: rule, output, and per-tensor n, sparsity,\n"
                        "threshold and retained L2 side by side.");
  o.add_options()("json", po::bool_switch(), "print the comparison as JSON");
  po::variables_map vm;
  if (!parse_args(args, o, {"a", "b"}, vm)) return 0;
  const VersionRef ra = parse_ref(required(vm, "a", usage)), rb = parse_ref(required(vm, "b", usage));
  const Layout l = open_registry(vm);
  const Manifest a = load_manifest(l, ra.model, resolve(l, ra));
  const Manifest b = load_manifest(l, rb.model, resolve(l, rb));
  const std::string na = a.model + "@" + std::to_string(a.version), nb = b.model + "@" + std::to_string(b.version);

  std::set<std::string> keys;
  for (const auto& [k, v] : a.rule.items()) keys.insert(k);
  for (const auto& [k, v] : b.rule.items()) keys.insert(k);
  // Metrics of each side's newest successful evaluation.
  const auto metrics_of = [&](const Manifest& m) {
    const auto e = newest(list_evaluations(l, m.model, m.version), /*ok_only=*/true);
    return e ? e->metrics : std::map<std::string, double>{};
  };
  const std::map<std::string, double> ma = metrics_of(a), mb = metrics_of(b);
  std::set<std::string> metric_names;
  for (const auto& [k, v] : ma) metric_names.insert(k);
  for (const auto& [k, v] : mb) metric_names.insert(k);
  std::map<std::string, const TensorResult*> ta, tb;
  std::set<std::string> paths;
  for (const auto& t : a.tensors) ta[t.path] = &t, paths.insert(t.path);
  for (const auto& t : b.tensors) tb[t.path] = &t, paths.insert(t.path);

  if (vm["json"].as<bool>()) {
    json j = {{"a", na}, {"b", nb}, {"rule", json::object()}, {"tensors", json::array()}};
    for (const auto& k : keys) {
      const json va = a.rule.contains(k) ? a.rule[k] : json(nullptr), vb = b.rule.contains(k) ? b.rule[k] : json(nullptr);
      j["rule"][k] = {{"a", va}, {"b", vb}, {"same", va == vb}};
    }
    j["output"] = {{"a", a.output_sha256}, {"b", b.output_sha256}, {"same", a.output_sha256 == b.output_sha256}};
    j["parent"] = {{"a", a.parent_sha256}, {"b", b.parent_sha256}, {"same", a.parent_sha256 == b.parent_sha256}};
    j["total"] = {{"a", {{"pruned", a.total.pruned}, {"sparsity", json_number(a.total.sparsity())}, {"retained_l2", json_number(a.total.retained_l2())}}},
                  {"b", {{"pruned", b.total.pruned}, {"sparsity", json_number(b.total.sparsity())}, {"retained_l2", json_number(b.total.retained_l2())}}}};
    j["metrics"] = json::object();
    for (const auto& k : metric_names) {
      const json va = ma.count(k) ? json(ma.at(k)) : json(nullptr), vb = mb.count(k) ? json(mb.at(k)) : json(nullptr);
      j["metrics"][k] = {{"a", va}, {"b", vb}, {"same", va == vb}};
    }
    for (const auto& p : paths)
      j["tensors"].push_back({{"path", p},
                              {"a", ta.count(p) ? tensor_fields(*ta[p]) : json(nullptr)},
                              {"b", tb.count(p) ? tensor_fields(*tb[p]) : json(nullptr)}});
    std::cout << json_safe(j).dump(2) << std::endl;
    return 0;
  }
  const auto val = [](const json& r, const std::string& k) {
    if (!r.contains(k)) return std::string("-");
    return r[k].is_string() ? r[k].get<std::string>() : r[k].dump();
  };
  std::vector<std::vector<std::string>> rows{{"", na, nb, ""}};
  for (const auto& k : keys) {
    const std::string va = val(a.rule, k), vb = val(b.rule, k);
    rows.push_back({"rule." + k, va, vb, va == vb ? "" : "*"});
  }
  rows.push_back({"sha256", a.output_sha256.substr(0, 12), b.output_sha256.substr(0, 12),
                  a.output_sha256 == b.output_sha256 ? "" : "*"});
  rows.push_back({"parent", a.parent_sha256.substr(0, 12), b.parent_sha256.substr(0, 12),
                  a.parent_sha256 == b.parent_sha256 ? "" : "*"});
  rows.push_back({"sparsity", fmt("%.4f", a.total.sparsity()), fmt("%.4f", b.total.sparsity()),
                  a.total.pruned == b.total.pruned ? "" : "*"});
  rows.push_back({"retained L2", fmt("%.4f", a.total.retained_l2()), fmt("%.4f", b.total.retained_l2()),
                  a.total.sum_sq_after == b.total.sum_sq_after && a.total.sum_sq_before == b.total.sum_sq_before ? "" : "*"});
  for (const auto& k : metric_names) {
    const std::string va = ma.count(k) ? fmt("%.6g", ma.at(k)) : "-", vb = mb.count(k) ? fmt("%.6g", mb.at(k)) : "-";
    rows.push_back({"metric." + k, va, vb, ma.count(k) && mb.count(k) && ma.at(k) == mb.at(k) ? "" : "*"});
  }
  print_table(rows);
  std::printf("\n");
  std::vector<std::vector<std::string>> trows{
      {"tensor", "n", "sparsity A", "sparsity B", "threshold A", "threshold B", "L2 A", "L2 B"}};
  const auto cell = [](const TensorResult* t, int what) {
    if (!t) return std::string("-");
    if (what == 0) return fmt("%.4f", t->sparsity());
    if (what == 1) return fmt("%.6g", t->threshold);
    return fmt("%.4f", t->retained_l2());
  };
  for (const auto& p : paths) {
    const TensorResult* x = ta.count(p) ? ta[p] : nullptr;
    const TensorResult* y = tb.count(p) ? tb[p] : nullptr;
    std::string n = x ? std::to_string(x->n) : "-";
    if (y && (!x || x->n != y->n)) n += "/" + std::to_string(y->n);
    trows.push_back({p, n, cell(x, 0), cell(y, 0), cell(x, 1), cell(y, 1), cell(x, 2), cell(y, 2)});
  }
  print_table(trows);
  return 0;
}

// ----------------------------------------------------------------------------- get

int cmd_get(const std::vector<std::string>& args) {
  const std::string usage = "h5prune get NAME@REF -o FILE [--force] [--registry DIR]";
  auto o = base_options("usage: " + usage + "\n\nCopies a version's file out of the registry, checking its sha256 on the way.");
  o.add_options()("output,o", po::value<std::string>(), "where to write the file (temporary + rename)")(
      "force", po::bool_switch(), "replace an existing file");
  po::variables_map vm;
  if (!parse_args(args, o, {"ref"}, vm)) return 0;
  const VersionRef ref = parse_ref(required(vm, "ref", usage));
  const std::string output = required(vm, "output", usage);
  const Layout l = open_registry(vm);
  const Manifest m = load_manifest(l, ref.model, resolve(l, ref));
  AtomicOutput out(output, vm["force"].as<bool>(), l.blob_path(m.output_sha256));
  copy_blob_verified(l, m.output_sha256, m.output_bytes, out.temp_path());
  out.commit();
  std::printf("wrote %s (%s@%d, %s, sha256 %s verified)\n", output.c_str(), m.model.c_str(), m.version,
              human_bytes(static_cast<double>(m.output_bytes)).c_str(), m.output_sha256.c_str());
  return 0;
}

// ----------------------------------------------------------------------------- alias

int alias_history_command(const Layout& l, const std::string& text, bool as_json) {
  const auto at = text.find('@');
  const std::string model = text.substr(0, at), alias = at == std::string::npos ? "" : text.substr(at + 1);
  check_model_name(model);
  if (!alias.empty()) check_alias_name(alias);
  if (list_versions(l, model).empty() && version_numbers(l, model).empty())
    throw RegistryError("no model '" + model + "' in registry '" + l.root() + "'");
  const auto events = alias_history(l, model, alias);
  const auto opt = [](const std::optional<int>& v) { return v ? json(*v) : json(nullptr); };
  if (as_json) {
    json j = {{"model", model}, {"alias", alias.empty() ? json(nullptr) : json(alias)}, {"events", json::array()}};
    for (const auto& e : events)
      j["events"].push_back({{"alias", e.alias}, {"action", e.action}, {"from", opt(e.from)}, {"to", opt(e.to)},
                             {"time", e.time}, {"user", e.user}, {"host", e.host}});
    std::cout << json_safe(j).dump(2) << std::endl;
    return 0;
  }
  std::vector<std::vector<std::string>> rows{{"time", "alias", "action", "from", "to", "by"}};
  const auto num = [](const std::optional<int>& v) { return v ? std::to_string(*v) : std::string("-"); };
  for (const auto& e : events) rows.push_back({e.time, e.alias, e.action, num(e.from), num(e.to), e.user + "@" + e.host});
  if (events.empty()) std::printf("no alias history for %s\n", text.c_str());
  else print_table(rows);
  return 0;
}

int cmd_alias(const std::vector<std::string>& args) {
  const std::string usage =
      "h5prune alias NAME@REF ALIAS | h5prune alias NAME ALIAS --delete | h5prune alias --history NAME[@ALIAS]  [--registry DIR]";
  auto o = base_options("usage: " + usage +
                        "\n\nPoints ALIAS (e.g. production) at a version, or removes it; --history lists every move\n"
                        "(oldest first) of one alias, or of all the model's aliases.");
  o.add_options()("delete", po::bool_switch(), "remove the alias")(
      "history", po::bool_switch(), "list the alias's moves: time, from, to, who")(
      "json", po::bool_switch(), "with --history: print {\"model\", \"alias\", \"events\": [...]}");
  po::variables_map vm;
  if (!parse_args(args, o, {"ref", "alias"}, vm)) return 0;
  if (vm["history"].as<bool>()) {
    if (vm.count("alias")) throw UsageError("--history takes NAME@ALIAS or NAME alone");
    const std::string text = required(vm, "ref", usage);
    return alias_history_command(open_registry(vm), text, vm["json"].as<bool>());
  }
  const VersionRef ref = parse_ref(required(vm, "ref", usage));
  const std::string alias = required(vm, "alias", usage);
  const Layout l = open_registry(vm);
  if (vm["delete"].as<bool>()) {
    delete_alias(l, ref.model, alias);
    std::printf("removed alias %s@%s\n", ref.model.c_str(), alias.c_str());
    return 0;
  }
  check_alias_name(alias);
  const int v = resolve(l, ref);
  const auto before = read_alias(l, ref.model, alias);
  set_alias(l, ref.model, alias, v);
  std::printf("%s@%s -> %d%s\n", ref.model.c_str(), alias.c_str(), v,
              before && *before != v ? (" (was " + std::to_string(*before) + ")").c_str() : "");
  return 0;
}

// ----------------------------------------------------------------------------- verify

json findings_json(const std::vector<Finding>& f, const char* what = "problem") {
  json a = json::array();
  for (const auto& x : f) a.push_back({{"path", x.path}, {what, x.what}});
  return a;
}

int cmd_verify(const std::vector<std::string>& args) {
  const std::string usage = "h5prune verify [NAME] [--json] [--registry DIR]";
  auto o = base_options("usage: " + usage +
                        "\n\nRe-hashes every blob and checks every manifest, alias and evaluation record (of NAME, or of the whole\n"
                        "registry); exits 6 when anything is damaged.");
  o.add_options()("json", po::bool_switch(), "print the report as JSON");
  po::variables_map vm;
  if (!parse_args(args, o, {"name"}, vm)) return 0;
  std::optional<std::string> model;
  if (vm.count("name")) model = vm["name"].as<std::string>();
  const Layout l = open_registry(vm);
  const VerifyReport r = verify_registry(l, model);
  if (vm["json"].as<bool>()) {
    json j = {{"registry", l.root()},        {"ok", r.damage.empty()},   {"models", r.models},
              {"versions", r.versions},       {"aliases", r.aliases},     {"blobs", r.blobs},
              {"evaluations", r.evaluations},
              {"bytes_hashed", r.bytes_hashed}, {"damage", findings_json(r.damage)},
              {"leftovers", findings_json(r.leftovers)}};
    std::cout << json_safe(j).dump(2) << std::endl;
  } else {
    for (const auto& d : r.damage) std::printf("DAMAGED  %s: %s\n", d.path.c_str(), d.what.c_str());
    std::printf("checked %d model%s, %d version%s, %d alias%s, %d evaluation record%s, %d blob%s (%s hashed): %s\n",
                r.models, r.models == 1 ? "" : "s", r.versions, r.versions == 1 ? "" : "s", r.aliases,
                r.aliases == 1 ? "" : "es", r.evaluations, r.evaluations == 1 ? "" : "s",
                r.blobs, r.blobs == 1 ? "" : "s", human_bytes(static_cast<double>(r.bytes_hashed)).c_str(),
                r.damage.empty() ? "ok" : (std::to_string(r.damage.size()) + " damaged").c_str());
    if (!r.leftovers.empty())
      std::printf("%zu leftover%s of interrupted writers (not damage; 'h5prune gc' removes them)\n", r.leftovers.size(),
                  r.leftovers.size() == 1 ? "" : "s");
  }
  if (!r.damage.empty())
    throw RegistryError("registry '" + l.root() + "' is damaged: " + std::to_string(r.damage.size()) +
                        " problem(s), first: " + r.damage.front().path + ": " + r.damage.front().what);
  return 0;
}

// ----------------------------------------------------------------------------- gc

int cmd_gc(const std::vector<std::string>& args) {
  const std::string usage =
      "h5prune gc [--keep-last N] [--older-than DURATION] [--dry-run] [--grace DURATION] [--json] [--registry DIR]";
  auto o = base_options("usage: " + usage +
                        "\n\nWith --keep-last/--older-than, first retires the versions outside the retention policy (a\n"
                        "version is kept when any rule keeps it, and always when an alias points at it). Then removes\n"
                        "blobs no live version refers to and abandoned staging, when older than the grace period (so\n"
                        "that writers still at work keep theirs).");
  o.add_options()("keep-last", po::value<int>(), "keep the newest N versions of every model (N >= 1)")(
      "older-than", po::value<std::string>(), "retire versions created longer ago than this (15m, 2h, 7d)")(
      "dry-run", po::bool_switch(), "list what would be retired and removed, change nothing")(
      "grace", po::value<std::string>()->default_value("24h"), "only remove what is older than this (0, 90s, 15m, 2h, 7d)")(
      "json", po::bool_switch(), "print the report as JSON");
  po::variables_map vm;
  if (!parse_args(args, o, {}, vm)) return 0;
  const double grace = parse_duration(vm["grace"].as<std::string>(), "--grace");
  const bool dry = vm["dry-run"].as<bool>();
  RetentionPolicy policy;
  if (vm.count("keep-last")) {
    if (vm["keep-last"].as<int>() < 1) throw UsageError("invalid value for --keep-last: must be >= 1 (use rm to retire a version)");
    policy.keep_last = vm["keep-last"].as<int>();
  }
  if (vm.count("older-than")) policy.older_than_seconds = parse_duration(vm["older-than"].as<std::string>(), "--older-than");
  const Layout l = open_registry(vm);
  const GcReport r = collect_garbage(l, grace, dry, policy);
  if (vm["json"].as<bool>()) {
    json j = {{"registry", l.root()}, {"dry_run", dry}, {"grace_seconds", grace},
              {"retired", findings_json(r.retired, "reason")},
              {"removed", findings_json(r.removed, "reason")}, {"kept", findings_json(r.kept, "reason")},
              {"left_alone", findings_json(r.left_alone, "reason")},
              {"bytes", r.bytes}, {"blobs_skipped", r.blobs_skipped}};
    std::cout << json_safe(j).dump(2) << std::endl;
  } else {
    for (const auto& f : r.retired) std::printf("%s %s (%s)\n", dry ? "would retire" : "retired", f.path.c_str(), f.what.c_str());
    for (const auto& f : r.removed) std::printf("%s %s (%s)\n", dry ? "would remove" : "removed", f.path.c_str(), f.what.c_str());
    for (const auto& f : r.left_alone) std::printf("left alone %s (%s)\n", f.path.c_str(), f.what.c_str());
    std::printf("%s %zu item%s, %s; kept %zu younger than the grace period\n", dry ? "would remove" : "removed",
                r.removed.size(), r.removed.size() == 1 ? "" : "s", human_bytes(static_cast<double>(r.bytes)).c_str(),
                r.kept.size());
  }
  if (r.blobs_skipped)
    std::fprintf(stderr, "h5prune: warning: a manifest could not be read, so no blob was removed; run h5prune verify\n");
  return 0;
}

}  // namespace

int cmd_registry(const std::string& command, const std::vector<std::string>& args) {
  if (command == "log") return cmd_log(args);
  if (command == "show") return cmd_show(args);
  if (command == "diff") return cmd_diff(args);
  if (command == "get") return cmd_get(args);
  if (command == "alias") return cmd_alias(args);
  if (command == "verify") return cmd_verify(args);
  if (command == "gc") return cmd_gc(args);
  if (command == "rm") return cmd_rm(args);
  throw UsageError("unknown registry command '" + command + "'");
}

bool is_registry_command(const std::string& command) {
  return command == "log" || command == "show" || command == "diff" || command == "get" || command == "alias" ||
         command == "verify" || command == "gc" || command == "rm";
}

}  // namespace h5p::cli
