// The OpenMP CPU backend: the fallback at run time and the oracle the CUDA backend is tested
// against. Loops are typed per (element type, key width); sums are taken in fixed blocks with
// a fixed accumulator order, so every result is independent of the thread count. The class
// itself is in cpu_backend_body.inc, built here for two instruction sets.
#include <omp.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "kernels/backend.hpp"
#include "kernels/cpu/cpu_compaction.hpp"
#include "kernels/cpu/cpu_structured.hpp"
#include "kernels/cpu/cpu_sweep.hpp"
#include "kernels/cpu/typed_keys.hpp"
#include "kernels/keys.hpp"
#include "kernels/lane_sum.hpp"

namespace h5p {
namespace {
using cpu::Half;
using cpu::Float;
using cpu::Double;
using cpu::dispatch;

// The same class twice: the compiler vectorises the second copy's loops with 256-bit AVX2
// instructions. Integer results cannot differ; the sums cannot either, because the loops keep
// lane_sum's order (no reassociation without -ffast-math, no fused multiply-add with
// -ffp-contract=off), which tests/e2e/test_cpu_isa.py checks on real files.
namespace isa_baseline {
constexpr const char* kIsaNote = "";  // appended to device()
#include "kernels/cpu/cpu_backend_body.inc"
}  // namespace isa_baseline

// GCC only: clang ignores `#pragma GCC target`, so its "AVX2" copy would be the baseline code under another name.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define H5P_CPU_AVX2 1
#pragma GCC push_options
#pragma GCC target("avx2")
namespace isa_avx2 {
constexpr const char* kIsaNote = ", AVX2";
#include "kernels/cpu/cpu_backend_body.inc"
}  // namespace isa_avx2
#pragma GCC pop_options
#endif

#ifdef H5P_CPU_AVX2
// AVX2 when the processor has it, unless H5PRUNE_CPU_ISA=baseline asks for the plain build
// (tests compare the two).
bool use_avx2() {
  const char* forced = std::getenv("H5PRUNE_CPU_ISA");
  if (forced && std::strcmp(forced, "baseline") == 0) return false;
  return __builtin_cpu_supports("avx2");
}
#endif

}  // namespace

int available_cpus() { return std::max(1, omp_get_num_procs()); }
int default_threads() { return std::max(1, omp_get_max_threads()); }

std::unique_ptr<Backend> make_cpu_backend(int threads) {
#ifdef H5P_CPU_AVX2
  if (use_avx2()) return std::make_unique<isa_avx2::CpuBackend>(threads);
#endif
  return std::make_unique<isa_baseline::CpuBackend>(threads);
}

}  // namespace h5p
