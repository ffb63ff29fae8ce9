// Plain (pageable) host memory for tensors and slabs: large buffers ask for transparent huge
// pages, so reading a whole tensor does not fault in every 4 KiB page one by one.
#pragma once
#include <cstddef>
#include <memory>

namespace h5p {

// Host memory freed as it was allocated (plain, huge-page or device page-locked memory).
using HostBuffer = std::unique_ptr<unsigned char[], void (*)(unsigned char*)>;

// Uninitialised, at least 1 byte. Buffers of kHugePageBytes or more are mapped on their own and
// advised MADV_HUGEPAGE (the kernel's default "madvise" mode then backs them with 2 MiB pages).
HostBuffer allocate_pageable(std::size_t bytes);
inline constexpr std::size_t kHugePageBytes = std::size_t{2} << 20;

}  // namespace h5p
