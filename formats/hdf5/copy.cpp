// Faithful copy walker. Unselected datasets and named types go through H5Ocopy (raw chunks,
// any filter, all attributes); groups and selected datasets are re-created with the
// source's creation properties so the copy keeps layout, chunking, filters and fill values.
#include "formats/hdf5/copy.hpp"

#include <cstring>
#include <map>
#include <vector>

#include "common/errors.hpp"
#include "common/interrupt.hpp"
#include "formats/hdf5/file.hpp"

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

  static H5_index_t link_order(hid_t group) {
    Handle gcpl = plist_handle(H5Gget_create_plist(group));
    unsigned flags = 0;
    if (gcpl.valid() && H5Pget_link_creation_order(gcpl, &flags) >= 0 && (flags & H5P_CRT_ORDER_INDEXED))
      return H5_INDEX_CRT_ORDER;
    return H5_INDEX_NAME;
  }

  static H5_index_t attribute_order(hid_t object) {
    Handle ocpl = plist_handle(H5Oget_create_plist_compat(object));
    unsigned flags = 0;
    if (ocpl.valid() && H5Pget_attr_creation_order(ocpl, &flags) >= 0 && (flags & H5P_CRT_ORDER_INDEXED))
      return H5_INDEX_CRT_ORDER;
    return H5_INDEX_NAME;
  }

  static hid_t H5Oget_create_plist_compat(hid_t object) {
    switch (H5Iget_type(object)) {
      case H5I_GROUP: return H5Gget_create_plist(object);
      case H5I_DATASET: return H5Dget_create_plist(object);
      case H5I_DATATYPE: return H5Tget_create_plist(object);
      default: return H5I_INVALID_HID;
    }
  }

  void copy_attributes(hid_t src, hid_t dst, const std::string& path) {
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
      copy_attribute(a, dst, path);
    }
  }

  void copy_attribute(hid_t attr, hid_t dst, const std::string& path) {
    const ssize_t name_len = H5Aget_name(attr, 0, nullptr);
    std::string name(static_cast<size_t>(name_len), '\0');
    H5Aget_name(attr, name.size() + 1, name.data());
    const std::string where = "attribute '" + name + "' of " + path;
    Handle file_type = type_handle(H5Aget_type(attr));
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
    if (oinfo.type == H5O_TYPE_GROUP) {
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
      // Raw copy: chunks are not decoded, so even unknown filters pass through intact.
      Handle ocpypl = plist_handle(H5Pcreate(H5P_OBJECT_COPY));
      if (H5Ocopy(in_group, name.c_str(), out_group, name.c_str(), ocpypl, lcpl) < 0)
        fail_write("cannot copy object " + path);
    }
  }

  void replace_dataset(hid_t in_group, hid_t out_group, const std::string& name, const std::string& path,
                       hid_t lcpl) {
    Handle in = dataset_handle(H5Dopen2(in_group, name.c_str(), H5P_DEFAULT));
    if (!in.valid()) fail_read("cannot open dataset " + path);
    Handle type = type_handle(H5Dget_type(in));
    Handle space = space_handle(H5Dget_space(in));
    Handle dcpl = plist_handle(H5Dget_create_plist(in));
    if (!type.valid() || !space.valid() || !dcpl.valid()) fail_read("cannot read dataset " + path);
    H5Pset_obj_track_times(dcpl, false);
    Handle out = dataset_handle(H5Dcreate2(out_group, name.c_str(), type, space, lcpl, dcpl, H5P_DEFAULT));
    if (!out.valid()) fail_write("cannot create dataset " + path);
    copy_attributes(in, out, path);
    callbacks.fill(path, in, out);
  }
};

}  // namespace

Handle create_output_file(const std::string& path, hid_t in_file) {
  Handle fcpl = plist_handle(H5Fget_create_plist(in_file));
  if (!fcpl.valid()) throw InputError("cannot read the file creation properties: " + last_library_error());
  H5Pset_obj_track_times(fcpl, false);
  hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
  if (f < 0) throw OutputError("cannot create '" + path + "': " + last_library_error());
  return file_handle(f);
}

void copy_contents(hid_t in_file, hid_t out_file, const std::string& in_name, const std::string& out_name,
                   const CopyCallbacks& callbacks) {
  Walker w{in_file, out_file, in_name, out_name, callbacks, {}};
  Handle in_root = group_handle(H5Gopen2(in_file, "/", H5P_DEFAULT));
  Handle out_root = group_handle(H5Gopen2(out_file, "/", H5P_DEFAULT));
  if (!in_root.valid()) w.fail_read("cannot open the root group");
  if (!out_root.valid()) w.fail_write("cannot open the root group");
  w.seen.emplace(object_id(in_file, "/"), "/");
  w.copy_attributes(in_root, out_root, "/");
  w.copy_group(in_root, out_root, "/");
}

}  // namespace h5p::h5
