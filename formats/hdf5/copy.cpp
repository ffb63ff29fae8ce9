// Faithful copy walker. Unselected datasets and named types go through H5Ocopy (raw chunks,
// any filter, all attributes); groups and selected datasets are re-created with the
// source's creation properties so the copy keeps layout, chunking, filters and fill values.
#include "formats/hdf5/copy.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <vector>

#include "common/errors.hpp"
#include "common/interrupt.hpp"
#include "formats/hdf5/file.hpp"
#include "formats/hdf5/references.hpp"
#include "formats/hdf5/slabs.hpp"

namespace h5p::h5 {
namespace {

// Object identity within a file, to re-create hard links to an object seen before.
#if H5_VERSION_GE(1, 12, 0)
using ObjectId = std::string;
ObjectId object_id(hid_t loc, const char* name) {
  H5O_info2_t info;
  if (H5Oget_info_by_name3(loc, name, &info, H5O_INFO_BASIC, H5P_DEFAULT) < 0) return {};
  return std::string(reinterpret_cast<const char*>(&info.token), sizeof info.token);
}
#else
using ObjectId = haddr_t;
ObjectId object_id(hid_t loc, const char* name) {
  H5O_info_t info;
  if (H5Oget_info_by_name2(loc, name, &info, H5O_INFO_BASIC, H5P_DEFAULT) < 0) return HADDR_UNDEF;
  return info.addr;
}
#endif

struct Walker {
  hid_t in_file;
  hid_t out_file;
  const std::string& in_name;
  const std::string& out_name;
  const CopyCallbacks& callbacks;
  std::map<ObjectId, std::string> seen;  // object -> first output path
  DeferredReferences deferred;           // references to re-point once every object exists

  [[noreturn]] void fail_read(const std::string& what) const {
    throw InputError(what + " in '" + in_name + "': " + last_library_error());
  }
  [[noreturn]] void fail_write(const std::string& what) const {
    throw OutputError(what + " in '" + out_name + "': " + last_library_error());
  }

  // Link creation properties carrying the name's character set (h5py writes UTF-8 names).
  static Handle link_plist(H5T_cset_t cset) {
    Handle lcpl = plist_handle(H5Pcreate(H5P_LINK_CREATE));
    H5Pset_char_encoding(lcpl, cset);
    return lcpl;
  }

  // Creation order when the object's creation properties index it (read with `get`, the
  // link or the attribute variant), else name order: the copy iterates as the input does.
  static H5_index_t iteration_order(hid_t cpl, herr_t (*get)(hid_t, unsigned*)) {
    Handle owned = plist_handle(cpl);
    unsigned flags = 0;
    if (owned.valid() && get(owned, &flags) >= 0 && (flags & H5P_CRT_ORDER_INDEXED)) return H5_INDEX_CRT_ORDER;
    return H5_INDEX_NAME;
  }

  static H5_index_t link_order(hid_t group) {
    return iteration_order(H5Gget_create_plist(group), H5Pget_link_creation_order);
  }

  static H5_index_t attribute_order(hid_t object) {
    return iteration_order(H5Oget_create_plist_compat(object), H5Pget_attr_creation_order);
  }

  static hid_t H5Oget_create_plist_compat(hid_t object) {
    switch (H5Iget_type(object)) {
      case H5I_GROUP: return H5Gget_create_plist(object);
      case H5I_DATASET: return H5Dget_create_plist(object);
      case H5I_DATATYPE: return H5Tget_create_plist(object);
      default: return H5I_INVALID_HID;
    }
  }

  void copy_attributes(hid_t src, hid_t dst, const std::string& path,
                       const std::function<bool(const std::string&)>& skip = {}) {
    hsize_t count = 0;
    {
      H5O_info_t info;
      if (H5Oget_info2(src, &info, H5O_INFO_NUM_ATTRS) < 0) fail_read("cannot read attributes of " + path);
      count = info.num_attrs;
    }
    const H5_index_t order = attribute_order(src);
    for (hsize_t i = 0; i < count; ++i) {
      Handle a = attr_handle(H5Aopen_by_idx(src, ".", order, H5_ITER_INC, i, H5P_DEFAULT, H5P_DEFAULT));
      if (!a.valid()) fail_read("cannot open attribute #" + std::to_string(i) + " of " + path);
      if (skip) {
        const ssize_t len = H5Aget_name(a, 0, nullptr);
        std::string name(static_cast<size_t>(len > 0 ? len : 0), '\0');
        H5Aget_name(a, name.size() + 1, name.data());
        if (skip(name)) continue;
      }
      copy_attribute(a, dst, path);
    }
  }

