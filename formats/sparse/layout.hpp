// The HDF5 layouts of compacted tensors (docs/FORMATS.md): names, attribute keys and index
// dtypes shared by the writer and the reader. A compacted tensor is a group in the place of
// the dataset it replaces.
#pragma once
#include <hdf5.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace h5p::sparse {

enum class Format { dense, csr, coo, bitmask, nm };

std::optional<Format> parse_format(const std::string& text);
const char* format_name(Format f);

// Attributes every layout group carries (besides the source dataset's own attributes).
inline constexpr const char* kFormatAttr = "h5prune_format";          // "csr", "coo", "bitmask", "nm"
inline constexpr const char* kVersionAttr = "h5prune_layout_version"; // 1
inline constexpr const char* kShapeAttr = "shape";                    // csr: (rows, cols); others: dense shape
inline constexpr const char* kDenseShapeAttr = "h5prune_dense_shape"; // the dataset's shape
inline constexpr const char* kDtypeAttr = "h5prune_dtype";            // numpy spelling: "<f4", ">f8", "<f2"
inline constexpr const char* kNnzAttr = "h5prune_nnz";                // stored values
inline constexpr const char* kSpaceAttr = "h5prune_h5space";          // H5Sencode of the dataspace
inline constexpr const char* kDcplAttr = "h5prune_h5dcpl";            // H5Pencode of the creation properties
inline constexpr const char* kNmAttr = "h5prune_nm";                  // (N, M) when the rule was --nm N:M
inline constexpr const char* kNmAxisAttr = "h5prune_nm_axis";         // nm: the grouped axis (last)
inline constexpr const char* kBitOrderAttr = "h5prune_bit_order";     // bitmask: "little"
constexpr int kLayoutVersion = 1;

// True for the attribute names above: they describe the layout, not the original dataset.
bool is_layout_attribute(const std::string& name);

// Index dtypes: unsigned ones for column / flat / in-group indices, signed ones (as scipy
// uses) for CSR row pointers.
enum class IndexType { u8, u16, u32, u64, i32, i64 };

// Largest value a 32-bit index may hold is min(its range, limit32): tests lower limit32 to
// exercise the 64-bit fallback on small tensors.
constexpr std::uint64_t kNoLimit = ~0ull;
IndexType unsigned_index_type(std::uint64_t max_value, std::uint64_t limit32 = kNoLimit);
IndexType row_pointer_type(std::uint64_t nnz, std::uint64_t limit32 = kNoLimit);
hid_t index_file_type(IndexType t);  // little-endian standard types
std::size_t index_size(IndexType t);

// CSR's matrix view: rows = first axis, cols = the remaining axes flattened (a scalar is 1 x 1).
struct MatrixShape {
  std::uint64_t rows = 1;
  std::uint64_t cols = 1;
};
MatrixShape matrix_shape(const std::vector<hsize_t>& shape);

}  // namespace h5p::sparse
