// Layout group reader: attribute checks, restoration properties, and dense streaming with
// a cursor over the stored entries (every layout stores them in position order).
#include "formats/sparse/reader.hpp"

#include "formats/hdf5/slabs.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "common/errors.hpp"
#include "formats/hdf5/file.hpp"

namespace h5p::sparse {
namespace {

[[noreturn]] void malformed(const std::string& file, const std::string& path, const std::string& why) {
  throw InputError("sparse tensor " + path + " in '" + file + "' is malformed: " + why);
}

bool has_attribute(hid_t obj, const char* name) { return H5Aexists(obj, name) > 0; }

std::string read_string_attr(hid_t obj, const char* name, const std::string& file, const std::string& path) {
  h5::Handle a = h5::attr_handle(H5Aopen(obj, name, H5P_DEFAULT));
  if (!a.valid()) malformed(file, path, std::string("no attribute ") + name);
  h5::Handle type = h5::type_handle(H5Aget_type(a));
  if (H5Tget_class(type) != H5T_STRING || H5Tis_variable_str(type) > 0)
    malformed(file, path, std::string("attribute ") + name + " is not a fixed-length string");
  std::string s(H5Tget_size(type), '\0');
  if (H5Aread(a, type, s.data()) < 0) malformed(file, path, std::string("cannot read attribute ") + name);
  s.resize(std::strlen(s.c_str()));
  return s;
}

std::vector<std::uint64_t> read_u64_attr(hid_t obj, const char* name, const std::string& file,
                                         const std::string& path) {
  h5::Handle a = h5::attr_handle(H5Aopen(obj, name, H5P_DEFAULT));
  if (!a.valid()) malformed(file, path, std::string("no attribute ") + name);
  h5::Handle space = h5::space_handle(H5Aget_space(a));
  const hssize_t n = H5Sget_simple_extent_npoints(space);
  std::vector<std::uint64_t> v(static_cast<std::size_t>(std::max<hssize_t>(n, 0)));
  if (n > 0 && H5Aread(a, H5T_NATIVE_UINT64, v.data()) < 0)
    malformed(file, path, std::string("cannot read attribute ") + name);
  return v;
}

std::vector<unsigned char> read_bytes_attr(hid_t obj, const char* name, const std::string& file,
                                           const std::string& path) {
  h5::Handle a = h5::attr_handle(H5Aopen(obj, name, H5P_DEFAULT));
  if (!a.valid()) malformed(file, path, std::string("no attribute ") + name);
  h5::Handle space = h5::space_handle(H5Aget_space(a));
  const hssize_t n = H5Sget_simple_extent_npoints(space);
  std::vector<unsigned char> v(static_cast<std::size_t>(std::max<hssize_t>(n, 0)));
  if (n > 0 && H5Aread(a, H5T_NATIVE_UINT8, v.data()) < 0)
    malformed(file, path, std::string("cannot read attribute ") + name);
  return v;
}

std::uint64_t dataset_length(hid_t group, const char* name, const std::string& file, const std::string& path) {
  h5::Handle d = h5::dataset_handle(H5Dopen2(group, name, H5P_DEFAULT));
  if (!d.valid()) malformed(file, path, std::string("no dataset '") + name + "'");
  h5::Handle space = h5::space_handle(H5Dget_space(d));
  if (H5Sget_simple_extent_ndims(space) != 1) malformed(file, path, std::string("'") + name + "' is not 1-D");
  hsize_t n = 0;
  H5Sget_simple_extent_dims(space, &n, nullptr);
  return n;
}

// Index arrays must hold integers: float indices would be truncated by the conversion on read.
void require_integer_dataset(hid_t group, const char* name, const std::string& file, const std::string& path) {
  h5::Handle d = h5::dataset_handle(H5Dopen2(group, name, H5P_DEFAULT));
  if (!d.valid()) malformed(file, path, std::string("no dataset '") + name + "'");
  h5::Handle t = h5::type_handle(H5Dget_type(d));
  if (!t.valid() || H5Tget_class(t) != H5T_INTEGER)
    malformed(file, path, std::string("'") + name + "' is not an integer dataset");
}

// numpy's spelling of an IEEE float type: "<f4", ">f8", ...
std::string numpy_spelling(hid_t type, DType dt) {
  return std::string(H5Tget_order(type) == H5T_ORDER_BE ? ">" : "<") + "f" + std::to_string(dtype_size(dt));
}

}  // namespace

bool is_layout_group(hid_t file, const std::string& path) {
  H5O_info_t info;
  if (H5Oget_info_by_name2(file, path.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT) < 0) return false;
  if (info.type != H5O_TYPE_GROUP) return false;
  return H5Aexists_by_name(file, path.c_str(), kFormatAttr, H5P_DEFAULT) > 0;
}

LayoutInfo read_layout(hid_t group, const std::string& file, const std::string& path) {
  LayoutInfo info;
  const std::string fmt = read_string_attr(group, kFormatAttr, file, path);
  const auto f = parse_format(fmt);
  if (!f || *f == Format::dense) malformed(file, path, "unknown format '" + fmt + "'");
  info.format = *f;
  const auto version = read_u64_attr(group, kVersionAttr, file, path);
  if (version.size() != 1 || version[0] != static_cast<std::uint64_t>(kLayoutVersion))
    malformed(file, path, "unsupported layout version");
  for (std::uint64_t d : read_u64_attr(group, kDenseShapeAttr, file, path)) info.shape.push_back(d);
  // Checked before anything is sized from it (a row pointer array, a slab plan).
  if (std::string why = h5::implausible_size(info.shape, 8); !why.empty()) malformed(file, path, "h5prune_dense_shape " + why);
  info.n = h5::element_count(info.shape);
  info.matrix = matrix_shape(info.shape);
  const auto nnz = read_u64_attr(group, kNnzAttr, file, path);
  if (nnz.size() != 1) malformed(file, path, "bad h5prune_nnz");
  info.nnz = nnz[0];
  if (has_attribute(group, kNmAttr)) {
    const auto nm = read_u64_attr(group, kNmAttr, file, path);
    if (nm.size() != 2 || nm[0] < 1 || nm[0] > nm[1] || nm[1] > 256) malformed(file, path, "bad h5prune_nm");
    info.nm_keep = static_cast<unsigned>(nm[0]);
    info.nm_group = static_cast<unsigned>(nm[1]);
  }
  h5::Handle type = original_type(group, file, path);
  const auto dt = h5::classify_float(type);
  if (!dt) malformed(file, path, "'data' is not an IEEE float dataset");
  info.dtype = *dt;
  {
    h5::Handle space = original_space(group, file, path);
    const int rank = H5Sget_simple_extent_ndims(space);
    std::vector<hsize_t> dims(rank > 0 ? static_cast<std::size_t>(rank) : 0);
    if (rank > 0) H5Sget_simple_extent_dims(space, dims.data(), nullptr);
    if (rank < 0 || dims != info.shape) malformed(file, path, "h5prune_dense_shape differs from the recorded dataspace");
  }
  // The descriptive attributes must agree with what the group stores (docs/FORMATS.md).
  if (const std::string d = read_string_attr(group, kDtypeAttr, file, path); d != numpy_spelling(type, info.dtype))
    malformed(file, path, "h5prune_dtype '" + d + "' differs from the type of 'data' (" + numpy_spelling(type, info.dtype) + ")");
  {
    const auto shape = read_u64_attr(group, kShapeAttr, file, path);
    const std::vector<std::uint64_t> expect =
        info.format == Format::csr ? std::vector<std::uint64_t>{info.matrix.rows, info.matrix.cols}
                                   : std::vector<std::uint64_t>(info.shape.begin(), info.shape.end());
    if (shape != expect) malformed(file, path, "attribute 'shape' differs from h5prune_dense_shape");
  }
  if (info.format == Format::nm || has_attribute(group, kNmAxisAttr)) {
    const auto axis = read_u64_attr(group, kNmAxisAttr, file, path);
    if (axis.size() != 1 || info.shape.empty() || axis[0] != info.shape.size() - 1)
      malformed(file, path, "h5prune_nm_axis must be the last axis (" +
                                std::to_string(info.shape.empty() ? 0 : info.shape.size() - 1) + ")");
  }
  if (info.format == Format::bitmask && read_string_attr(group, kBitOrderAttr, file, path) != "little")
    malformed(file, path, "h5prune_bit_order must be 'little'");
  if (dataset_length(group, "data", file, path) != info.nnz) malformed(file, path, "'data' length differs from h5prune_nnz");
  if (info.nnz > info.n) malformed(file, path, "more stored values than elements");
  switch (info.format) {
    case Format::csr:
      require_integer_dataset(group, "indices", file, path);
      require_integer_dataset(group, "indptr", file, path);
      if (dataset_length(group, "indices", file, path) != info.nnz) malformed(file, path, "'indices' length");
      if (dataset_length(group, "indptr", file, path) != info.matrix.rows + 1) malformed(file, path, "'indptr' length");
      // The row pointers are held whole: a weight matrix never has billions of rows.
      if (info.matrix.rows >= (std::uint64_t{1} << 27)) malformed(file, path, "more than 2^27 rows");
      break;
    case Format::coo:
      require_integer_dataset(group, "indices", file, path);
      if (dataset_length(group, "indices", file, path) != info.nnz) malformed(file, path, "'indices' length");
      break;
    case Format::bitmask:
      require_integer_dataset(group, "mask", file, path);
      if (dataset_length(group, "mask", file, path) != (info.n + 7) / 8) malformed(file, path, "'mask' length");
      break;
    case Format::nm:
      if (!info.nm_group || info.shape.empty() || info.shape.back() % info.nm_group != 0 ||
          info.nnz != info.n / info.nm_group * info.nm_keep)
        malformed(file, path, "N:M attributes do not match the shape");
      require_integer_dataset(group, "positions", file, path);
      if (dataset_length(group, "positions", file, path) != info.nnz) malformed(file, path, "'positions' length");
      break;
    case Format::dense: break;
  }
  return info;
}

h5::Handle original_type(hid_t group, const std::string& file, const std::string& path) {
  h5::Handle d = h5::dataset_handle(H5Dopen2(group, "data", H5P_DEFAULT));
  if (!d.valid()) malformed(file, path, "no dataset 'data'");
  h5::Handle t = h5::type_handle(H5Dget_type(d));
  if (!t.valid()) malformed(file, path, "cannot read the type of 'data'");
  return t;
}

h5::Handle original_space(hid_t group, const std::string& file, const std::string& path) {
  const auto bytes = read_bytes_attr(group, kSpaceAttr, file, path);
  h5::Handle s = h5::space_handle(H5Sdecode(bytes.data()));
  if (!s.valid()) malformed(file, path, "cannot decode h5prune_h5space");
  return s;
}

h5::Handle original_dcpl(hid_t group, const std::string& file, const std::string& path) {
  const auto bytes = read_bytes_attr(group, kDcplAttr, file, path);
  h5::Handle p = h5::plist_handle(H5Pdecode(bytes.data()));
  if (!p.valid()) malformed(file, path, "cannot decode h5prune_h5dcpl");
  return p;
}

DenseReader::DenseReader(hid_t group, const LayoutInfo& info, std::size_t buffer_entries, std::string file,
                         std::string path)
    : group_(group),
      info_(info),
      cap_(std::max<std::size_t>(1, buffer_entries)),
      file_(std::move(file)),
      path_(std::move(path)),
      esize_(dtype_size(info.dtype)) {
  if (info_.format == Format::csr) {
    indptr_.resize(info_.matrix.rows + 1);
    read_range("indptr", H5T_NATIVE_UINT64, 0, indptr_.size(), indptr_.data());
    if (indptr_.front() != 0 || indptr_.back() != info_.nnz || !std::is_sorted(indptr_.begin(), indptr_.end()))
      malformed(file_, path_, "'indptr' is not a row pointer array for h5prune_nnz values");
  }
}

void DenseReader::read_range(const char* dataset, hid_t mem_type, std::uint64_t offset, std::uint64_t count,
                             void* buf) {
  if (count == 0) return;
  h5::Handle d = h5::dataset_handle(H5Dopen2(group_, dataset, H5P_DEFAULT));
  h5::Handle fs = h5::space_handle(H5Dget_space(d));
  const hsize_t off = offset, n = count;
  H5Sselect_hyperslab(fs, H5S_SELECT_SET, &off, nullptr, &n, nullptr);
  h5::Handle ms = h5::space_handle(H5Screate_simple(1, &n, nullptr));
  if (!d.valid() || H5Dread(d, mem_type, ms, fs, H5P_DEFAULT, buf) < 0)
    throw InputError("cannot read " + path_ + "/" + dataset + " in '" + file_ + "': " + h5::last_library_error());
}

void DenseReader::refill() {
  buf_begin_ = cursor_;
  const std::uint64_t count = std::min<std::uint64_t>(cap_, info_.nnz - cursor_);
  buf_end_ = cursor_ + count;
  values_.resize(count * esize_);
  read_range("data", h5::memory_type(info_.dtype), cursor_, count, values_.data());
  if (info_.format == Format::bitmask) return;
  index_.resize(count);
  read_range(info_.format == Format::nm ? "positions" : "indices", H5T_NATIVE_UINT64, cursor_, count, index_.data());
}

std::uint64_t DenseReader::position(std::uint64_t e) {
  const std::uint64_t idx = index_[e - buf_begin_];
  switch (info_.format) {
    case Format::coo: return idx;
    case Format::csr:
      while (row_ < info_.matrix.rows && indptr_[row_ + 1] <= e) ++row_;
      if (idx >= info_.matrix.cols) malformed(file_, path_, "column index out of range");
      return row_ * info_.matrix.cols + idx;
    case Format::nm:
      if (idx >= info_.nm_group) malformed(file_, path_, "N:M position out of range");
      return e / info_.nm_keep * info_.nm_group + idx;
    default: return idx;
  }
}

void DenseReader::read(std::uint64_t begin, std::size_t n, void* out) {
  if (begin != next_ || begin + n > info_.n) throw std::logic_error("DenseReader::read out of order");
  auto* dst = static_cast<unsigned char*>(out);
  std::memset(dst, 0, n * esize_);
  const std::uint64_t end = begin + n;
  if (info_.format == Format::bitmask) {
    const std::uint64_t b0 = begin / 8, b1 = (end + 7) / 8;
    std::vector<std::uint8_t> mask(b1 - b0);
    read_range("mask", H5T_NATIVE_UINT8, b0, mask.size(), mask.data());
    for (std::uint64_t pos = begin; pos < end; ++pos) {
      if (!((mask[pos / 8 - b0] >> (pos % 8)) & 1u)) continue;
      if (cursor_ >= info_.nnz) malformed(file_, path_, "more mask bits set than stored values");
      if (cursor_ >= buf_end_) refill();
      std::memcpy(dst + (pos - begin) * esize_, values_.data() + (cursor_ - buf_begin_) * esize_, esize_);
      ++cursor_;
    }
  } else {
    while (cursor_ < info_.nnz) {
      if (cursor_ >= buf_end_) refill();
      const std::uint64_t pos = position(cursor_);
      if (pos >= end) break;
      if (pos < begin || (last_pos_ != kNone && pos <= last_pos_))
        malformed(file_, path_, "stored positions are not strictly increasing");
      std::memcpy(dst + (pos - begin) * esize_, values_.data() + (cursor_ - buf_begin_) * esize_, esize_);
      last_pos_ = pos;
      ++cursor_;
    }
  }
  next_ = end;
  if (next_ == info_.n && cursor_ != info_.nnz) malformed(file_, path_, "stored values beyond the tensor");
}

}  // namespace h5p::sparse
