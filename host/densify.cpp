// densify: the faithful copy walker with a replacement for layout groups that re-creates the
// original dataset and writes it exactly as prune's dense path does (whole, or in the same slabs).
#include "host/densify.hpp"

#include <chrono>
#include <cstring>

#include "common/errors.hpp"
#include "common/interrupt.hpp"
#include "formats/atomic_file.hpp"
#include "formats/hdf5/copy.hpp"
#include "formats/hdf5/file.hpp"
#include "formats/sha256.hpp"
#include "formats/sparse/reader.hpp"
#include "host/input_check.hpp"

namespace h5p {

DensifyResult run_densify(const DensifyOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  if (o.output.empty()) throw UsageError("missing --output (-o) for densify");
  if (o.memory_limit < (64u << 10)) throw UsageError("--memory-limit must be at least 64K");
  DensifyResult result;
  h5::Handle in_file = open_checked_input(o.input);
  h5::list_datasets(in_file);  // refuses damaged headers and data stored outside the file up front
  AtomicOutput out(o.output, o.force, o.input);
  h5::Handle out_file = h5::create_output_file(out.temp_path(), in_file);

  h5::CopyCallbacks callbacks;
  callbacks.replaces = [&](const std::string& path) { return sparse::is_layout_group(in_file, path); };
  callbacks.replace = [&](const std::string& path, hid_t in_group, const std::string& name, hid_t out_group,
                          hid_t lcpl) {
    h5::Handle group = h5::group_handle(H5Gopen2(in_group, name.c_str(), H5P_DEFAULT));
    if (!group.valid()) throw InputError("cannot open group " + path + " in '" + o.input + "'");
    const sparse::LayoutInfo info = sparse::read_layout(group, o.input, path);
    h5::Handle type = sparse::original_type(group, o.input, path);
    h5::Handle space = sparse::original_space(group, o.input, path);
    h5::Handle dcpl = sparse::original_dcpl(group, o.input, path);
    h5::require_storage_inside(dcpl, path, o.input);
    H5Pset_obj_track_times(dcpl, false);
    // The same sequence as prune's dense path: create, copy the attributes, write.
    h5::Handle ds = h5::dataset_handle(H5Dcreate2(out_group, name.c_str(), type, space, lcpl, dcpl, H5P_DEFAULT));
    if (!ds.valid())
      throw OutputError("cannot create dataset " + path + " in '" + o.output + "': " + h5::last_library_error());
    h5::copy_attributes(group, ds, path, o.input, out.temp_path(), sparse::is_layout_attribute);

    const std::size_t esize = dtype_size(info.dtype);
    const hid_t mem_type = h5::memory_type(info.dtype);
    const bool resident = info.n * esize <= o.memory_limit;
    const std::size_t slab = slab_elements(o.memory_limit, info.dtype, info.nm_group);
    sparse::DenseReader reader(group, info, std::max<std::size_t>(4096, o.memory_limit / 4 / (esize + 8)), o.input,
                               path);
    std::vector<unsigned char> buf;
    if (resident) {
      buf.resize(info.n * esize);
      check_interrupt();
      reader.read(0, info.n, buf.data());
      if (info.n > 0 && H5Dwrite(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()) < 0)
        throw OutputError("cannot write dataset " + path + " to '" + o.output + "': " + h5::last_library_error());
    } else {
      for (const h5::Slab& s : h5::plan_slabs(info.shape, slab)) {
        check_interrupt();
        buf.resize(s.n * esize);
        reader.read(s.flat_begin, s.n, buf.data());
        h5::write_slab(ds, mem_type, s, buf.data(), o.output, path);
      }
    }
    result.tensors.push_back({path, info.format, info.dtype, info.shape, info.n, info.nnz});
  };
  h5::copy_contents(in_file, out_file, o.input, out.temp_path(), callbacks);
  if (H5Fclose(out_file.release()) < 0)
    throw OutputError("cannot finish writing '" + o.output + "': " + h5::last_library_error());
  h5::copy_userblock(o.input, out.temp_path(), in_file);  // as prune does: the dense file has it too
  check_interrupt();
  result.output_sha256 = sha256_file(out.temp_path(), &result.output_bytes);
  result.input_sha256 = sha256_file(o.input, &result.input_bytes);
  out.commit();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

}  // namespace h5p