  void copy_attribute(hid_t attr, hid_t dst, const std::string& path) {
    const ssize_t name_len = H5Aget_name(attr, 0, nullptr);
    std::string name(static_cast<size_t>(name_len), '\0');
    H5Aget_name(attr, name.size() + 1, name.data());
    const std::string where = "attribute '" + name + "' of " + path;
    Handle file_type = type_handle(H5Aget_type(attr));
    if (is_dimension_scale_bookkeeping(name)) {
      // Re-created by attaching the scales again at the end (see references.hpp).
      if (name == "DIMENSION_LIST") deferred.scaled_datasets.push_back(path);
      return;
    }
    if (is_object_reference(file_type)) {
      deferred.attributes.push_back({path, name});
      return;
    }
    Handle space = space_handle(H5Aget_space(attr));
    Handle acpl = plist_handle(H5Aget_create_plist(attr));
    Handle mem_type = type_handle(H5Tget_native_type(file_type, H5T_DIR_ASCEND));
    if (!file_type.valid() || !space.valid() || !mem_type.valid()) fail_read("cannot read " + where);
    const hssize_t npoints = H5Sget_select_npoints(space);
    std::vector<unsigned char> buffer(static_cast<size_t>(npoints > 0 ? npoints : 0) * H5Tget_size(mem_type) + 1);
    if (H5Aread(attr, mem_type, buffer.data()) < 0) fail_read("cannot read " + where);
    Handle out = attr_handle(H5Acreate2(dst, name.c_str(), file_type, space, acpl, H5P_DEFAULT));
    const bool ok = out.valid() && H5Awrite(out, mem_type, buffer.data()) >= 0;
    if (H5Tdetect_class(mem_type, H5T_VLEN) > 0 || H5Tis_variable_str(mem_type) > 0)
      H5Dvlen_reclaim(mem_type, space, H5P_DEFAULT, buffer.data());
    if (!ok) fail_write("cannot write " + where);
  }

