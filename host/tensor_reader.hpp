// Reads selected tensors for repeated passes: whole and kept in memory when they fit the
// memory limit, otherwise re-read from the file in row-major slabs on every pass. prune,
// sweep and densify all stream through this one reader.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "formats/hdf5/file.hpp"
#include "formats/hdf5/mapped_data.hpp"
#include "host/plan.hpp"
#include "host/progress.hpp"
#include "kernels/backend.hpp"

namespace h5p {

// Elements per slab when a tensor is streamed under this memory limit; a multiple of the N:M
// unit (M * the axis stride, when > 0) so that no group straddles two slabs. densify writes
// with the same.
std::size_t slab_elements(std::uint64_t memory_limit, DType dtype, std::size_t nm_unit);

class TensorReader {
 public:
  TensorReader(hid_t file, std::string file_name) : file_(file), file_name_(std::move(file_name)) {}

  // Where the reader's buffers come from: a device backend's page-locked memory lets it copy
  // straight from them (plain memory until this is called). Call before the first read.
  void use_host_memory_of(Backend& backend) { backend_ = &backend; }

  // Every slab, once f is done with it, advances this meter (none until this is called).
  void report_to(ProgressMeter& meter) { meter_ = &meter; }

  using SlabFn = std::function<void(MutTensor, const h5::Slab&)>;

  // Reads the whole tensor into memory; later passes use (and may change) that copy.
  void keep_resident(const PlannedTensor& t);
  // The same, read in row-major pieces of at most piece_elems elements, each handed to f (and
  // counted by the meter) as soon as it is read, while it is still in the cache: the first pass
  // over the tensor costs no second trip through memory.
  void keep_resident(const PlannedTensor& t, std::size_t piece_elems, const SlabFn& f);
  // Makes the tensor resident without a copy: its bytes mapped read-only from the input file,
  // when they lie there as memory holds them (h5::map_raw_data) and H5PRUNE_MAP_INPUT is not 0.
  // False (nothing changed) otherwise. A mapped tensor's views must not be written: a caller that
  // changes values copies them first (and a write through the view crashes, never corrupts).
  bool map_resident(const PlannedTensor& t);
  // Hands a mapped tensor (map_resident) to f (and the meter) in pieces of piece_elems elements in
  // position order, each after a checkpoint: the pass that brings its pages in (from disk when
  // the file is not cached) answers a stop signal and shows progress within a large tensor. The
  // pieces are read by address: f's slab gives flat_begin and n, no offset or count.
  void for_each_mapped_piece(const PlannedTensor& t, std::size_t piece_elems, const SlabFn& f);
  void drop(const PlannedTensor& t);
  bool resident(const PlannedTensor& t) const { return resident_.count(t.path) > 0 || mapped_.count(t.path) > 0; }
  bool mapped(const PlannedTensor& t) const { return mapped_.count(t.path) > 0; }
  // The in-memory copy of a resident tensor, or its mapping (stable until drop()).
  MutTensor resident_view(const PlannedTensor& t);

  // Calls f(view, slab) for each slab of at most slab_elems elements, in position order. A
  // resident tensor is one view of the whole tensor, with a slab that selects everything
  // (no offset or count). Views may be modified: a streamed slab is read again next pass.
  // With `read_only` (f never writes a view), a streamed slab is mapped from the input instead
  // of read into a buffer when its bytes lie there as memory holds them (as map_resident).
  void for_each_slab(const PlannedTensor& t, std::size_t slab_elems, const SlabFn& f, bool read_only = false);
  // Whether for_each_slab(t, ..., read_only = true) maps a streamed tensor's slabs (read-only
  // views) rather than reading them into buffers.
  bool maps_slabs(const PlannedTensor& t);
  // Reads the elements at `runs` ((first, count) pairs, in order) straight from the page cache,
  // back to back into out, when the tensor's bytes lie in the file as memory holds them (as
  // map_resident wants) and are cached, but for at most uncached_left runs read from the file
  // (h5::read_cached_runs). False otherwise. Not counted in bytes_read: a sample, not a pass.
  bool read_cached_runs(const PlannedTensor& t, const std::vector<std::pair<std::size_t, std::size_t>>& runs, void* out,
                        std::size_t& uncached_left);

  std::uint64_t bytes_read() const { return bytes_read_; }
  std::uint64_t bytes_mapped() const { return bytes_mapped_; }
  double read_seconds() const { return read_seconds_; }

 private:
  void keep_resident_unchecked(const PlannedTensor& t, std::size_t piece_elems, const SlabFn& f);
  void for_each_slab_unchecked(const PlannedTensor& t, std::size_t slab_elems, const SlabFn& f, bool read_only);
  // The read-only passes over a streamed tensor: each slab mapped (read when a map fails). False,
  // with nothing done, when the tensor's first slab cannot be mapped.
  bool for_each_mapped_slab(const PlannedTensor& t, hid_t dataset, const std::vector<h5::Slab>& slabs, const SlabFn& f);
  HostBuffer allocate(std::size_t bytes);
  // A slab buffer of at least `bytes`, kept for later tensors and passes (allocated once at the
  // largest slab: page-locking is too slow to repeat per slab).
  unsigned char* slab_buffer(int which, std::size_t bytes);

  hid_t file_;
  std::string file_name_;
  Backend* backend_ = nullptr;
  ProgressMeter* meter_ = nullptr;
  std::map<std::string, HostBuffer> resident_;  // path -> whole tensor
  std::map<std::string, h5::MappedData> mapped_;  // path -> whole tensor, mapped from the file
  struct SlabBuffer {
    HostBuffer data{nullptr, nullptr};
    std::size_t bytes = 0;
  };
  SlabBuffer slabs_[2];  // one slab processed, the next being read
  std::uint64_t bytes_read_ = 0;
  std::uint64_t bytes_mapped_ = 0;
  double read_seconds_ = 0;
};

}  // namespace h5p
