// CPU compaction and N:M kernels (OpenMP); the CpuBackend forwards its entry points here.
// Semantics are those documented in kernels/backend.hpp.
#pragma once
#include <cstdint>

#include "kernels/backend.hpp"

namespace h5p::cpu {

std::uint64_t count_survivors(ConstTensor t, std::size_t row_len, std::size_t phase, std::uint64_t* row_counts,
                              int threads);
std::uint64_t compact(ConstTensor t, std::uint64_t base, void* values, std::uint64_t* index, int threads);
void survivor_mask(ConstTensor t, unsigned bit_offset, std::uint8_t* bits, int threads);
NmResult nm_apply(MutTensor t, unsigned keep, unsigned m, std::size_t stride, std::uint8_t* positions, void* kept,
                  int threads);

}  // namespace h5p::cpu
