// Reads a layout group back: its description, the restoration properties of the original
// dataset, and the dense tensor streamed in position order with bounded buffers.
#pragma once
#include <hdf5.h>

#include <cstdint>
#include <string>
#include <vector>

#include "formats/hdf5/handle.hpp"
#include "formats/sparse/layout.hpp"
#include "kernels/dtype.hpp"

namespace h5p::sparse {

// True when the object at `path` is a group carrying kFormatAttr.
bool is_layout_group(hid_t file, const std::string& path);

struct LayoutInfo {
  Format format = Format::csr;
  std::vector<hsize_t> shape;  // the dense shape
  DType dtype = DType::f32;
  std::uint64_t n = 0;
  std::uint64_t nnz = 0;
  unsigned nm_keep = 0, nm_group = 0;  // set when the rule was --nm N:M
  MatrixShape matrix;
};

// Reads and checks the layout attributes; InputError naming file and path when malformed.
LayoutInfo read_layout(hid_t group, const std::string& file, const std::string& path);

// The original dataset's file datatype, dataspace and creation properties.
h5::Handle original_type(hid_t group, const std::string& file, const std::string& path);
h5::Handle original_space(hid_t group, const std::string& file, const std::string& path);
h5::Handle original_dcpl(hid_t group, const std::string& file, const std::string& path);

// Streams the dense tensor: read() must be called for consecutive ranges from position 0.
class DenseReader {
 public:
  // buffer_entries bounds how many stored values (and indices) are held at once.
  DenseReader(hid_t group, const LayoutInfo& info, std::size_t buffer_entries, std::string file, std::string path);
  // Writes elements [begin, begin + n) of the dense tensor (native byte order) to out.
  void read(std::uint64_t begin, std::size_t n, void* out);

 private:
  void refill();                        // loads the entries from cursor_ on
  std::uint64_t position(std::uint64_t e);  // flat position of stored entry e (buffered)
  void read_range(const char* dataset, hid_t mem_type, std::uint64_t offset, std::uint64_t count, void* buf);

  hid_t group_;
  LayoutInfo info_;
  std::size_t cap_;
  std::string file_, path_;
  std::size_t esize_;
  std::uint64_t next_ = 0;    // the next dense position expected
  std::uint64_t cursor_ = 0;  // next stored entry to place
  std::uint64_t buf_begin_ = 0, buf_end_ = 0;  // stored entries held in values_/index_
  std::vector<unsigned char> values_;
  std::vector<std::uint64_t> index_;
  std::vector<std::uint64_t> indptr_;  // csr: the whole row pointer array
  std::uint64_t row_ = 0;              // csr: row of the entry at cursor_
  static constexpr std::uint64_t kNone = ~0ull;
  std::uint64_t last_pos_ = kNone;     // position of the last entry placed
};

}  // namespace h5p::sparse
