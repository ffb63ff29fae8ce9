// Resident-or-streamed tensor reads with interrupt checks between slabs.
#include "host/tensor_reader.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <future>
#include <new>
#include <system_error>

#include "common/errors.hpp"
#include "common/interrupt.hpp"

namespace h5p {

std::size_t slab_elements(std::uint64_t memory_limit, DType dtype, std::size_t nm_unit) {
  // Two slabs are in memory at once (one processed, the next being read).
  const std::uint64_t budget = std::max<std::uint64_t>(memory_limit / 4, 4096);
  std::size_t elems = std::max<std::size_t>(1, budget / dtype_size(dtype));
  if (nm_unit > 1) elems = std::max<std::size_t>(nm_unit, elems / nm_unit * nm_unit);
  return elems;
}

namespace {

h5::Handle open_dataset(hid_t file, const std::string& path, const std::string& file_name) {
  h5::Handle d = h5::dataset_handle(H5Dopen2(file, path.c_str(), H5P_DEFAULT));
  if (!d.valid()) throw InputError("cannot open dataset " + path + " in '" + file_name + "'");
  return d;
}

}  // namespace

HostBuffer TensorReader::allocate(std::size_t bytes) {
  if (backend_) return backend_->allocate_host(bytes);
  return allocate_pageable(bytes);
}

unsigned char* TensorReader::slab_buffer(int which, std::size_t bytes) {
  SlabBuffer& b = slabs_[which];
  if (!b.data || b.bytes < bytes) {
    b.data.reset();  // free before allocating: page-locked memory is scarce
    b.data = allocate(bytes);
    b.bytes = bytes;
  }
  return b.data.get();
}

namespace {

// Out of memory or out of threads while working on a tensor: one line naming it and the file
// (exit 3), not "internal error: std::bad_alloc".
template <typename F>
void naming_tensor(const PlannedTensor& t, const std::string& file, std::size_t bytes, F&& work) {
  try {
    work();
  } catch (const std::bad_alloc&) {
    throw InputError("out of memory while processing tensor " + t.path + " of '" + file + "' (" +
                     std::to_string(bytes) + " bytes at once); lower --memory-limit or give the job more memory");
  } catch (const std::system_error& e) {
    if (e.code() != std::errc::resource_unavailable_try_again) throw;
    throw InputError("cannot start a thread while processing tensor " + t.path + " of '" + file + "': " + e.what() +
                     "; lower --threads or raise the process limit");
  }
}

}  // namespace

void TensorReader::keep_resident(const PlannedTensor& t) { keep_resident(t, t.n > 0 ? t.n : 1, nullptr); }

void TensorReader::keep_resident(const PlannedTensor& t, std::size_t piece_elems, const SlabFn& f) {
  naming_tensor(t, file_name_, t.n * dtype_size(t.dtype), [&] { keep_resident_unchecked(t, piece_elems, f); });
}

void TensorReader::for_each_slab(const PlannedTensor& t, std::size_t slab_elems, const SlabFn& f, bool read_only) {
  naming_tensor(t, file_name_, std::min(t.n, std::max<std::size_t>(1, slab_elems)) * dtype_size(t.dtype),
                [&] { for_each_slab_unchecked(t, slab_elems, f, read_only); });
}

void TensorReader::keep_resident_unchecked(const PlannedTensor& t, std::size_t piece_elems, const SlabFn& f) {
  if (resident(t)) return;
  const std::size_t esize = dtype_size(t.dtype);
  for (SlabBuffer& b : slabs_) b = SlabBuffer{};  // a resident tensor needs no slabs: stay within the limit
  HostBuffer buf = allocate(t.n * esize);
  if (t.n > 0) {
    h5::Handle d = open_dataset(file_, t.path, file_name_);
    for (const h5::Slab& piece : h5::plan_slabs(t.shape, std::max<std::size_t>(1, piece_elems))) {
      check_interrupt();
      unsigned char* at = buf.get() + piece.flat_begin * esize;
      const auto start = std::chrono::steady_clock::now();
      h5::read_slab(d, h5::memory_type(t.dtype), piece, at, file_name_, t.path);
      read_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      bytes_read_ += piece.n * esize;
      if (!f) continue;
      f(MutTensor{t.dtype, at, piece.n}, piece);
      if (meter_) meter_->advance(t.path, piece.n * esize);
    }
  }
  resident_.emplace(t.path, std::move(buf));
}

namespace {

// H5PRUNE_MAP_INPUT=0 reads copies as before: a way round a filesystem whose mappings misbehave.
bool mapping_enabled() {
  const char* v = std::getenv("H5PRUNE_MAP_INPUT");
  return !(v && std::strcmp(v, "0") == 0);
}

}  // namespace

bool TensorReader::map_resident(const PlannedTensor& t) {
  if (resident(t)) return mapped(t);
  if (!mapping_enabled()) return false;
  check_interrupt();
  const std::size_t esize = dtype_size(t.dtype);
  const auto start = std::chrono::steady_clock::now();
  h5::Handle d = open_dataset(file_, t.path, file_name_);
  h5::MappedData m = h5::map_raw_data(file_, d, h5::memory_type(t.dtype), 0, t.n * esize, esize, /*populate=*/false);
  if (!m) return false;
  for (SlabBuffer& b : slabs_) b = SlabBuffer{};  // as for a resident copy: no slabs needed
  read_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  bytes_read_ += t.n * esize;
  bytes_mapped_ += t.n * esize;
  mapped_.emplace(t.path, std::move(m));
  return true;
}

void TensorReader::for_each_mapped_piece(const PlannedTensor& t, std::size_t piece_elems, const SlabFn& f) {
  const MutTensor whole = resident_view(t);
  const std::size_t esize = dtype_size(t.dtype);
  const std::size_t step = std::max<std::size_t>(1, piece_elems);
  for (std::size_t begin = 0; begin < whole.n; begin += step) {
    check_interrupt();
    h5::Slab piece;
    piece.flat_begin = begin;
    piece.n = std::min(step, whole.n - begin);
    f(MutTensor{t.dtype, static_cast<unsigned char*>(whole.data) + begin * esize, piece.n}, piece);
    if (meter_) meter_->advance(t.path, piece.n * esize);
  }
}

bool TensorReader::read_cached_runs(const PlannedTensor& t,
                                    const std::vector<std::pair<std::size_t, std::size_t>>& runs, void* out,
                                    std::size_t& uncached_left) {
  check_interrupt();
  h5::Handle d = open_dataset(file_, t.path, file_name_);
  return h5::read_cached_runs(file_, d, h5::memory_type(t.dtype), dtype_size(t.dtype), runs, out, uncached_left);
}

bool TensorReader::maps_slabs(const PlannedTensor& t) {
  const bool host_backend = !backend_ || backend_->works_in_host_memory();
  if (!host_backend || !mapping_enabled() || t.n == 0) return false;
  h5::Handle d = open_dataset(file_, t.path, file_name_);
  return h5::raw_data_mappable(file_, d, h5::memory_type(t.dtype), dtype_size(t.dtype));
}

MutTensor TensorReader::resident_view(const PlannedTensor& t) {
  if (auto it = mapped_.find(t.path); it != mapped_.end())
    return MutTensor{t.dtype, const_cast<unsigned char*>(it->second.data()), t.n};  // read-only pages
  return MutTensor{t.dtype, resident_.at(t.path).get(), t.n};
}

void TensorReader::drop(const PlannedTensor& t) {
  resident_.erase(t.path);
  mapped_.erase(t.path);
}

bool TensorReader::for_each_mapped_slab(const PlannedTensor& t, hid_t d, const std::vector<h5::Slab>& slabs,
                                        const SlabFn& f) {
  const std::size_t esize = dtype_size(t.dtype);
  const hid_t mem_type = h5::memory_type(t.dtype);
  for (std::size_t i = 0; i < slabs.size(); ++i) {
    const h5::Slab& s = slabs[i];
    check_interrupt();
    const auto start = std::chrono::steady_clock::now();
    // One slab mapped at a time (populated now, unmapped after f): as much memory as a slab buffer.
    h5::MappedData m = h5::map_raw_data(file_, d, mem_type, s.flat_begin * esize, s.n * esize, esize, /*populate=*/true);
    if (!m && i == 0) return false;
    unsigned char* data = nullptr;
    if (m) {
      data = const_cast<unsigned char*>(m.data());  // read-only pages: f does not write
      bytes_mapped_ += s.n * esize;
    } else {
      data = slab_buffer(0, s.n * esize);
      h5::read_slab(d, mem_type, s, data, file_name_, t.path);
    }
    read_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    bytes_read_ += s.n * esize;
    f(MutTensor{t.dtype, data, s.n}, s);
    if (meter_) meter_->advance(t.path, s.n * esize);
  }
  return true;
}

void TensorReader::for_each_slab_unchecked(const PlannedTensor& t, std::size_t slab_elems, const SlabFn& f,
                                           bool read_only) {
  if (resident(t)) {
    h5::Slab whole;
    whole.n = t.n;
    f(resident_view(t), whole);
    if (meter_) meter_->advance(t.path, t.n * dtype_size(t.dtype));
    return;
  }
  const std::size_t esize = dtype_size(t.dtype);
  h5::Handle d = open_dataset(file_, t.path, file_name_);
  const std::vector<h5::Slab> slabs = h5::plan_slabs(t.shape, std::max<std::size_t>(1, slab_elems));
  // A device backend copies from its own page-locked buffers: its slabs are read into them.
  const bool host_backend = !backend_ || backend_->works_in_host_memory();
  if (read_only && host_backend && mapping_enabled() && for_each_mapped_slab(t, d, slabs, f)) return;
  std::size_t largest = 0;
  for (const h5::Slab& s : slabs) largest = std::max(largest, s.n * esize);
  unsigned char* buffers[2] = {slab_buffer(0, largest), slabs.size() > 1 ? slab_buffer(1, largest) : nullptr};
  auto read = [&](std::size_t i) {
    h5::read_slab(d, h5::memory_type(t.dtype), slabs[i], buffers[i % 2], file_name_, t.path);
  };
  // The next slab is read on a second thread while f works on this one (HDF5 serialises its
  // own calls when built thread-safe; otherwise every read stays on this thread).
  const bool read_ahead = slabs.size() > 1 && h5::library_is_threadsafe();
  std::future<void> next;  // declared after the buffers and the dataset: destroyed (waited for) first
  for (std::size_t i = 0; i < slabs.size(); ++i) {
    check_interrupt();
    const auto start = std::chrono::steady_clock::now();
    if (next.valid()) next.get();
    else read(i);
    // Only the time spent waiting for data counts as reading: the rest overlapped with work.
    read_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    bytes_read_ += slabs[i].n * esize;
    if (read_ahead && i + 1 < slabs.size())
      next = std::async(std::launch::async, [&read, i] {
        h5::silence_library_errors();  // per thread: h5prune reports the error itself
        read(i + 1);
      });
    f(MutTensor{t.dtype, buffers[i % 2], slabs[i].n}, slabs[i]);
    if (meter_) meter_->advance(t.path, slabs[i].n * esize);
  }
}

}  // namespace h5p
