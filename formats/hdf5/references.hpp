// Object references survive a copy only if they are re-pointed at the copied objects: the
// walker defers reference attributes, reference datasets and dimension-scale attachments to
// the end of the copy, when every object exists in the output, and fixes them up here.
#pragma once
#include <hdf5.h>

#include <string>
#include <vector>

namespace h5p::h5 {

// A plain object reference type (H5T_STD_REF_OBJ); region references are not remapped.
bool is_object_reference(hid_t type);

// DIMENSION_LIST and REFERENCE_LIST: re-created by attaching the scales again.
bool is_dimension_scale_bookkeeping(const std::string& attribute_name);

struct DeferredReferences {
  struct Attribute {
    std::string object_path;
    std::string name;
  };
  std::vector<Attribute> attributes;         // object-reference attributes, not yet created
  std::vector<std::string> datasets;         // object-reference datasets, created but not filled
  std::vector<std::string> scaled_datasets;  // datasets with dimension scales attached

  // Re-points every recorded reference at the same path in out_file. Throws
  // InputError/OutputError naming the object.
  void resolve(hid_t in_file, hid_t out_file, const std::string& in_name, const std::string& out_name) const;
};

}  // namespace h5p::h5
