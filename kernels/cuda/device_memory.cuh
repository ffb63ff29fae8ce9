// RAII owners for CUDA resources: one device-buffer type, pinned host buffers, streams and
// events. Move-only; destructors never throw.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <utility>

#include "kernels/cuda/cuda_check.cuh"

namespace h5p::cuda {

// Device memory for `size()` elements of T; grow() reallocates (contents lost) when too small.
template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t n) { grow(n); }
  ~DeviceBuffer() { release(); }
  DeviceBuffer(DeviceBuffer&& o) noexcept : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      release();
      p_ = std::exchange(o.p_, nullptr);
      n_ = std::exchange(o.n_, 0);
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void grow(std::size_t n) {
    if (n <= n_) return;
    release();
    void* p = nullptr;
    H5P_CUDA_TRY(cudaMalloc(&p, n * sizeof(T)));
    p_ = static_cast<T*>(p);
    n_ = n;
  }
  T* data() const { return p_; }
  std::size_t size() const { return n_; }

 private:
  void release() {
    if (p_) H5P_CUDA_TRY_NOTHROW(cudaFree(p_));
    p_ = nullptr;
    n_ = 0;
  }
  T* p_ = nullptr;
  std::size_t n_ = 0;
};

// Page-locked host memory, so copies to and from the device run asynchronously at full speed.
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  ~PinnedBuffer() { release(); }
  PinnedBuffer(PinnedBuffer&& o) noexcept : p_(std::exchange(o.p_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
  PinnedBuffer& operator=(PinnedBuffer&& o) noexcept {
    if (this != &o) {
      release();
      p_ = std::exchange(o.p_, nullptr);
      bytes_ = std::exchange(o.bytes_, 0);
    }
    return *this;
  }
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;

  void grow(std::size_t bytes) {
    if (bytes <= bytes_) return;
    release();
    H5P_CUDA_TRY(cudaMallocHost(&p_, bytes));
    bytes_ = bytes;
  }
  unsigned char* data() const { return static_cast<unsigned char*>(p_); }
  std::size_t bytes() const { return bytes_; }

 private:
  void release() {
    if (p_) H5P_CUDA_TRY_NOTHROW(cudaFreeHost(p_));
    p_ = nullptr;
    bytes_ = 0;
  }
  void* p_ = nullptr;
  std::size_t bytes_ = 0;
};

class Stream {
 public:
  Stream() { H5P_CUDA_TRY(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking)); }
  ~Stream() {
    if (s_) H5P_CUDA_TRY_NOTHROW(cudaStreamDestroy(s_));
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  cudaStream_t get() const { return s_; }
  void synchronize() const { H5P_CUDA_TRY(cudaStreamSynchronize(s_)); }

 private:
  cudaStream_t s_ = nullptr;
};

class Event {
 public:
  Event() { H5P_CUDA_TRY(cudaEventCreateWithFlags(&e_, cudaEventDisableTiming)); }
  ~Event() {
    if (e_) H5P_CUDA_TRY_NOTHROW(cudaEventDestroy(e_));
  }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  cudaEvent_t get() const { return e_; }
  void record(const Stream& s) { H5P_CUDA_TRY(cudaEventRecord(e_, s.get())); }
  // Makes later work on `s` wait for this event.
  void wait_on(const Stream& s) const { H5P_CUDA_TRY(cudaStreamWaitEvent(s.get(), e_, 0)); }
  // Blocks the host until the work before the last record() has finished.
  void synchronize() const { H5P_CUDA_TRY(cudaEventSynchronize(e_)); }

 private:
  cudaEvent_t e_ = nullptr;
};

}  // namespace h5p::cuda
