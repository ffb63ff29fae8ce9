// Zero fill-only datasets (see fill_value.hpp).
#include "formats/hdf5/fill_value.hpp"

#include <algorithm>
#include <vector>

#include "formats/hdf5/handle.hpp"

namespace h5p::h5 {

bool unwritten_zeros(hid_t dataset) {
  if (H5Dget_storage_size(dataset) != 0) return false;
  Handle dcpl = plist_handle(H5Dget_create_plist(dataset));
  Handle type = type_handle(H5Dget_type(dataset));
  if (!dcpl.valid() || !type.valid()) return false;
  H5D_fill_value_t status;
  H5D_fill_time_t when;
  H5D_alloc_time_t alloc;
  if (H5Pfill_value_defined(dcpl, &status) < 0 || status == H5D_FILL_VALUE_UNDEFINED) return false;
  if (H5Pget_fill_time(dcpl, &when) < 0 || when == H5D_FILL_TIME_NEVER) return false;
  // Early allocation writes the whole copy when it is created: nothing to leave unwritten.
  if (H5Pget_alloc_time(dcpl, &alloc) < 0 || alloc == H5D_ALLOC_TIME_EARLY) return false;
  std::vector<unsigned char> element(H5Tget_size(type));
  if (element.empty() || H5Pget_fill_value(dcpl, type, element.data()) < 0) return false;
  return std::all_of(element.begin(), element.end(), [](unsigned char b) { return b == 0; });
}

}  // namespace h5p::h5
