// The isolated check's walk (see metadata_walk.hpp): the faithful copy walker into a file in
// memory, with large datasets reduced to their headers, attributes and chunk index.
#include "formats/hdf5/metadata_walk.hpp"

#include <hdf5.h>

#include <cstdint>
#include <cstdio>

#include "common/errors.hpp"
#include "formats/hdf5/copy.hpp"
#include "formats/hdf5/file.hpp"

namespace h5p::h5 {
namespace {

// Datasets up to this many bytes (declared and stored) are copied with their data, until the
// walk has copied kCopyBudget in all; beyond that only their metadata is walked. Small data is
// where libhdf5's variable-length and reference conversions run; bulk float data is not metadata.
constexpr std::uint64_t kSmallDataset = 1u << 20;
constexpr std::uint64_t kCopyBudget = 64u << 20;

// Bytes a dataset declares or stores, whichever is larger; UINT64_MAX when it cannot be read.
std::uint64_t dataset_bytes(hid_t dataset) {
  Handle space = space_handle(H5Dget_space(dataset));
  Handle type = type_handle(H5Dget_type(dataset));
  if (!space.valid() || !type.valid()) return UINT64_MAX;
  const hssize_t n = H5Sget_simple_extent_npoints(space);
  const std::size_t esize = H5Tget_size(type);
  if (n < 0 || esize == 0) return UINT64_MAX;
  const long double declared = static_cast<long double>(n) * static_cast<long double>(esize);
  if (declared > static_cast<long double>(UINT64_MAX / 2)) return UINT64_MAX;
  const std::uint64_t stored = H5Dget_storage_size(dataset);
  return std::max(static_cast<std::uint64_t>(declared), stored);
}

// A large dataset's stand-in: its type, space and creation properties read, its chunk index
// walked, its attributes copied onto an empty group of the same name.
void walk_large_dataset(hid_t in_group, const std::string& name, hid_t out_group, hid_t lcpl,
                        const std::string& path, const std::string& file) {
  Handle d = dataset_handle(H5Dopen2(in_group, name.c_str(), H5P_DEFAULT));
  if (!d.valid()) throw InputError("cannot open dataset " + path + " in '" + file + "': " + last_library_error());
  Handle space = space_handle(H5Dget_space(d));
  Handle type = type_handle(H5Dget_type(d));
  Handle dcpl = plist_handle(H5Dget_create_plist(d));
  if (!space.valid() || !type.valid() || !dcpl.valid())
    throw InputError("cannot read dataset " + path + " in '" + file + "': " + last_library_error());
  require_storage_inside(dcpl, path, file);
  if (H5Pget_layout(dcpl) == H5D_CHUNKED) {
    hsize_t chunks = 0;
    if (H5Dget_num_chunks(d, space, &chunks) < 0)
      throw InputError("cannot list the chunks of " + path + " in '" + file + "': " + last_library_error());
  }
  Handle stand_in = group_handle(H5Gcreate2(out_group, name.c_str(), lcpl, H5P_DEFAULT, H5P_DEFAULT));
  if (!stand_in.valid()) throw InputError("cannot walk " + path + " in '" + file + "'");
  copy_attributes(d, stand_in, path, file, "(memory)");
}

}  // namespace

void walk_metadata(const std::string& path) {
  Handle file = open_input(path);
  // Each command meets the file in its own order (prune lists its datasets first, densify
  // copies at once): an error in one stage must not spare the walk of the next.
  try {
    list_datasets(file);
  } catch (const Error& e) {
    std::fprintf(stderr, "walk: %s\n", e.what());  // /dev/null in a check process; seen when run by hand
  }
  // Held in memory only: nothing is written to this name.
  Handle scratch = create_output_file(path + ".h5prune-check-in-memory", file, /*in_memory=*/true);
  std::uint64_t copied = 0;
  CopyCallbacks walk;
  walk.replaces = [&](const std::string& object) {
    H5O_info_t info;
    if (H5Oget_info_by_name2(file, object.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT) < 0 ||
        info.type != H5O_TYPE_DATASET)
      return false;  // groups are walked (and read errors reported) by the copy itself
    Handle d = dataset_handle(H5Dopen2(file, object.c_str(), H5P_DEFAULT));
    const std::uint64_t bytes = d.valid() ? dataset_bytes(d) : UINT64_MAX;
    if (bytes <= kSmallDataset && copied + bytes <= kCopyBudget) {
      copied += bytes;
      return false;
    }
    return true;
  };
  walk.replace = [&](const std::string& object, hid_t in_group, const std::string& name, hid_t out_group,
                     hid_t lcpl) { walk_large_dataset(in_group, name, out_group, lcpl, object, path); };
  walk.fill = [](const std::string&, hid_t, hid_t) {};
  copy_contents(file, scratch, path, "(memory)", walk);
}

}  // namespace h5p::h5
