// Layout names and index dtype choice for the sparse HDF5 layouts.
#include "formats/sparse/layout.hpp"

namespace h5p::sparse {

std::optional<Format> parse_format(const std::string& text) {
  if (text == "dense") return Format::dense;
  if (text == "csr") return Format::csr;
  if (text == "coo") return Format::coo;
  if (text == "bitmask") return Format::bitmask;
  if (text == "nm") return Format::nm;
  return std::nullopt;
}

const char* format_name(Format f) {
  switch (f) {
    case Format::dense: return "dense";
    case Format::csr: return "csr";
    case Format::coo: return "coo";
    case Format::bitmask: return "bitmask";
    case Format::nm: return "nm";
  }
  return "dense";
}

bool is_layout_attribute(const std::string& name) {
  return name == kShapeAttr || name.rfind("h5prune_", 0) == 0;
}

IndexType unsigned_index_type(std::uint64_t max_value, std::uint64_t limit32) {
  if (max_value <= 0xFFu) return IndexType::u8;
  if (max_value <= 0xFFFFu) return IndexType::u16;
  if (max_value <= 0xFFFFFFFFull && max_value <= limit32) return IndexType::u32;
  return IndexType::u64;
}

IndexType row_pointer_type(std::uint64_t nnz, std::uint64_t limit32) {
  return nnz <= 0x7FFFFFFFull && nnz <= limit32 ? IndexType::i32 : IndexType::i64;
}

hid_t index_file_type(IndexType t) {
  switch (t) {
    case IndexType::u8: return H5T_STD_U8LE;
    case IndexType::u16: return H5T_STD_U16LE;
    case IndexType::u32: return H5T_STD_U32LE;
    case IndexType::u64: return H5T_STD_U64LE;
    case IndexType::i32: return H5T_STD_I32LE;
    case IndexType::i64: return H5T_STD_I64LE;
  }
  return H5T_STD_U64LE;
}

std::size_t index_size(IndexType t) {
  switch (t) {
    case IndexType::u8: return 1;
    case IndexType::u16: return 2;
    case IndexType::u32:
    case IndexType::i32: return 4;
    default: return 8;
  }
}

MatrixShape matrix_shape(const std::vector<hsize_t>& shape) {
  MatrixShape m;
  if (shape.empty()) return m;
  m.rows = shape[0];
  for (std::size_t i = 1; i < shape.size(); ++i) m.cols *= shape[i];
  return m;
}

}  // namespace h5p::sparse
