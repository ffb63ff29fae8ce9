// Manifest JSON: every field written explicitly, every field checked when read back.
#include "formats/manifest.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/errors.hpp"
#include "formats/json_names.hpp"

namespace h5p {
using nlohmann::json;

namespace {

json opt_string(const std::optional<std::string>& s) { return s ? json(*s) : json(nullptr); }


json tensor_to_json(const TensorResult& t) {
  json j = {{"path", t.path},
          {"dtype", std::string(dtype_name(t.dtype))},
          {"shape", t.shape},
          {"n", t.n},
          {"zeros_before", t.zeros_before},
          {"pruned", t.pruned},
          {"zeros_after", t.zeros_after},
          {"newly_zeroed", t.newly_zeroed()},
          {"requested_sparsity", t.requested_sparsity ? json_number(*t.requested_sparsity) : json(nullptr)},
          {"sparsity", json_number(t.sparsity())},
          {"threshold", json_number(t.threshold)},
          {"ties", t.ties},
          {"ties_pruned", t.ties_pruned},
          {"sum_sq_before", json_number(t.sum_sq_before)},
          {"sum_sq_after", json_number(t.sum_sq_after)},
          {"retained_l2", json_number(t.retained_l2())}};
  if (t.axis) j["axis"] = *t.axis;
  if (t.norm_p) j["structured"] = structured_json(t);
  return j;
}

}  // namespace

json structured_json(const TensorResult& t, bool planned_only) {
  if (!t.norm_p) return nullptr;
  json j = {{"norm", t.norm_p == 1 ? "l1" : "l2"}, {"axis", t.axis.value_or(0)}, {"slices", t.slices}};
  if (planned_only) return j;
  j["removed"] = t.removed_slices;
  j["kept"] = t.slices - t.removed_slices.size();
  return j;
}

namespace {

// Typed field access that names the manifest and the field when either is wrong.
class Reader {
 public:
  explicit Reader(const std::string& where) : where_(where) {}

  const json& field(const json& obj, const char* name, json::value_t want, const std::string& ctx = "") const {
    if (!obj.is_object()) fail(ctx.empty() ? "not a JSON object" : ctx + " is not an object");
    auto it = obj.find(name);
    if (it == obj.end()) fail("missing field '" + ctx + name + "'");
    const bool ok = want == json::value_t::number_float ? it->is_number()
                    : want == json::value_t::number_unsigned ? it->is_number_unsigned() ||
                                                                   (it->is_number_integer() && it->get<std::int64_t>() >= 0)
                                                             : it->type() == want;
    if (!ok) fail("field '" + ctx + name + "' has the wrong type");
    return *it;
  }
  std::string str(const json& o, const char* n, const std::string& c = "") const {
    return field(o, n, json::value_t::string, c).get<std::string>();
  }
  std::uint64_t u64(const json& o, const char* n, const std::string& c = "") const {
    return field(o, n, json::value_t::number_unsigned, c).get<std::uint64_t>();
  }
  double num(const json& o, const char* n, const std::string& c = "") const {
    if (o.is_object() && o.contains(n) && o.at(n).is_string()) {
      const std::string v = o.at(n).get<std::string>();
      if (v == "Infinity") return HUGE_VAL;
      if (v == "-Infinity") return -HUGE_VAL;
      if (v == "NaN") return std::nan("");
      fail("field '" + c + n + "' is not a number");
    }
    return field(o, n, json::value_t::number_float, c).get<double>();
  }
  std::optional<std::string> opt_str(const json& o, const char* n, const std::string& c = "") const {
    if (!o.contains(n) || o.at(n).is_null()) return std::nullopt;
    return str(o, n, c);
  }
  [[noreturn]] void fail(const std::string& what) const {
    throw RegistryError("damaged manifest '" + where_ + "': " + what);
  }

