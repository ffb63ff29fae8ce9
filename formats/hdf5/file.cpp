// HDF5 file access: open with clear errors, walk datasets, classify floats, slab I/O.
#include "formats/hdf5/file.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "common/errors.hpp"

namespace h5p::h5 {

void silence_library_errors() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

bool library_is_threadsafe() {
  hbool_t safe = false;
  return H5is_library_threadsafe(&safe) >= 0 && safe;
}

int posix_descriptor(hid_t file) {
  Handle fapl = plist_handle(H5Fget_access_plist(file));
  if (!fapl.valid() || H5Pget_driver(fapl) != H5FD_SEC2) return -1;
  void* handle = nullptr;
  if (H5Fget_vfd_handle(file, fapl, &handle) < 0 || handle == nullptr) return -1;
  return *static_cast<int*>(handle);
}

std::optional<FileStamp> file_stamp(hid_t file) {
  struct stat st {};
  const int fd = posix_descriptor(file);
  if (fd < 0 || fstat(fd, &st) != 0) return std::nullopt;
  return FileStamp{static_cast<std::uint64_t>(st.st_size),
                   static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
}

void require_unchanged(hid_t file, const std::optional<FileStamp>& at_open, const std::string& name,
                       const std::string& doing, const std::string& outcome) {
  const std::optional<FileStamp> now = file_stamp(file);
  if (at_open && now && *now != *at_open)
    throw InputError("input '" + name + "' changed while it was being " + doing +
                     " (its size or modification time moved); " + outcome);
}

std::string last_library_error() {
  std::string msg;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_DOWNWARD,
      [](unsigned, const H5E_error2_t* e, void* out) -> herr_t {
        if (e->desc && *e->desc) *static_cast<std::string*>(out) = e->desc;
        return 0;
      },
      &msg);
  // Low-level I/O errors carry "..., error message = 'File too large', ..." over several
  // lines; keep the system's message, and never more than one line.
  const std::string tag = "error message = '";
  if (const auto at = msg.find(tag); at != std::string::npos) {
    const auto end = msg.find('\'', at + tag.size());
    msg = msg.substr(0, msg.find(':')) + ": " + msg.substr(at + tag.size(), end - at - tag.size());
  }
  if (const auto nl = msg.find('\n'); nl != std::string::npos) msg.resize(nl);
  return msg;
}

Handle open_input(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0)
    throw InputError("cannot open '" + path + "': " + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) throw InputError("cannot open '" + path + "': is a directory");
  // A FIFO would block the open forever, a device could be read without end.
  if (!S_ISREG(st.st_mode)) throw InputError("cannot open '" + path + "': not a regular file (a FIFO, socket or device)");
  {
    std::ifstream probe(path, std::ios::binary);
    if (!probe) throw InputError("cannot open '" + path + "': " + std::strerror(errno));
  }
  htri_t is_h5 = H5Fis_hdf5(path.c_str());
  if (is_h5 <= 0) throw InputError("'" + path + "' is not an HDF5 file");
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) {
    std::string why = last_library_error();
    throw InputError("cannot open HDF5 file '" + path + "' (truncated or damaged" +
                     (why.empty() ? "" : ": " + why) + ")");
  }
  return file_handle(f);
}

std::optional<DType> classify_float(hid_t type) {
  if (H5Tget_class(type) != H5T_FLOAT) return std::nullopt;
  size_t spos = 0, epos = 0, esize = 0, mpos = 0, msize = 0;
  if (H5Tget_fields(type, &spos, &epos, &esize, &mpos, &msize) < 0) return std::nullopt;
  const size_t size = H5Tget_size(type);
  const size_t ebias = H5Tget_ebias(type);
  // Every bit used, no padding, the implied leading 1 and a plain byte order: anything else
  // (a precision that exceeds the size, say) sends HDF5's float conversion out of its buffers.
  const H5T_order_t order = H5Tget_order(type);
  if (H5Tget_precision(type) != size * 8 || H5Tget_offset(type) != 0 || H5Tget_norm(type) != H5T_NORM_IMPLIED ||
      (order != H5T_ORDER_LE && order != H5T_ORDER_BE))
    return std::nullopt;
  const auto is = [&](size_t sz, size_t sp, size_t ep, size_t es, size_t ms, size_t eb) {
    return size == sz && spos == sp && epos == ep && esize == es && mpos == 0 && msize == ms && ebias == eb;
  };
  if (is(2, 15, 10, 5, 10, 15)) return DType::f16;
  if (is(4, 31, 23, 8, 23, 127)) return DType::f32;
  if (is(8, 63, 52, 11, 52, 1023)) return DType::f64;
  return std::nullopt;
}

