// Faithful copy of an HDF5 file: every group, link, attribute and dataset, with the
// caller writing the contents of the datasets it chooses (the pruned tensors).
#pragma once
#include <hdf5.h>

#include <functional>
#include <string>

#include "formats/hdf5/handle.hpp"

namespace h5p::h5 {

struct CopyCallbacks {
  // True when the dataset at `path` is written by fill() instead of copied raw.
  std::function<bool(const std::string& path)> replaces;
  // Fills the replacement dataset, created with the source's type, shape and creation
  // properties (chunking, filters, fill value) and with its attributes already copied.
  std::function<void(const std::string& path, hid_t in_dataset, hid_t out_dataset)> fill;
};

// Creates `path` (truncating) with the input's file-creation properties and object time
// tracking off, so that the same input and rule give the same bytes.
Handle create_output_file(const std::string& path, hid_t in_file);

// Copies everything under the input's root, in a deterministic order, into out_file.
// Throws InputError for read failures and OutputError for write failures.
void copy_contents(hid_t in_file, hid_t out_file, const std::string& in_name, const std::string& out_name,
                   const CopyCallbacks& callbacks);

}  // namespace h5p::h5