 private:
  std::string where_;
};

// The structured record: removed slices ascending, each below the slice count.
void read_structured(const Reader& r, const json& st, TensorResult& t) {
  const std::string c = "tensors[].structured.";
  const std::string norm = r.str(st, "norm", c);
  if (norm != "l1" && norm != "l2") r.fail("tensors[].structured.norm '" + norm + "' is not l1 or l2");
  t.norm_p = norm == "l1" ? 1 : 2;
  t.axis = static_cast<int>(r.u64(st, "axis", c));
  t.slices = r.u64(st, "slices", c);
  for (const json& i : r.field(st, "removed", json::value_t::array, c)) {
    const bool index = i.is_number_unsigned() || (i.is_number_integer() && i.get<std::int64_t>() >= 0);
    const bool ascending = index && (t.removed_slices.empty() || i.get<std::uint64_t>() > t.removed_slices.back());
    if (!ascending || i.get<std::uint64_t>() >= t.slices)
      r.fail("tensors[].structured.removed is not an ascending list of slice indices below slices");
    t.removed_slices.push_back(i.get<std::uint64_t>());
  }
  if (r.u64(st, "kept", c) != t.slices - t.removed_slices.size())
    r.fail("tensors[].structured.kept is not slices minus the removed slices");
}

}  // namespace

// Weights may hold Inf, so sums of squares may be Inf and their ratio NaN.
json json_number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  return v;
}

json manifest_to_json(const Manifest& m) {
  json j;
  j["schema"] = kManifestSchema;
  j["model"] = m.model;
  j["version"] = m.version;
  j["key"] = m.key;
  j["publish_id"] = m.publish_id;
  j["created"] = m.created;
  j["finished"] = m.finished;
  j["output"] = {{"sha256", m.output_sha256}, {"bytes", m.output_bytes}};
  j["parent"] = {{"sha256", m.parent_sha256},
                 {"bytes", m.parent_bytes},
                 {"path", m.parent_path},
                 {"model", opt_string(m.parent_model)},
                 {"version", m.parent_version ? json(*m.parent_version) : json(nullptr)}};
  j["rule"] = m.rule;
  j["tensors"] = json::array();
  for (const auto& t : m.tensors) j["tensors"].push_back(tensor_to_json(t));
  j["total"] = {{"n", m.total.n},
                {"pruned", m.total.pruned},
                {"zeros_before", m.total.zeros_before},
                {"zeros_after", m.total.zeros_after},
                {"newly_zeroed", m.total.newly_zeroed()},
                {"sparsity", json_number(m.total.sparsity())},
                {"sum_sq_before", json_number(m.total.sum_sq_before)},
                {"sum_sq_after", json_number(m.total.sum_sq_after)},
                {"retained_l2", json_number(m.total.retained_l2())}};
  j["tool"] = {{"version", m.tool_version}, {"git", m.tool_git}, {"cuda", m.tool_cuda}};
  j["backend"] = m.backend;
  j["device"] = m.device;
  j["threads"] = m.threads;
  j["host"] = m.host;
  j["user"] = m.user;
  j["slurm"] = {{"job_id", opt_string(m.slurm_job_id)},
                {"array_job_id", opt_string(m.slurm_array_job_id)},
                {"array_task_id", opt_string(m.slurm_array_task_id)}};
  j["command"] = m.command;
  return j;
}