namespace {

hid_t make_native_f16() {
  // IEEE binary16 in native byte order, built the way h5py defines it.
  hid_t t = H5Tcopy(H5T_NATIVE_FLOAT);
  H5Tset_fields(t, 15, 10, 5, 0, 10);
  H5Tset_size(t, 2);
  H5Tset_ebias(t, 15);
  H5Tlock(t);
  return t;
}

std::string type_name(hid_t type) {
  if (auto f = classify_float(type)) return std::string(dtype_name(*f));
  const size_t size = H5Tget_size(type);
  switch (H5Tget_class(type)) {
    case H5T_INTEGER:
      return (H5Tget_sign(type) == H5T_SGN_NONE ? "uint" : "int") + std::to_string(size * 8);
    case H5T_FLOAT: return "float" + std::to_string(size * 8) + " (non-IEEE layout)";
    case H5T_STRING: return "string";
    case H5T_COMPOUND: return "compound";
    case H5T_ENUM: return "enum";
    case H5T_VLEN: return "vlen";
    case H5T_ARRAY: return "array";
    case H5T_REFERENCE: return "reference";
    case H5T_OPAQUE: return "opaque";
    case H5T_BITFIELD: return "bitfield";
    default: return "other";
  }
}

struct VisitState {
  std::vector<DatasetInfo>* out;
  std::string damage;   // set when a dataset's header contradicts its storage
  std::string refused;  // set when a dataset's data live outside the file
};

// A damaged header can claim far more elements than the file stores (or shapes HDF5 itself
// refuses to create); catch that before anything is read or written.
std::string storage_damage(hid_t dataset, hid_t space, hid_t type, const std::string& path) {
  Handle dcpl = plist_handle(H5Dget_create_plist(dataset));
  if (!dcpl.valid() || H5Pget_layout(dcpl) != H5D_CONTIGUOUS || H5Pget_external_count(dcpl) > 0) return {};
  const int rank = H5Sget_simple_extent_ndims(space);
  if (rank > 0) {
    std::vector<hsize_t> dims(static_cast<size_t>(rank)), maxdims(static_cast<size_t>(rank));
    H5Sget_simple_extent_dims(space, dims.data(), maxdims.data());
    if (dims != maxdims)
      return "dataset " + path + " has extendible dimensions but contiguous storage";
  }
  const hssize_t n = H5Sget_simple_extent_npoints(space);
  const hsize_t stored = H5Dget_storage_size(dataset);
  const long double wanted = static_cast<long double>(n) * static_cast<long double>(H5Tget_size(type));
  if (stored > 0 && static_cast<long double>(stored) < wanted)
    return "dataset " + path + " claims " + std::to_string(n) + " elements but stores only " + std::to_string(stored) +
           " bytes";
  return {};
}

herr_t visit_object(hid_t root, const char* name, const H5O_info_t* info, void* data) {
  if (info->type != H5O_TYPE_DATASET) return 0;
  auto* state = static_cast<VisitState*>(data);
  Handle d = dataset_handle(H5Dopen2(root, name, H5P_DEFAULT));
  if (!d.valid()) return -1;
  Handle space = space_handle(H5Dget_space(d));
  Handle type = type_handle(H5Dget_type(d));
  if (Handle dcpl = plist_handle(H5Dget_create_plist(d)); dcpl.valid())
    if (auto why = storage_outside_file(dcpl)) {
      state->refused = "dataset /" + std::string(name) + " " + *why;
      return 1;  // stop the walk; reported by list_datasets
    }
  DatasetInfo info_out;
  info_out.path = std::string("/") + name;
  const int rank = H5Sget_simple_extent_ndims(space);
  info_out.shape.resize(rank > 0 ? static_cast<size_t>(rank) : 0);
  if (rank > 0) H5Sget_simple_extent_dims(space, info_out.shape.data(), nullptr);
  if (H5Sget_simple_extent_type(space) == H5S_NULL) info_out.shape = {0};
  info_out.float_type = classify_float(type);
  info_out.type_name = type_name(type);
  if (std::string why = implausible_size(info_out.shape, H5Tget_size(type)); !why.empty()) {
    state->refused = "dataset " + info_out.path + " " + why;
    return 1;
  }
  state->damage = storage_damage(d, space, type, info_out.path);
  if (!state->damage.empty()) return 1;  // stop the walk; reported by list_datasets
  state->out->push_back(std::move(info_out));
  return 0;
}

}  // namespace

hid_t memory_type(DType t) {
  static const hid_t f16 = make_native_f16();
  switch (t) {
    case DType::f16: return f16;
    case DType::f32: return H5T_NATIVE_FLOAT;
    case DType::f64: return H5T_NATIVE_DOUBLE;
  }
  return H5T_NATIVE_DOUBLE;
}

