// What the CUDA runtime sees, for benchmarks/gpu/check.sh: driver and runtime versions, and
// device 0's name, compute capability, multiprocessors, memory and clocks, and what the CUDA
// backend's start costs a run (the context, then page-locked host memory of a 100M-float32
// model's size, allocated and freed). Exit 1 (with the runtime's reason) when it sees no device,
// whatever nvidia-smi lists.
#include <cuda_runtime.h>

#include <chrono>
#include <cstdio>
#include <cstring>

namespace {
double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

int main() {
  int driver = 0, runtime = 0, count = 0;
  cudaDriverGetVersion(&driver);  // 0 when no driver is loaded
  cudaRuntimeGetVersion(&runtime);
  std::printf("driver_api: %d.%d\nruntime: %d.%d\n", driver / 1000, driver % 1000 / 10, runtime / 1000,
              runtime % 1000 / 10);
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    std::printf("devices: 0\nreason: %s\n", e != cudaSuccess ? cudaGetErrorString(e) : "no CUDA device found");
    return 1;
  }
  cudaDeviceProp p{};
  if (cudaGetDeviceProperties(&p, 0) != cudaSuccess) {
    std::printf("devices: %d\nreason: cannot read the properties of device 0\n", count);
    return 1;
  }
  int sm_khz = 0, mem_khz = 0;
  cudaDeviceGetAttribute(&sm_khz, cudaDevAttrClockRate, 0);
  cudaDeviceGetAttribute(&mem_khz, cudaDevAttrMemoryClockRate, 0);
  std::printf("devices: %d\nname: %s\narch: %d%d\nmultiprocessors: %d\nmemory_gib: %.1f\nl2_mib: %.1f\n", count, p.name,
              p.major, p.minor, p.multiProcessorCount, p.totalGlobalMem / 1073741824.0, p.l2CacheSize / 1048576.0);
  std::printf("max_sm_clock_mhz: %d\nmax_memory_clock_mhz: %d\n", sm_khz / 1000, mem_khz / 1000);

  auto t0 = std::chrono::steady_clock::now();
  if (cudaFree(nullptr) != cudaSuccess) return 0;  // the context; the times below are then missing
  std::printf("context_ms: %.1f\n", ms_since(t0));
  const std::size_t bytes = std::size_t{400} << 20;
  void* host = nullptr;
  t0 = std::chrono::steady_clock::now();
  if (cudaMallocHost(&host, bytes) != cudaSuccess) return 0;
  std::printf("malloc_host_400mib_ms: %.1f\n", ms_since(t0));
  t0 = std::chrono::steady_clock::now();
  std::memset(host, 1, bytes);  // what the first read into it costs beyond a pageable buffer's
  std::printf("first_touch_400mib_ms: %.1f\n", ms_since(t0));
  t0 = std::chrono::steady_clock::now();
  cudaFreeHost(host);
  std::printf("free_host_400mib_ms: %.1f\n", ms_since(t0));
  t0 = std::chrono::steady_clock::now();
  cudaDeviceReset();
  std::printf("reset_ms: %.1f\n", ms_since(t0));
  return 0;
}
