// Layout group writer: chunk-staged appends, deterministic properties (no timestamps).
#include "formats/sparse/writer.hpp"

#include <algorithm>
#include <cstring>

#include "common/errors.hpp"
#include "formats/hdf5/file.hpp"
#include "formats/sparse/layout.hpp"

namespace h5p::sparse {

void LayoutWriter::fail(const std::string& what) const {
  throw OutputError("cannot " + what + " for tensor " + path_ + " in '" + out_file_ + "': " + h5::last_library_error());
}

LayoutWriter::LayoutWriter(hid_t parent, const std::string& name, hid_t lcpl, hid_t source_dataset, bool compress,
                           std::string out_file, std::string path)
    : compress_(compress), out_file_(std::move(out_file)), path_(std::move(path)) {
  h5::Handle gcpl = h5::plist_handle(H5Pcreate(H5P_GROUP_CREATE));
  H5Pset_obj_track_times(gcpl, false);
  h5::Handle dcpl = h5::plist_handle(H5Dget_create_plist(source_dataset));
  unsigned order = 0;
  if (dcpl.valid() && H5Pget_attr_creation_order(dcpl, &order) >= 0 && order != 0)
    H5Pset_attr_creation_order(gcpl, order);
  group_ = h5::group_handle(H5Gcreate2(parent, name.c_str(), lcpl, gcpl, H5P_DEFAULT));
  if (!group_.valid()) fail("create the layout group");
}

void LayoutWriter::create(const std::string& name, hid_t file_type, std::uint64_t size) {
  Column c;
  c.size = size;
  const hsize_t dims = size;
  h5::Handle space = h5::space_handle(H5Screate_simple(1, &dims, nullptr));
  h5::Handle dcpl = h5::plist_handle(H5Pcreate(H5P_DATASET_CREATE));
  H5Pset_obj_track_times(dcpl, false);
  if (compress_) {
    const hsize_t chunk = std::max<hsize_t>(1, std::min<hsize_t>(size, kChunkElements));
    H5Pset_chunk(dcpl, 1, &chunk);
    H5Pset_shuffle(dcpl);
    H5Pset_deflate(dcpl, 4);
    c.stage_cap = chunk;
  } else {
    c.stage_cap = kChunkElements;
  }
  h5::Handle type = h5::type_handle(H5Tcopy(file_type));
  c.dataset = h5::dataset_handle(H5Dcreate2(group_, name.c_str(), type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT));
  if (!c.dataset.valid()) fail("create dataset '" + name + "'");
  columns_[name] = std::move(c);
}

void LayoutWriter::flush(const std::string& name, Column& c) {
  const std::uint64_t count = c.mem_size ? c.stage.size() / c.mem_size : 0;
  if (count == 0) return;
  if (c.written + count > c.size) throw OutputError("internal: more values than planned for " + path_ + "/" + name);
  const hsize_t offset = c.written, n = count;
  h5::Handle file_space = h5::space_handle(H5Dget_space(c.dataset));
  H5Sselect_hyperslab(file_space, H5S_SELECT_SET, &offset, nullptr, &n, nullptr);
  h5::Handle mem_space = h5::space_handle(H5Screate_simple(1, &n, nullptr));
  if (H5Dwrite(c.dataset, c.mem_type, mem_space, file_space, H5P_DEFAULT, c.stage.data()) < 0)
    fail("write dataset '" + name + "'");
  c.written += count;
  c.stage.clear();
}

void LayoutWriter::append(const std::string& name, hid_t mem_type, const void* data, std::uint64_t count) {
  Column& c = columns_.at(name);
  if (c.mem_size == 0) {
    c.mem_type = mem_type;
    c.mem_size = H5Tget_size(mem_type);
    c.stage.reserve(c.stage_cap * c.mem_size);
  }
  auto* p = static_cast<const unsigned char*>(data);
  while (count > 0) {
    const std::uint64_t room = c.stage_cap - c.stage.size() / c.mem_size;
    const std::uint64_t take = std::min(room, count);
    c.stage.insert(c.stage.end(), p, p + take * c.mem_size);
    p += take * c.mem_size;
    count -= take;
    if (c.stage.size() / c.mem_size == c.stage_cap) flush(name, c);
  }
}

void LayoutWriter::finish() {
  for (auto& [name, c] : columns_) {
    flush(name, c);
    if (c.written != c.size)
      throw OutputError("internal: " + std::to_string(c.written) + " of " + std::to_string(c.size) +
                        " values written for " + path_ + "/" + name);
  }
}

std::uint64_t LayoutWriter::storage_bytes() const {
  std::uint64_t total = 0;
  for (const auto& [name, c] : columns_) total += H5Dget_storage_size(c.dataset);
  return total;
}

void LayoutWriter::attribute_string(const std::string& name, const std::string& value) {
  h5::Handle type = h5::type_handle(H5Tcopy(H5T_C_S1));
  H5Tset_size(type, std::max<std::size_t>(1, value.size()));
  H5Tset_strpad(type, H5T_STR_NULLPAD);
  h5::Handle space = h5::space_handle(H5Screate(H5S_SCALAR));
  h5::Handle a = h5::attr_handle(H5Acreate2(group_, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT));
  std::string buf = value.empty() ? std::string(1, '\0') : value;
  if (!a.valid() || H5Awrite(a, type, buf.data()) < 0) fail("write attribute '" + name + "'");
}

void LayoutWriter::attribute_u64s(const std::string& name, const std::vector<std::uint64_t>& values) {
  const hsize_t n = values.size();
  h5::Handle space = h5::space_handle(H5Screate_simple(1, &n, nullptr));
  h5::Handle a = h5::attr_handle(H5Acreate2(group_, name.c_str(), H5T_STD_U64LE, space, H5P_DEFAULT, H5P_DEFAULT));
  if (!a.valid() || H5Awrite(a, H5T_NATIVE_UINT64, values.data()) < 0) fail("write attribute '" + name + "'");
}

void LayoutWriter::attribute_bytes(const std::string& name, const std::vector<unsigned char>& bytes) {
  const hsize_t n = bytes.size();
  h5::Handle space = h5::space_handle(H5Screate_simple(1, &n, nullptr));
  h5::Handle a = h5::attr_handle(H5Acreate2(group_, name.c_str(), H5T_STD_U8LE, space, H5P_DEFAULT, H5P_DEFAULT));
  if (!a.valid() || H5Awrite(a, H5T_NATIVE_UINT8, bytes.data()) < 0) fail("write attribute '" + name + "'");
}

void LayoutWriter::record_source(hid_t source_dataset) {
  h5::Handle space = h5::space_handle(H5Dget_space(source_dataset));
  h5::Handle dcpl = h5::plist_handle(H5Dget_create_plist(source_dataset));
  if (!space.valid() || !dcpl.valid()) fail("read the source dataset's properties");
  std::size_t size = 0;
  if (H5Sencode(space, nullptr, &size) < 0) fail("encode the dataspace");
  std::vector<unsigned char> buf(size);
  if (H5Sencode(space, buf.data(), &size) < 0) fail("encode the dataspace");
  attribute_bytes(kSpaceAttr, buf);
  size = 0;
  if (H5Pencode(dcpl, nullptr, &size) < 0) fail("encode the dataset creation properties");
  buf.assign(size, 0);
  if (H5Pencode(dcpl, buf.data(), &size) < 0) fail("encode the dataset creation properties");
  attribute_bytes(kDcplAttr, buf);
}

}  // namespace h5p::sparse