  void copy_group(hid_t in_group, hid_t out_group, const std::string& path) {
    const H5_index_t order = link_order(in_group);
    H5G_info_t ginfo;
    if (H5Gget_info(in_group, &ginfo) < 0) fail_read("cannot read group " + path);
    for (hsize_t i = 0; i < ginfo.nlinks; ++i) {
      check_interrupt();
      const ssize_t len = H5Lget_name_by_idx(in_group, ".", order, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
      if (len < 0) fail_read("cannot list group " + path);
      std::string name(static_cast<size_t>(len), '\0');
      H5Lget_name_by_idx(in_group, ".", order, H5_ITER_INC, i, name.data(), name.size() + 1, H5P_DEFAULT);
      copy_link(in_group, out_group, name, (path == "/" ? "/" : path + "/") + name);
    }
  }

  void copy_link(hid_t in_group, hid_t out_group, const std::string& name, const std::string& path) {
    H5L_info_t linfo;
    if (H5Lget_info(in_group, name.c_str(), &linfo, H5P_DEFAULT) < 0) fail_read("cannot read link " + path);
    Handle lcpl = link_plist(linfo.cset);
    if (linfo.type == H5L_TYPE_SOFT || linfo.type == H5L_TYPE_EXTERNAL) {
      std::vector<char> value(linfo.u.val_size + 1, '\0');
      if (H5Lget_val(in_group, name.c_str(), value.data(), value.size(), H5P_DEFAULT) < 0)
        fail_read("cannot read link " + path);
      herr_t rc;
      if (linfo.type == H5L_TYPE_SOFT) {
        rc = H5Lcreate_soft(value.data(), out_group, name.c_str(), lcpl, H5P_DEFAULT);
      } else {
        const char* file = nullptr;
        const char* obj = nullptr;
        unsigned flags = 0;
        H5Lunpack_elink_val(value.data(), value.size(), &flags, &file, &obj);
        rc = H5Lcreate_external(file, obj, out_group, name.c_str(), lcpl, H5P_DEFAULT);
      }
      if (rc < 0) fail_write("cannot create link " + path);
      return;
    }
    if (linfo.type != H5L_TYPE_HARD) fail_read("unsupported link type at " + path);

    const ObjectId id = object_id(in_group, name.c_str());
    if (auto it = seen.find(id); it != seen.end()) {
      if (H5Lcreate_hard(out_file, it->second.c_str(), out_group, name.c_str(), lcpl, H5P_DEFAULT) < 0)
        fail_write("cannot create hard link " + path);
      return;
    }
    seen.emplace(id, path);

    H5O_info_t oinfo;
    if (H5Oget_info_by_name2(in_group, name.c_str(), &oinfo, H5O_INFO_BASIC, H5P_DEFAULT) < 0)
      fail_read("cannot read object " + path);
    if (callbacks.replace && callbacks.replaces && callbacks.replaces(path)) {
      callbacks.replace(path, in_group, name, out_group, lcpl);
    } else if (oinfo.type == H5O_TYPE_GROUP) {
      Handle in_sub = group_handle(H5Gopen2(in_group, name.c_str(), H5P_DEFAULT));
      Handle gcpl = plist_handle(H5Gget_create_plist(in_sub));
      if (!in_sub.valid() || !gcpl.valid()) fail_read("cannot open group " + path);
      H5Pset_obj_track_times(gcpl, false);
      Handle out_sub = group_handle(H5Gcreate2(out_group, name.c_str(), lcpl, gcpl, H5P_DEFAULT));
      if (!out_sub.valid()) fail_write("cannot create group " + path);
      copy_attributes(in_sub, out_sub, path);
      copy_group(in_sub, out_sub, path);
    } else if (oinfo.type == H5O_TYPE_DATASET && callbacks.replaces && callbacks.replaces(path)) {
      replace_dataset(in_group, out_group, name, path, lcpl);
    } else {
      const bool dataset = oinfo.type == H5O_TYPE_DATASET;
      if (dataset && callbacks.copying) callbacks.copying(path, stored_bytes(in_group, name));
      if (dataset && copy_dataset_raw(in_group, out_group, name, path, lcpl)) {
        // copied chunk by chunk (or slab by slab) without decoding
      } else {
        // Named types and the datasets copy_dataset_raw leaves alone: H5Ocopy.
        Handle ocpypl = plist_handle(H5Pcreate(H5P_OBJECT_COPY));
        // Datasets with a committed type share the type already copied, as in the input.
        H5Pset_copy_object(ocpypl, H5O_COPY_MERGE_COMMITTED_DTYPE_FLAG);
        if (H5Ocopy(in_group, name.c_str(), out_group, name.c_str(), ocpypl, lcpl) < 0)
          fail_write("cannot copy object " + path);
      }
    }
  }

  // The bytes a dataset takes in the input (0 when it cannot be opened: the copy reports that).
  static std::uint64_t stored_bytes(hid_t in_group, const std::string& name) {
    Handle d = dataset_handle(H5Dopen2(in_group, name.c_str(), H5P_DEFAULT));
    return d.valid() ? H5Dget_storage_size(d) : 0;
  }

  // An input dataset with its type, dataspace and creation properties.
  struct Source {
    Handle in, type, space, dcpl;
  };
  Source open_source(hid_t in_group, const std::string& name, const std::string& path) const {
    Source s;
    s.in = dataset_handle(H5Dopen2(in_group, name.c_str(), H5P_DEFAULT));
    if (!s.in.valid()) fail_read("cannot open dataset " + path);
    s.type = type_handle(H5Dget_type(s.in));
    s.space = space_handle(H5Dget_space(s.in));
    s.dcpl = plist_handle(H5Dget_create_plist(s.in));
    if (!s.type.valid() || !s.space.valid() || !s.dcpl.valid()) fail_read("cannot read dataset " + path);
    // Never re-create storage that points outside the output (it would write into other files).
    require_storage_inside(s.dcpl, path, in_name);
    return s;
  }

  // The output dataset for src: same shape and creation properties (no object times), out_type,
  // and src's attributes.
  Handle create_like(const Source& src, hid_t out_type, hid_t out_group, const std::string& name,
                     const std::string& path, hid_t lcpl) {
    H5Pset_obj_track_times(src.dcpl, false);
    Handle out = dataset_handle(H5Dcreate2(out_group, name.c_str(), out_type, src.space, lcpl, src.dcpl, H5P_DEFAULT));
    if (!out.valid()) fail_write("cannot create dataset " + path);
    copy_attributes(src.in, out, path);
    return out;
  }

  // Copies an unselected dataset without decoding it: chunked data chunk by chunk with
  // H5Dread_chunk/H5Dwrite_chunk (filters untouched, so even unknown ones survive), other
  // layouts in slabs read with the file type itself (no conversion). HDF5 1.10's H5Ocopy can
  // crash when a write fails (disk full); these calls fail cleanly. Returns false, having
  // created nothing, for what only H5Ocopy handles (variable-length or reference data,
  // committed types, external or virtual storage).
  bool copy_dataset_raw(hid_t in_group, hid_t out_group, const std::string& name, const std::string& path,
                        hid_t lcpl) {
    const Source src = open_source(in_group, name, path);
    const H5D_layout_t layout = H5Pget_layout(src.dcpl);
    const bool object_refs = is_object_reference(src.type);
    if (H5Tdetect_class(src.type, H5T_VLEN) != 0 || H5Tis_variable_str(src.type) != 0 ||
        (H5Tdetect_class(src.type, H5T_REFERENCE) != 0 && !object_refs) || H5Pget_external_count(src.dcpl) != 0 ||
        layout == H5D_VIRTUAL || H5Sget_simple_extent_type(src.space) == H5S_NULL)
      return false;
    Handle out_type = output_type(src.type);
    if (!out_type.valid()) return false;  // its committed type is not in the output yet
    Handle out = create_like(src, out_type, out_group, name, path, lcpl);
    if (object_refs) {
      deferred.datasets.push_back(path);  // filled once the referenced objects exist
      return true;
    }
    if (H5Dget_storage_size(src.in) == 0) return true;  // never written: leave it unallocated too
    std::vector<unsigned char> buf;
    if (layout == H5D_CHUNKED) {
      const int rank = H5Sget_simple_extent_ndims(src.space);
      hsize_t nchunks = 0;
      if (H5Dget_num_chunks(src.in, src.space, &nchunks) < 0) fail_read("cannot list the chunks of " + path);
      std::vector<hsize_t> offset(static_cast<size_t>(rank));
      for (hsize_t i = 0; i < nchunks; ++i) {
        check_interrupt();
        unsigned filter_mask = 0;
        haddr_t addr = 0;
        hsize_t size = 0;
        if (H5Dget_chunk_info(src.in, src.space, i, offset.data(), &filter_mask, &addr, &size) < 0)
          fail_read("cannot read chunk " + std::to_string(i) + " of " + path);
        buf.resize(static_cast<size_t>(size));
        uint32_t read_mask = 0;
        if (H5Dread_chunk(src.in, H5P_DEFAULT, offset.data(), &read_mask, buf.data()) < 0)
          fail_read("cannot read chunk " + std::to_string(i) + " of " + path);
        if (H5Dwrite_chunk(out, H5P_DEFAULT, read_mask, offset.data(), buf.size(), buf.data()) < 0)
          fail_write("cannot write chunk " + std::to_string(i) + " of " + path);
      }
      return true;
    }
    std::vector<hsize_t> shape(static_cast<size_t>(std::max(0, H5Sget_simple_extent_ndims(src.space))));
    if (!shape.empty()) H5Sget_simple_extent_dims(src.space, shape.data(), nullptr);
    const size_t esize = H5Tget_size(src.type);
    for (const Slab& slab : plan_slabs(shape, std::max<size_t>(1, (size_t{64} << 20) / esize))) {
      check_interrupt();
      buf.resize(slab.n * esize);
      read_slab(src.in, src.type, slab, buf.data(), in_name, path);
      write_slab(out, src.type, slab, buf.data(), out_name, path);
    }
    return true;
  }

  // The type to create a copied dataset with: the output's committed type at the same path
  // when the input's type is committed (invalid handle if that is not copied yet), else a copy.
  Handle output_type(hid_t in_type) {
    if (H5Tcommitted(in_type) <= 0) return type_handle(H5Tcopy(in_type));
    const ssize_t len = H5Iget_name(in_type, nullptr, 0);
    if (len <= 0) return {};
    std::string type_path(static_cast<size_t>(len), '\0');
    H5Iget_name(in_type, type_path.data(), type_path.size() + 1);
    if (H5Lexists(out_file, type_path.c_str(), H5P_DEFAULT) <= 0) return {};
    return type_handle(H5Topen2(out_file, type_path.c_str(), H5P_DEFAULT));
  }

  void replace_dataset(hid_t in_group, hid_t out_group, const std::string& name, const std::string& path,
                       hid_t lcpl) {
    const Source src = open_source(in_group, name, path);
    Handle out_type = output_type(src.type);
    if (!out_type.valid()) out_type = type_handle(H5Tcopy(src.type));  // committed type not copied yet
    Handle out = create_like(src, out_type, out_group, name, path, lcpl);
    callbacks.fill(path, src.in, out);
  }
};

}  // namespace

Handle create_output_file(const std::string& path, hid_t in_file, bool in_memory) {
  Handle fcpl = plist_handle(H5Fget_create_plist(in_file));
  if (!fcpl.valid()) throw InputError("cannot read the file creation properties: " + last_library_error());
  H5Pset_obj_track_times(fcpl, false);
  // The root group's own creation properties (creation-order tracking, link and attribute
  // storage thresholds) are not part of the file's; carry them over.
  Handle root = group_handle(H5Gopen2(in_file, "/", H5P_DEFAULT));
  Handle root_gcpl = plist_handle(H5Gget_create_plist(root));
  if (root_gcpl.valid()) {
    unsigned flags = 0, max_compact = 0, min_dense = 0;
    if (H5Pget_link_creation_order(root_gcpl, &flags) >= 0) H5Pset_link_creation_order(fcpl, flags);
    if (H5Pget_attr_creation_order(root_gcpl, &flags) >= 0) H5Pset_attr_creation_order(fcpl, flags);
    if (H5Pget_link_phase_change(root_gcpl, &max_compact, &min_dense) >= 0)
      H5Pset_link_phase_change(fcpl, max_compact, min_dense);
    if (H5Pget_attr_phase_change(root_gcpl, &max_compact, &min_dense) >= 0)
      H5Pset_attr_phase_change(fcpl, max_compact, min_dense);
  }
  // The same format bounds as the input, so features it uses (large attributes in dense
  // storage, new-style groups) are available in the copy.
  Handle in_fapl = plist_handle(H5Fget_access_plist(in_file));
  Handle fapl = plist_handle(H5Pcreate(H5P_FILE_ACCESS));
  H5F_libver_t low = H5F_LIBVER_EARLIEST, high = H5F_LIBVER_LATEST;
  if (in_fapl.valid() && H5Pget_libver_bounds(in_fapl, &low, &high) >= 0) H5Pset_libver_bounds(fapl, low, high);
  if (in_memory) H5Pset_fapl_core(fapl, 1 << 20, /*backing_store=*/false);
  hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, fcpl, fapl);
  if (f < 0) throw OutputError("cannot create a temporary file for the output in the directory of '" + path + "': " + last_library_error());
  return file_handle(f);
}

void copy_userblock(const std::string& in_path, const std::string& out_path, hid_t in_file) {
  Handle fcpl = plist_handle(H5Fget_create_plist(in_file));
  hsize_t size = 0;
  if (!fcpl.valid() || H5Pget_userblock(fcpl, &size) < 0 || size == 0) return;
  std::vector<char> block(static_cast<size_t>(size));
  std::FILE* in = std::fopen(in_path.c_str(), "rb");
  if (!in || std::fread(block.data(), 1, block.size(), in) != block.size()) {
    if (in) std::fclose(in);
    throw InputError("cannot read the user block of '" + in_path + "'");
  }
  std::fclose(in);
  std::FILE* out = std::fopen(out_path.c_str(), "r+b");
  const bool ok = out && std::fwrite(block.data(), 1, block.size(), out) == block.size();
  if (out && std::fclose(out) != 0) throw OutputError("cannot write the user block of '" + out_path + "'");
  if (!ok) throw OutputError("cannot write the user block of '" + out_path + "'");
}

void copy_attributes(hid_t src, hid_t dst, const std::string& path, const std::string& in_name,
                     const std::string& out_name, const std::function<bool(const std::string&)>& skip) {
  const CopyCallbacks none;
  Walker w{H5I_INVALID_HID, H5I_INVALID_HID, in_name, out_name, none, {}, {}};
  w.copy_attributes(src, dst, path, skip);
}

void copy_contents(hid_t in_file, hid_t out_file, const std::string& in_name, const std::string& out_name,
                   const CopyCallbacks& callbacks) {
  Walker w{in_file, out_file, in_name, out_name, callbacks, {}, {}};
  Handle in_root = group_handle(H5Gopen2(in_file, "/", H5P_DEFAULT));
  Handle out_root = group_handle(H5Gopen2(out_file, "/", H5P_DEFAULT));
  if (!in_root.valid()) w.fail_read("cannot open the root group");
  if (!out_root.valid()) w.fail_write("cannot open the root group");
  w.seen.emplace(object_id(in_file, "/"), "/");
  w.copy_attributes(in_root, out_root, "/");
  w.copy_group(in_root, out_root, "/");
  w.deferred.resolve(in_file, out_file, in_name, out_name);
}

}  // namespace h5p::h5
