// Faithful copy of an HDF5 file: every group, link, attribute and dataset, with the
// caller writing the contents of the datasets it chooses (the pruned tensors).
#pragma once
#include <hdf5.h>

#include <cstdint>
#include <functional>
#include <string>

#include "formats/hdf5/handle.hpp"

namespace h5p::h5 {

struct CopyCallbacks {
  // True when the dataset at `path` is written by fill() instead of copied raw.
  std::function<bool(const std::string& path)> replaces;
  // Optional. Called before a dataset that is not replaced is copied, with its stored bytes
  // (for progress).
  std::function<void(const std::string& path, std::uint64_t bytes)> copying;
  // Fills the replacement dataset, created with the source's type, shape and creation
  // properties (chunking, filters, fill value) and with its attributes already copied.
  std::function<void(const std::string& path, hid_t in_dataset, hid_t out_dataset)> fill;
  // Optional. When set, an object (dataset or group) for which replaces(path) is true is not
  // re-created here: replace() creates the object that takes its place itself, linked as
  // `name` in out_group with the link creation properties lcpl (a sparse layout group for a
  // tensor, a dataset for a sparse layout group). fill() is then not called.
  std::function<void(const std::string& path, hid_t in_group, const std::string& name, hid_t out_group,
                     hid_t lcpl)>
      replace;
};

// Copies the attributes of src onto dst in src's iteration order (creation order when it is
// tracked, else name order), skipping those for which skip(name) is true. Errors name `path`
// and the input or output file.
void copy_attributes(hid_t src, hid_t dst, const std::string& path, const std::string& in_name,
                     const std::string& out_name, const std::function<bool(const std::string&)>& skip = {});

// Creates `path` (truncating) with the input's file-creation properties and object time
// tracking off, so that the same input and rule give the same bytes. With in_memory the file
// lives in memory only and is never written to `path` (the isolated metadata walk).
Handle create_output_file(const std::string& path, hid_t in_file, bool in_memory = false);

// HDF5 leaves a user block (e.g. MATLAB 7.3's header) zeroed; copy its bytes after closing.
void copy_userblock(const std::string& in_path, const std::string& out_path, hid_t in_file);

// Copies everything under the input's root, in a deterministic order, into out_file.
// Throws InputError for read failures and OutputError for write failures.
void copy_contents(hid_t in_file, hid_t out_file, const std::string& in_name, const std::string& out_name,
                   const CopyCallbacks& callbacks);

}  // namespace h5p::h5
