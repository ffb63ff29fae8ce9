// What the CUDA runtime sees, for benchmarks/gpu/check.sh: driver and runtime versions, and
// device 0's name, compute capability, multiprocessors, memory and clocks. Exit 1 (with the
// runtime's reason) when it sees no device, whatever nvidia-smi lists.
#include <cuda_runtime.h>

#include <cstdio>

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
  return 0;
}
