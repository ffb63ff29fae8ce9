// Read-only mappings of contiguous raw data, taken from HDF5's own file descriptor.
#include "formats/hdf5/mapped_data.hpp"

#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <optional>
#include <utility>

#include "formats/hdf5/file.hpp"
#include "formats/hdf5/handle.hpp"

namespace h5p::h5 {

MappedData::MappedData(MappedData&& o) noexcept
    : base_(std::exchange(o.base_, nullptr)), length_(o.length_), skip_(o.skip_) {}

MappedData& MappedData::operator=(MappedData&& o) noexcept {
  if (this != &o) {
    if (base_) munmap(base_, length_);
    base_ = std::exchange(o.base_, nullptr);
    length_ = o.length_;
    skip_ = o.skip_;
  }
  return *this;
}

MappedData::~MappedData() {
  if (base_) munmap(base_, length_);
}

namespace {

// Where bytes [begin, begin + bytes) of the dataset's raw data lie in the file, when they can be
// used as they lie (map_raw_data's tests); nullopt otherwise.
std::optional<std::uint64_t> usable_offset(hid_t file, hid_t dataset, hid_t mem_type, std::uint64_t begin,
                                           std::uint64_t bytes, std::size_t align) {
  if (bytes == 0) return std::nullopt;
  Handle dcpl = plist_handle(H5Dget_create_plist(dataset));
  if (!dcpl.valid() || H5Pget_layout(dcpl) != H5D_CONTIGUOUS || H5Pget_external_count(dcpl) != 0) return std::nullopt;
  Handle type = type_handle(H5Dget_type(dataset));
  if (!type.valid() || H5Tequal(type, mem_type) <= 0) return std::nullopt;
  // The absolute file address (HDF5 adds a userblock's size itself); undefined until written.
  const haddr_t data_start = H5Dget_offset(dataset);
  if (data_start == HADDR_UNDEF || data_start % align != 0 || begin % align != 0) return std::nullopt;
  if (H5Dget_storage_size(dataset) < begin + bytes) return std::nullopt;
  const std::uint64_t offset = data_start + begin;
  const int fd = posix_descriptor(file);
  struct stat st {};
  if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  if (offset > static_cast<std::uint64_t>(st.st_size) || bytes > static_cast<std::uint64_t>(st.st_size) - offset)
    return std::nullopt;  // a truncated file: HDF5's read reports it
  return offset;
}

}  // namespace

bool raw_data_mappable(hid_t file, hid_t dataset, hid_t mem_type, std::size_t align) {
  return usable_offset(file, dataset, mem_type, 0, H5Dget_storage_size(dataset), align).has_value();
}

bool read_cached_runs(hid_t file, hid_t dataset, hid_t mem_type, std::size_t esize,
                      const std::vector<std::pair<std::size_t, std::size_t>>& runs, void* out,
                      std::size_t& uncached_left) {
  const std::optional<std::uint64_t> at = usable_offset(file, dataset, mem_type, 0, H5Dget_storage_size(dataset), esize);
  if (!at) return false;
  const int fd = posix_descriptor(file);
  auto* to = static_cast<unsigned char*>(out);
  for (const auto& [first, count] : runs) {
    const std::size_t bytes = count * esize;
    const off_t offset = static_cast<off_t>(*at + first * esize);
    iovec v{to, bytes};
    // A short read means part of the run is not cached (or lies past the end of a truncated file).
    if (preadv2(fd, &v, 1, offset, RWF_NOWAIT) != static_cast<ssize_t>(bytes)) {
      if (uncached_left == 0) return false;
      --uncached_left;
      for (std::size_t done = 0; done < bytes;) {
        const ssize_t n = pread(fd, to + done, bytes - done, offset + static_cast<off_t>(done));
        if (n <= 0) return false;
        done += static_cast<std::size_t>(n);
      }
    }
    to += bytes;
  }
  return true;
}

MappedData map_raw_data(hid_t file, hid_t dataset, hid_t mem_type, std::uint64_t begin, std::uint64_t bytes,
                        std::size_t align, bool populate) {
  const std::optional<std::uint64_t> at = usable_offset(file, dataset, mem_type, begin, bytes, align);
  if (!at) return {};
  const std::uint64_t offset = *at;
  const int fd = posix_descriptor(file);
  const std::uint64_t page = static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
  const std::uint64_t start = offset / page * page;
  const std::size_t skip = static_cast<std::size_t>(offset - start);
  const std::size_t length = static_cast<std::size_t>(bytes) + skip;
  // MAP_POPULATE: the pages are brought in (from the page cache, or read) here, timed as reading.
  void* base = mmap(nullptr, length, PROT_READ, MAP_SHARED | (populate ? MAP_POPULATE : 0), fd, static_cast<off_t>(start));
  if (base == MAP_FAILED) return {};
  return MappedData(base, length, skip);
}

}  // namespace h5p::h5
