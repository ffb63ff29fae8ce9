// Framework layouts: Keras 2 full models keep optimizer state under /optimizer_weights,
// Keras 3 .weights.h5 files under /optimizer (beside /layers), Caffe snapshots store blobs as
// /data/<layer>/<index>. Everything else is read as generic (PyTorch-style axes).
#include "host/framework.hpp"

#include <algorithm>

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

}  // namespace

FileLayout detect_layout(hid_t file, const std::vector<h5::DatasetInfo>& datasets) {
  FileLayout l;
  if (any_under(datasets, "/optimizer_weights/")) {
    l.framework = Framework::keras2;
    l.optimizer_prefix = "/optimizer_weights/";
  } else if (any_under(datasets, "/optimizer/vars/") || (any_under(datasets, "/optimizer/") && any_under(datasets, "/layers/"))) {
    l.framework = Framework::keras3;
    l.optimizer_prefix = "/optimizer/";
  } else if (any_under(datasets, "/layers/") && any_under(datasets, "/vars/")) {
    l.framework = Framework::keras3;
  } else if (root_has_attribute(file, "keras_version") || root_has_attribute(file, "layer_names") ||
             any_under(datasets, "/model_weights/")) {
    l.framework = Framework::keras2;
  } else if (caffe_layout(datasets)) {
    l.framework = Framework::caffe;
  }
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

}  // namespace h5p
