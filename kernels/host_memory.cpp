// Huge-page-advised host buffers. Why: a 400 MB resident tensor is 100k page faults (each one
// zeroes a page and takes the mm lock) in 4 KiB pages, 200 in 2 MiB ones, and the passes over it
// miss the TLB less.
#include "kernels/host_memory.hpp"

#include <sys/mman.h>

#include <map>
#include <mutex>
#include <new>

namespace h5p {

namespace {

// munmap needs the length: the mapped sizes by address.
std::mutex mapped_mutex;
std::map<unsigned char*, std::size_t>& mapped() {
  static std::map<unsigned char*, std::size_t> m;
  return m;
}

void unmap(unsigned char* p) {
  std::size_t bytes = 0;
  {
    std::lock_guard<std::mutex> lock(mapped_mutex);
    auto it = mapped().find(p);
    if (it == mapped().end()) return;
    bytes = it->second;
    mapped().erase(it);
  }
  munmap(p, bytes);
}

}  // namespace

HostBuffer allocate_pageable(std::size_t bytes) {
  if (bytes < kHugePageBytes)
    return HostBuffer(new unsigned char[bytes > 0 ? bytes : 1], [](unsigned char* p) { delete[] p; });
  void* m = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) throw std::bad_alloc();
  madvise(m, bytes, MADV_HUGEPAGE);  // advice only: without THP the pages stay 4 KiB
  auto* p = static_cast<unsigned char*>(m);
  {
    std::lock_guard<std::mutex> lock(mapped_mutex);
    mapped()[p] = bytes;
  }
  return HostBuffer(p, unmap);
}

}  // namespace h5p
