// A dataset's raw bytes mapped read-only from the open input file. Why: a tensor that lies in
// the file as memory holds it needs no copy at all; its passes read the page cache directly,
// and no fresh anonymous memory (faulted in and zeroed page by page, most of a resident run's
// time on a VM) is taken for it.
#pragma once
#include <hdf5.h>

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace h5p::h5 {

class MappedData {
 public:
  MappedData() = default;
  MappedData(void* base, std::size_t length, std::size_t skip) : base_(base), length_(length), skip_(skip) {}
  MappedData(MappedData&& o) noexcept;
  MappedData& operator=(MappedData&& o) noexcept;
  MappedData(const MappedData&) = delete;
  MappedData& operator=(const MappedData&) = delete;
  ~MappedData();

  explicit operator bool() const { return base_ != nullptr; }
  // The dataset's first byte; the pages are read-only (a write is a crash, never a silent change).
  const unsigned char* data() const { return static_cast<const unsigned char*>(base_) + skip_; }

 private:
  void* base_ = nullptr;
  std::size_t length_ = 0;
  std::size_t skip_ = 0;  // from the page boundary the mapping starts at to the data
};

// Maps `bytes` of a dataset's raw data, from byte `begin` of it, when they can be used as they
// lie: contiguous storage inside the file, allocated, the file type equal to `mem_type`, aligned
// to `align` bytes and wholly inside the file as it is now. The mapping is of the file HDF5
// itself has open (its descriptor, not the path, which another job may have replaced). Empty
// otherwise, or when mapping fails: the caller then reads a copy as before. `populate` brings
// every page in now (a slab about to be read whole); without it pages come in as they are first
// read (a whole tensor, whose first pass goes in pieces with checkpoints between them).
MappedData map_raw_data(hid_t file, hid_t dataset, hid_t mem_type, std::uint64_t begin, std::uint64_t bytes,
                        std::size_t align, bool populate);

// Whether map_raw_data can map the whole dataset's raw data (the same tests; nothing mapped).
bool raw_data_mappable(hid_t file, hid_t dataset, hid_t mem_type, std::size_t align);

// Reads elements of such a dataset straight from HDF5's descriptor, without mapping them, from the
// page cache: runs[i] = (first element, count), read back to back into out. A run that is not all
// in the page cache (preadv2 with RWF_NOWAIT: EAGAIN, a short read, or a filesystem that cannot
// tell) is read from the file while `uncached_left` allows (each takes one), else the call gives
// up. False, with out partly written, then, or when the data cannot be used as they lie. Why: a
// sample's scattered kilobytes are cheap from memory and costly from a disk or a network
// filesystem (a random read each); the caller then goes without them.
bool read_cached_runs(hid_t file, hid_t dataset, hid_t mem_type, std::size_t esize,
                      const std::vector<std::pair<std::size_t, std::size_t>>& runs, void* out,
                      std::size_t& uncached_left);

}  // namespace h5p::h5
