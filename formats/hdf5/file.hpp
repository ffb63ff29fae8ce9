// HDF5 file access for h5prune: opening inputs with clear errors, listing datasets,
// recognising float tensors, filter availability, and slab reads and writes.
#pragma once
#include <hdf5.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "formats/hdf5/handle.hpp"
#include "formats/hdf5/slabs.hpp"
#include "kernels/dtype.hpp"

namespace h5p::h5 {

// Turns off HDF5's automatic error-stack printing; h5prune reports one line itself.
void silence_library_errors();

// Whether this HDF5 serialises calls from several threads (Debian's build does).
bool library_is_threadsafe();

// The POSIX descriptor HDF5 holds for an open file (its default sec2 driver); -1 for others.
int posix_descriptor(hid_t file);

// Size and modification time of an open file, read through HDF5's descriptor: what tells that
// another process wrote to it while a run was reading it. Empty when there is no descriptor.
struct FileStamp {
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  bool operator==(const FileStamp&) const = default;
};
std::optional<FileStamp> file_stamp(hid_t file);

// Throws InputError ("input 'NAME' changed while it was being DOING (...); OUTCOME") when the
// open file's stamp is no longer `at_open`: passes over a file another process wrote to
// meanwhile may each have read different weights. Nothing is checked when either stamp is missing.
void require_unchanged(hid_t file, const std::optional<FileStamp>& at_open, const std::string& name,
                       const std::string& doing, const std::string& outcome);

// The innermost message on HDF5's current error stack ("" when empty).
std::string last_library_error();

// Opens an existing file read-only; throws InputError naming the file.
Handle open_input(const std::string& path);

struct DatasetInfo {
  std::string path;                // "/group/name"
  std::vector<hsize_t> shape;      // empty for a scalar
  std::optional<DType> float_type;  // set for IEEE float16/32/64 in any byte order
  std::string type_name;           // "float32", "int64", "string", ...
};

// Every dataset reachable by hard links, once each, sorted by path bytes.
std::vector<DatasetInfo> list_datasets(hid_t file);

// The IEEE float type this datatype holds, if any.
std::optional<DType> classify_float(hid_t type);

// The in-memory type used to read and write a tensor of this dtype (native byte order).
hid_t memory_type(DType t);

// "name (id N)" of the first filter in the pipeline that cannot decode or encode here.
std::optional<std::string> unusable_filter(hid_t dcpl);

// Why a dataset with these creation properties keeps its data outside the file (external raw
// storage, a virtual dataset), or nullopt. Reading such a dataset reads other files, and
// re-creating it in an output would write into them, so h5prune refuses it.
std::optional<std::string> storage_outside_file(hid_t dcpl);

// Throws InputError naming the dataset and the file when storage_outside_file says why.
void require_storage_inside(hid_t dcpl, const std::string& path, const std::string& file);

// Throws InputError naming the dataset and the file when its filters cannot be decoded here
// (e.g. LZF or Blosc chunks written through h5py plugins).
void require_decodable(hid_t dataset, const std::string& path, const std::string& file);

// Read and write one slab of a dataset; errors name the file and the dataset.
void read_slab(hid_t dataset, hid_t mem_type, const Slab& slab, void* buffer,
               const std::string& file, const std::string& path);
void write_slab(hid_t dataset, hid_t mem_type, const Slab& slab, const void* buffer,
                const std::string& file, const std::string& path);

}  // namespace h5p::h5
