// Remapping of object references and dimension scales from the input to the output file.
#include "formats/hdf5/references.hpp"

#include <hdf5_hl.h>

#include "common/errors.hpp"
#include "formats/hdf5/file.hpp"
#include "formats/hdf5/handle.hpp"

namespace h5p::h5 {

bool is_object_reference(hid_t type) {
  return H5Tget_class(type) == H5T_REFERENCE && H5Tequal(type, H5T_STD_REF_OBJ) > 0;
}

bool is_dimension_scale_bookkeeping(const std::string& name) {
  return name == "DIMENSION_LIST" || name == "REFERENCE_LIST";
}

namespace {

// The referenced object's path in the input, then a reference to that path in the output.
void remap(hid_t in_file, hid_t out_file, std::vector<hobj_ref_t>& refs, const std::string& where,
           const std::string& out_name) {
  for (hobj_ref_t& ref : refs) {
    if (ref == 0) continue;  // a null reference stays null
    const ssize_t len = H5Rget_name(in_file, H5R_OBJECT, &ref, nullptr, 0);
    if (len <= 0) throw InputError("reference in " + where + " points nowhere: " + last_library_error());
    std::string path(static_cast<size_t>(len), '\0');
    H5Rget_name(in_file, H5R_OBJECT, &ref, path.data(), path.size() + 1);
    hobj_ref_t out_ref = 0;
    if (H5Rcreate(&out_ref, out_file, path.c_str(), H5R_OBJECT, -1) < 0)
      throw OutputError("cannot re-create the reference to " + path + " in " + where + " of '" + out_name + "'");
    ref = out_ref;
  }
}

std::vector<hobj_ref_t> read_refs(hid_t obj, bool is_attr, hid_t space, const std::string& where,
                                  const std::string& in_name) {
  const hssize_t n = H5Sget_select_npoints(space);
  std::vector<hobj_ref_t> refs(static_cast<size_t>(n > 0 ? n : 0));
  const herr_t rc = refs.empty() ? 0
                    : is_attr    ? H5Aread(obj, H5T_STD_REF_OBJ, refs.data())
                                 : H5Dread(obj, H5T_STD_REF_OBJ, H5S_ALL, H5S_ALL, H5P_DEFAULT, refs.data());
  if (rc < 0) throw InputError("cannot read " + where + " in '" + in_name + "': " + last_library_error());
  return refs;
}

herr_t collect_scale(hid_t /*dataset*/, unsigned /*dim*/, hid_t scale, void* out) {
  const ssize_t len = H5Iget_name(scale, nullptr, 0);
  if (len <= 0) return -1;
  std::string name(static_cast<size_t>(len), '\0');
  H5Iget_name(scale, name.data(), name.size() + 1);
  static_cast<std::vector<std::string>*>(out)->push_back(name);
  return 0;
}

}  // namespace

void DeferredReferences::resolve(hid_t in_file, hid_t out_file, const std::string& in_name,
                                 const std::string& out_name) const {
  for (const Attribute& a : attributes) {
    const std::string where = "attribute '" + a.name + "' of " + a.object_path;
    Handle in = attr_handle(H5Aopen_by_name(in_file, a.object_path.c_str(), a.name.c_str(), H5P_DEFAULT, H5P_DEFAULT));
    if (!in.valid()) throw InputError("cannot open " + where + " in '" + in_name + "'");
    Handle type = type_handle(H5Aget_type(in));
    Handle space = space_handle(H5Aget_space(in));
    Handle acpl = plist_handle(H5Aget_create_plist(in));
    auto refs = read_refs(in, true, space, where, in_name);
    remap(in_file, out_file, refs, where, out_name);
    Handle obj = object_handle(H5Oopen(out_file, a.object_path.c_str(), H5P_DEFAULT));
    Handle out = attr_handle(H5Acreate2(obj, a.name.c_str(), type, space, acpl, H5P_DEFAULT));
    if (!out.valid() || (!refs.empty() && H5Awrite(out, H5T_STD_REF_OBJ, refs.data()) < 0))
      throw OutputError("cannot write " + where + " in '" + out_name + "': " + last_library_error());
  }
  for (const std::string& path : datasets) {
    const std::string where = "dataset " + path;
    Handle in = dataset_handle(H5Dopen2(in_file, path.c_str(), H5P_DEFAULT));
    Handle space = space_handle(H5Dget_space(in));
    auto refs = read_refs(in, false, space, where, in_name);
    remap(in_file, out_file, refs, where, out_name);
    Handle out = dataset_handle(H5Dopen2(out_file, path.c_str(), H5P_DEFAULT));
    if (!out.valid() ||
        (!refs.empty() && H5Dwrite(out, H5T_STD_REF_OBJ, H5S_ALL, H5S_ALL, H5P_DEFAULT, refs.data()) < 0))
      throw OutputError("cannot write " + where + " in '" + out_name + "': " + last_library_error());
  }
  for (const std::string& path : scaled_datasets) {
    Handle in = dataset_handle(H5Dopen2(in_file, path.c_str(), H5P_DEFAULT));
    Handle out = dataset_handle(H5Dopen2(out_file, path.c_str(), H5P_DEFAULT));
    Handle space = space_handle(H5Dget_space(in));
    const int rank = H5Sget_simple_extent_ndims(space);
    for (int d = 0; d < rank; ++d) {
      std::vector<std::string> scales;
      if (H5DSget_num_scales(in, static_cast<unsigned>(d)) <= 0) continue;
      if (H5DSiterate_scales(in, static_cast<unsigned>(d), nullptr, collect_scale, &scales) < 0)
        throw InputError("cannot read the dimension scales of " + path + " in '" + in_name + "'");
      for (const std::string& scale_path : scales) {
        Handle scale = dataset_handle(H5Dopen2(out_file, scale_path.c_str(), H5P_DEFAULT));
        if (!scale.valid() || H5DSattach_scale(out, scale, static_cast<unsigned>(d)) < 0)
          throw OutputError("cannot attach dimension scale " + scale_path + " to " + path + " in '" + out_name + "'");
      }
    }
  }
}

}  // namespace h5p::h5
