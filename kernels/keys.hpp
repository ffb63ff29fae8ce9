// Magnitude keys: the IEEE bits with the sign cleared, so unsigned order is magnitude order
// (+0 = -0 lowest, subnormals, normals, Inf, then NaN). Widening between key widths is exact.
// The one definition of the key bits for both backends: the CUDA kernels include it too.
#pragma once
#include <bit>
#include <cmath>
#include <cstdint>

#include "kernels/dtype.hpp"

// Functions the device code calls as well (nvcc compiles them for both sides).
#ifdef __CUDACC__
#define H5P_HOST_DEVICE __host__ __device__
#else
#define H5P_HOST_DEVICE
#endif

namespace h5p {

// Index of the highest set bit of x > 0.
H5P_HOST_DEVICE constexpr std::uint32_t top_bit(std::uint32_t x) {
#ifdef __CUDA_ARCH__
  return 31u - static_cast<std::uint32_t>(__clz(x));
#else
  return 31u - static_cast<std::uint32_t>(std::countl_zero(x));
#endif
}

constexpr std::uint64_t kInfKey16 = 0x7C00u;
constexpr std::uint64_t kInfKey32 = 0x7F800000u;
constexpr std::uint64_t kInfKey64 = 0x7FF0000000000000ull;

H5P_HOST_DEVICE constexpr std::uint64_t inf_key(KeyWidth w) {
  return w == KeyWidth::k16 ? kInfKey16 : w == KeyWidth::k32 ? kInfKey32 : kInfKey64;
}

H5P_HOST_DEVICE constexpr std::uint16_t key16(std::uint16_t bits) { return bits & 0x7FFFu; }
H5P_HOST_DEVICE constexpr std::uint32_t key32(std::uint32_t bits) { return bits & 0x7FFFFFFFu; }
H5P_HOST_DEVICE constexpr std::uint64_t key64(std::uint64_t bits) { return bits & 0x7FFFFFFFFFFFFFFFull; }

// float16 magnitude key -> float32 magnitude key of the same value.
H5P_HOST_DEVICE constexpr std::uint32_t widen16to32(std::uint16_t k) {
  const std::uint32_t exp = (k >> 10) & 0x1Fu;
  const std::uint32_t mant = k & 0x3FFu;
  if (exp == 0x1F) return 0x7F800000u | (mant << 13);  // Inf / NaN
  if (exp != 0) return ((exp + 112u) << 23) | (mant << 13);
  if (mant == 0) return 0;
  // Subnormal half: value = mant * 2^-24 = 1.f * 2^(p-24), p = top set bit of mant.
  const std::uint32_t p = top_bit(mant);
  return ((p + 103u) << 23) | ((mant << (23u - p)) & 0x7FFFFFu);
}

// float32 magnitude key -> float64 magnitude key of the same value.
H5P_HOST_DEVICE constexpr std::uint64_t widen32to64(std::uint32_t k) {
  const std::uint64_t exp = (k >> 23) & 0xFFu;
  const std::uint64_t mant = k & 0x7FFFFFu;
  if (exp == 0xFF) return kInfKey64 | (mant << 29);
  if (exp != 0) return ((exp + 896u) << 52) | (mant << 29);
  if (mant == 0) return 0;
  // Subnormal float: value = mant * 2^-149 = 1.f * 2^(p-149), p = top set bit of mant.
  const std::uint64_t p = top_bit(static_cast<std::uint32_t>(mant));  // mant < 2^23
  return ((p + 874u) << 52) | ((mant << (52u - p)) & 0xFFFFFFFFFFFFFull);
}

// The magnitude a key stands for, as a float64 (exact for every width).
inline double key_value(KeyWidth w, std::uint64_t key) {
  if (w == KeyWidth::k16) key = widen32to64(widen16to32(static_cast<std::uint16_t>(key)));
  else if (w == KeyWidth::k32) key = widen32to64(static_cast<std::uint32_t>(key));
  return std::bit_cast<double>(key);
}

// Key of element i of a tensor in the requested width (>= the dtype's native width).
inline std::uint64_t element_key(DType t, KeyWidth w, const void* data, std::size_t i) {
  switch (t) {
    case DType::f16: {
      std::uint16_t k = key16(static_cast<const std::uint16_t*>(data)[i]);
      if (w == KeyWidth::k16) return k;
      return w == KeyWidth::k32 ? widen16to32(k) : widen32to64(widen16to32(k));
    }
    case DType::f32: {
      std::uint32_t k = key32(static_cast<const std::uint32_t*>(data)[i]);
      return w == KeyWidth::k64 ? widen32to64(k) : k;
    }
    case DType::f64:
      return key64(static_cast<const std::uint64_t*>(data)[i]);
  }
  return 0;
}

}  // namespace h5p
