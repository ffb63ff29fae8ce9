// Writes one layout group: creates the group in the place of a dataset, its 1-D datasets
// (contiguous, or chunked with shuffle + deflate), appends their contents in order and sets
// the layout attributes. Appends are staged into whole chunks, so the bytes written do not
// depend on how the caller splits its appends.
#pragma once
#include <hdf5.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "formats/hdf5/handle.hpp"

namespace h5p::sparse {

class LayoutWriter {
 public:
  // Creates group `name` in parent with link creation properties lcpl; the group tracks
  // attribute creation order when source_dataset does (so the copied attributes keep their
  // order). out_file and path name the file and tensor in error messages.
  LayoutWriter(hid_t parent, const std::string& name, hid_t lcpl, hid_t source_dataset, bool compress,
               std::string out_file, std::string path);
  LayoutWriter(const LayoutWriter&) = delete;
  LayoutWriter& operator=(const LayoutWriter&) = delete;

  hid_t group() const { return group_; }

  // A 1-D dataset of `size` elements of file_type (copied).
  void create(const std::string& name, hid_t file_type, std::uint64_t size);
  // Appends count elements given in mem_type (converted to the file type by HDF5).
  void append(const std::string& name, hid_t mem_type, const void* data, std::uint64_t count);
  // Writes what is staged; throws OutputError when a dataset did not get exactly its size.
  void finish();
  // Bytes the datasets take in the file (after finish()).
  std::uint64_t storage_bytes() const;

  void attribute_string(const std::string& name, const std::string& value);
  void attribute_u64s(const std::string& name, const std::vector<std::uint64_t>& values);
  void attribute_bytes(const std::string& name, const std::vector<unsigned char>& bytes);

  // The source's dataspace and creation properties, encoded (kSpaceAttr, kDcplAttr).
  void record_source(hid_t source_dataset);

 private:
  struct Column {
    h5::Handle dataset;
    std::uint64_t size = 0;
    std::uint64_t written = 0;   // elements flushed to the file
    std::uint64_t stage_cap = 0;  // elements per write (the chunk size when chunked)
    hid_t mem_type = H5I_INVALID_HID;
    std::size_t mem_size = 0;
    std::vector<unsigned char> stage;
  };
  void flush(const std::string& name, Column& c);
  [[noreturn]] void fail(const std::string& what) const;

  h5::Handle group_;
  bool compress_;
  std::string out_file_;
  std::string path_;
  std::map<std::string, Column> columns_;
};

// Chunk length of the compressed 1-D datasets (elements).
constexpr std::uint64_t kChunkElements = 1u << 16;

}  // namespace h5p::sparse
