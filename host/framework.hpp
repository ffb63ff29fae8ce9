// Recognises how a framework laid out an HDF5 weights file (Keras 2, Keras 3, Caffe, or none
// known): which datasets are optimizer state, and each tensor's reduction (input) axis.
#pragma once
#include <hdf5.h>

#include <map>
#include <string>
#include <vector>

#include "formats/hdf5/file.hpp"

namespace h5p {

enum class Framework { generic, keras2, keras3, caffe };

struct FileLayout {
  Framework framework = Framework::generic;
  std::string optimizer_prefix;  // "/optimizer_weights/" (Keras 2), "/optimizer/" (Keras 3), "" (none)
  // Biases the layout names only by position (Keras 3 numbered vars/, Caffe blob 1), with
  // the reason stats shows; biases named `bias` are recognised by path (bias_reason).
  std::map<std::string, std::string> positional_biases;
};

// From the root attributes and the dataset paths (docs/RULES.md, "How h5prune reads a file").
FileLayout detect_layout(hid_t file, const std::vector<h5::DatasetInfo>& datasets);

const char* framework_name(Framework f);

// Why the dataset at `path` is a bias ("named bias", "keras3 GRU cell bias ..."), or "" when it
// is not one (docs/RULES.md, "Biases"). Biases are left out of the default selection.
std::string bias_reason(const FileLayout& layout, const std::string& path);

// Whether the dataset at `path` is optimizer state (Adam's m/v, RMSprop's velocities, ...).
bool is_optimizer_state(const FileLayout& layout, const std::string& path);

// The reduction (input) axis of a weight as its framework stores it: Keras (..., in, out) ->
// ndim - 2 (Dense (in, out): 0; Conv2D (kh, kw, cin, cout): 2); Caffe and any other file are
// read as (out, in, ...) (PyTorch Linear and Conv) -> 1, the last axis of a matrix.
// A tensor of rank < 2 has only axis 0 (or none: -1 for a scalar).
int reduction_axis(const FileLayout& layout, std::size_t ndim);

// The output axis (units, filters) of a weight as its framework stores it, the default axis of
// structured pruning: Keras (..., in, out) -> ndim - 1 (Dense columns, Conv filters); Caffe and
// any other file (out, in, ...) -> 0 (PyTorch Linear rows, Conv filters). -1 for a scalar.
int output_axis(const FileLayout& layout, std::size_t ndim);

}  // namespace h5p