std::vector<DatasetInfo> list_datasets(hid_t file) {
  std::vector<DatasetInfo> out;
  VisitState state{&out, {}, {}};
  const herr_t rc = H5Ovisit2(file, H5_INDEX_NAME, H5_ITER_INC, visit_object, &state, H5O_INFO_BASIC);
  if (!state.damage.empty() || !state.refused.empty() || rc < 0) {
    const ssize_t len = H5Fget_name(file, nullptr, 0);
    std::string name(static_cast<size_t>(len > 0 ? len : 0), '\0');
    if (len > 0) H5Fget_name(file, name.data(), name.size() + 1);
    if (!state.damage.empty()) throw InputError(state.damage + " in '" + name + "' (the file is damaged)");
    if (!state.refused.empty()) throw InputError(state.refused + " in '" + name + "'; h5prune refuses such files");
    throw InputError("cannot walk the objects of '" + name + "': " + last_library_error());
  }
  std::sort(out.begin(), out.end(), [](const DatasetInfo& a, const DatasetInfo& b) { return a.path < b.path; });
  return out;
}

std::optional<std::string> unusable_filter(hid_t dcpl) {
  const int nfilters = H5Pget_nfilters(dcpl);
  for (int i = 0; i < nfilters; ++i) {
    unsigned flags = 0, config = 0;
    size_t nelmts = 0;
    char name[256] = {0};
    H5Z_filter_t id = H5Pget_filter2(dcpl, static_cast<unsigned>(i), &flags, &nelmts, nullptr,
                                     sizeof name, name, &config);
    const std::string label = std::string(*name ? name : "unnamed") + " (id " + std::to_string(id) + ")";
    if (H5Zfilter_avail(id) <= 0) return label;
    unsigned info = 0;
    if (H5Zget_filter_info(id, &info) < 0 || !(info & H5Z_FILTER_CONFIG_DECODE_ENABLED) ||
        !(info & H5Z_FILTER_CONFIG_ENCODE_ENABLED))
      return label;
  }
  return std::nullopt;
}

std::optional<std::string> storage_outside_file(hid_t dcpl) {
  if (H5Pget_layout(dcpl) == H5D_VIRTUAL) return "is a virtual dataset (its data live in other files)";
  const int n = H5Pget_external_count(dcpl);
  if (n == 0) return std::nullopt;
  char name[256] = {0};
  off_t offset = 0;
  hsize_t size = 0;
  if (n < 0 || H5Pget_external(dcpl, 0, sizeof name - 1, name, &offset, &size) < 0)
    return "has external raw storage (its data live in other files)";
  return "has external raw storage (its data live in another file, '" + std::string(name) + "')";
}

void require_storage_inside(hid_t dcpl, const std::string& path, const std::string& file) {
  if (auto why = storage_outside_file(dcpl))
    throw InputError("dataset " + path + " in '" + file + "' " + *why + "; h5prune refuses such files");
}

void require_decodable(hid_t dataset, const std::string& path, const std::string& file) {
  Handle dcpl = plist_handle(H5Dget_create_plist(dataset));
  if (auto bad = unusable_filter(dcpl))
    throw InputError("dataset " + path + " in '" + file + "' uses filter " + *bad +
                     ", which this HDF5 library cannot decode");
}

namespace {

// File and memory dataspaces selecting one slab.
std::pair<Handle, Handle> slab_spaces(hid_t dataset, const Slab& slab) {
  Handle file_space = space_handle(H5Dget_space(dataset));
  if (!slab.offset.empty())
    H5Sselect_hyperslab(file_space, H5S_SELECT_SET, slab.offset.data(), nullptr, slab.count.data(), nullptr);
  const hsize_t n = slab.n;
  Handle mem_space = space_handle(H5Screate_simple(1, &n, nullptr));
  return {std::move(file_space), std::move(mem_space)};
}

}  // namespace

void read_slab(hid_t dataset, hid_t mem_type, const Slab& slab, void* buffer, const std::string& file,
               const std::string& path) {
  auto [fs, ms] = slab_spaces(dataset, slab);
  if (H5Dread(dataset, mem_type, ms, fs, H5P_DEFAULT, buffer) < 0)
    throw InputError("cannot read dataset " + path + " in '" + file + "': " + last_library_error());
}

void write_slab(hid_t dataset, hid_t mem_type, const Slab& slab, const void* buffer, const std::string& file,
                const std::string& path) {
  auto [fs, ms] = slab_spaces(dataset, slab);
  if (H5Dwrite(dataset, mem_type, ms, fs, H5P_DEFAULT, buffer) < 0)
    throw OutputError("cannot write dataset " + path + " to '" + file + "': " + last_library_error());
}

}  // namespace h5p::h5
