// Framework layouts: Keras 2 full models keep optimizer state under /optimizer_weights,
// Keras 3 .weights.h5 files under /optimizer (beside /layers), Caffe snapshots store blobs as
// /data/<layer>/<index>. Everything else is read as generic (PyTorch-style axes).
#include "host/framework.hpp"

#include <algorithm>
#include <map>

namespace h5p {
namespace {

bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

bool root_has_attribute(hid_t file, const char* name) { return H5Aexists(file, name) > 0; }

bool any_under(const std::vector<h5::DatasetInfo>& datasets, const std::string& prefix) {
  return std::any_of(datasets.begin(), datasets.end(), [&](const h5::DatasetInfo& d) { return starts_with(d.path, prefix); });
}

// Caffe's HDF5 snapshot: every dataset is /data/<layer>/<blob index>.
bool caffe_layout(const std::vector<h5::DatasetInfo>& datasets) {
  if (datasets.empty()) return false;
  return std::all_of(datasets.begin(), datasets.end(), [](const h5::DatasetInfo& d) {
    if (!starts_with(d.path, "/data/")) return false;
    const std::size_t slash = d.path.rfind('/');
    if (slash <= 6) return false;
    const std::string index = d.path.substr(slash + 1);
    return !index.empty() && std::all_of(index.begin(), index.end(), [](char c) { return c >= '0' && c <= '9'; });
  });
}

std::string shape_text(const std::vector<hsize_t>& shape) {
  std::string t = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) t += (i ? ", " : "") + std::to_string(shape[i]);
  return t + (shape.size() == 1 ? ",)" : ")");
}

// Keras 3 numbers a layer's variables: a GRU cell with reset_after=True holds vars/0 kernel
// (in, 3u), vars/1 recurrent kernel (u, 3u) and vars/2 bias (2, 3u), the only 2-D bias Keras
// stores. Matched only when the cell group holds exactly these three with these shapes.
void keras3_gru_biases(const std::vector<h5::DatasetInfo>& datasets, std::map<std::string, std::string>& out) {
  std::map<std::string, std::vector<const h5::DatasetInfo*>> vars;  // "/.../cell/vars" -> its datasets
  for (const auto& d : datasets) {
    const std::size_t slash = d.path.rfind('/');
    const std::string group = d.path.substr(0, slash);
    if (group.size() >= 10 && group.compare(group.size() - 10, 10, "/cell/vars") == 0) vars[group].push_back(&d);
  }
  for (const auto& [group, ds] : vars) {
    if (ds.size() != 3) continue;
    std::map<std::string, const h5::DatasetInfo*> by_name;
    for (const auto* d : ds) by_name[d->path.substr(group.size() + 1)] = d;
    if (!by_name.count("0") || !by_name.count("1") || !by_name.count("2")) continue;
    const auto& k = by_name["0"]->shape;
    const auto& r = by_name["1"]->shape;
    const auto& b = by_name["2"]->shape;
    if (k.size() != 2 || r.size() != 2 || b.size() != 2) continue;
    const hsize_t w = k[1];
    if (r[1] != w || w != 3 * r[0] || b[0] != 2 || b[1] != w) continue;
    out[group + "/2"] = "bias (keras3 GRU cell, reset_after: vars/2 " + shape_text(b) + " beside kernels " +
                        shape_text(k) + ", " + shape_text(r) + "; --include takes it)";
  }
}

// Caffe's Convolution and InnerProduct layers keep the weights in blob 0 (out, ...) and the
// bias in blob 1 (out values; old snapshots store it as (1, 1, 1, out)).
void caffe_biases(const std::vector<h5::DatasetInfo>& datasets, std::map<std::string, std::string>& out) {
  std::map<std::string, const h5::DatasetInfo*> by_path;
  for (const auto& d : datasets) by_path[d.path] = &d;
  for (const auto& d : datasets) {
    if (d.path.size() < 2 || d.path.compare(d.path.size() - 2, 2, "/1") != 0) continue;
    const auto w = by_path.find(d.path.substr(0, d.path.size() - 1) + "0");
    if (w == by_path.end() || w->second->shape.size() < 2) continue;
    if (h5::element_count(d.shape) != w->second->shape[0]) continue;
    out[d.path] = "bias (caffe blob 1 of the layer whose blob 0 is " + shape_text(w->second->shape) +
                  "; --include takes it)";
  }
}

}  // namespace

FileLayout detect_layout(hid_t file, const std::vector<h5::DatasetInfo>& datasets) {
  FileLayout l;
  if (any_under(datasets, "/optimizer_weights/")) {
    l.framework = Framework::keras2;
    l.optimizer_prefix = "/optimizer_weights/";
  } else if (any_under(datasets, "/optimizer/vars/") || (any_under(datasets, "/optimizer/") && any_under(datasets, "/layers/"))) {
    l.framework = Framework::keras3;
    l.optimizer_prefix = "/optimizer/";
  } else if (std::any_of(datasets.begin(), datasets.end(), [](const h5::DatasetInfo& d) {
               return starts_with(d.path, "/layers/") && d.path.find("/vars/") != std::string::npos;
             })) {  // a weights-only Keras 3 file: /layers/<name>/.../vars/<i>
    l.framework = Framework::keras3;
  } else if (root_has_attribute(file, "keras_version") || root_has_attribute(file, "layer_names") ||
             any_under(datasets, "/model_weights/")) {
    l.framework = Framework::keras2;
  } else if (caffe_layout(datasets)) {
    l.framework = Framework::caffe;
  }
  if (l.framework == Framework::keras3) keras3_gru_biases(datasets, l.positional_biases);
  if (l.framework == Framework::caffe) caffe_biases(datasets, l.positional_biases);
  return l;
}

const char* framework_name(Framework f) {
  switch (f) {
    case Framework::keras2: return "keras2";
    case Framework::keras3: return "keras3";
    case Framework::caffe: return "caffe";
    case Framework::generic: break;
  }
  return "generic";
}

std::string bias_reason(const FileLayout& layout, const std::string& path) {
  const auto p = layout.positional_biases.find(path);
  if (p != layout.positional_biases.end()) return p->second;
  // Keras names it `bias:0` (Keras 2) or `bias`; PyTorch state dicts `<module>.bias`.
  const std::string name = path.substr(path.rfind('/') + 1);
  const bool keras = name == "bias" || (name.size() > 5 && name.compare(0, 5, "bias:") == 0 &&
                                        std::all_of(name.begin() + 5, name.end(), [](char c) { return c >= '0' && c <= '9'; }));
  const bool torch = name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
  return keras || torch ? "bias (named " + name + "; --include takes it)" : "";
}

bool is_optimizer_state(const FileLayout& layout, const std::string& path) {
  return !layout.optimizer_prefix.empty() && starts_with(path, layout.optimizer_prefix);
}

int reduction_axis(const FileLayout& layout, std::size_t ndim) {
  if (ndim == 0) return -1;
  if (ndim == 1) return 0;
  const int n = static_cast<int>(ndim);
  switch (layout.framework) {
    case Framework::keras2:
    case Framework::keras3: return n - 2;
    case Framework::caffe:
    case Framework::generic: break;
  }
  return 1;  // (out, in, ...): Caffe, PyTorch Linear and Conv
}

int output_axis(const FileLayout& layout, std::size_t ndim) {
  if (ndim == 0) return -1;
  const bool keras = layout.framework == Framework::keras2 || layout.framework == Framework::keras3;
  return keras ? static_cast<int>(ndim) - 1 : 0;
}

}  // namespace h5p