Manifest manifest_from_json(const json& j, const std::string& where) {
  const Reader r(where);
  using vt = json::value_t;
  if (r.str(j, "schema") != kManifestSchema) r.fail("unknown schema '" + j["schema"].get<std::string>() + "'");
  Manifest m;
  m.model = r.str(j, "model");
  const std::uint64_t version = r.u64(j, "version");
  if (version < 1 || version > 1000000000) r.fail("version out of range");
  m.version = static_cast<int>(version);
  m.key = r.str(j, "key");
  m.publish_id = r.str(j, "publish_id");
  m.created = r.str(j, "created");
  m.finished = r.str(j, "finished");
  const json& out = r.field(j, "output", vt::object);
  m.output_sha256 = r.str(out, "sha256", "output.");
  m.output_bytes = r.u64(out, "bytes", "output.");
  if (m.output_sha256.size() != 64 || m.output_sha256.find_first_not_of("0123456789abcdef") != std::string::npos)
    r.fail("output.sha256 is not a sha256");
  const json& parent = r.field(j, "parent", vt::object);
  m.parent_sha256 = r.str(parent, "sha256", "parent.");
  m.parent_bytes = r.u64(parent, "bytes", "parent.");
  m.parent_path = r.str(parent, "path", "parent.");
  m.parent_model = r.opt_str(parent, "model", "parent.");
  if (parent.contains("version") && !parent["version"].is_null())
    m.parent_version = static_cast<int>(r.u64(parent, "version", "parent."));
  m.rule = r.field(j, "rule", vt::object);
  r.str(m.rule, "mode", "rule.");
  for (const json& t : r.field(j, "tensors", vt::array)) {
    TensorResult mt;
    const std::string c = "tensors[].";
    mt.path = r.str(t, "path", c);
    const std::string dtype = r.str(t, "dtype", c);
    const std::optional<DType> parsed = dtype_from_name(dtype);
    if (!parsed) r.fail("tensors[].dtype '" + dtype + "' is not float16, float32 or float64");
    mt.dtype = *parsed;
    for (const json& d : r.field(t, "shape", vt::array, c)) {
      if (!d.is_number_integer() || d.get<std::int64_t>() < 0) r.fail("tensors[].shape has a non-integer");
      mt.shape.push_back(d.get<std::uint64_t>());
    }
    mt.n = r.u64(t, "n", c);
    mt.zeros_before = r.u64(t, "zeros_before", c);
    mt.pruned = r.u64(t, "pruned", c);
    if (t.contains("axis")) mt.axis = static_cast<int>(r.u64(t, "axis", c));
    // Manifests written before h5prune counted zeros after have no such field: read as unchanged.
    mt.zeros_after = t.contains("zeros_after") ? r.u64(t, "zeros_after", c) : mt.zeros_before;
    if (mt.zeros_after < mt.zeros_before) r.fail("tensors[].zeros_after is below zeros_before");
    if (t.contains("requested_sparsity") && !t["requested_sparsity"].is_null())
      mt.requested_sparsity = r.num(t, "requested_sparsity", c);
    mt.threshold = r.num(t, "threshold", c);
    mt.ties = r.u64(t, "ties", c);
    mt.ties_pruned = r.u64(t, "ties_pruned", c);
    mt.sum_sq_before = r.num(t, "sum_sq_before", c);
    mt.sum_sq_after = r.num(t, "sum_sq_after", c);
    if (t.contains("structured")) read_structured(r, t["structured"], mt);
    m.tensors.push_back(std::move(mt));
  }
  const json& total = r.field(j, "total", vt::object);
  m.total.n = r.u64(total, "n", "total.");
  m.total.pruned = r.u64(total, "pruned", "total.");
  for (const TensorResult& t : m.tensors) {
    m.total.zeros_before += t.zeros_before;
    m.total.zeros_after += t.zeros_after;
  }
  m.total.sum_sq_before = r.num(total, "sum_sq_before", "total.");
  m.total.sum_sq_after = r.num(total, "sum_sq_after", "total.");
  const json& tool = r.field(j, "tool", vt::object);
  m.tool_version = r.str(tool, "version", "tool.");
  m.tool_git = r.str(tool, "git", "tool.");
  m.tool_cuda = r.field(tool, "cuda", vt::boolean, "tool.").get<bool>();
  m.backend = r.str(j, "backend");
  m.device = r.str(j, "device");
  m.threads = static_cast<int>(r.u64(j, "threads"));
  m.host = r.str(j, "host");
  m.user = r.str(j, "user");
  const json& slurm = r.field(j, "slurm", vt::object);
  m.slurm_job_id = r.opt_str(slurm, "job_id", "slurm.");
  m.slurm_array_job_id = r.opt_str(slurm, "array_job_id", "slurm.");
  m.slurm_array_task_id = r.opt_str(slurm, "array_task_id", "slurm.");
  for (const json& a : r.field(j, "command", vt::array)) {
    if (!a.is_string()) r.fail("command has a non-string");
    m.command.push_back(a.get<std::string>());
  }
  return m;
}

Manifest manifest_from_text(const std::string& text, const std::string& path) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw RegistryError("damaged manifest '" + path + "': not valid JSON");
  return manifest_from_json(json_restore(std::move(j)), path);
}

Manifest read_manifest_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw RegistryError("cannot read manifest '" + path + "': " + std::strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  return manifest_from_text(ss.str(), path);
}

std::string manifest_text(const Manifest& m) { return json_safe(manifest_to_json(m)).dump(2) + "\n"; }

}  // namespace h5p
