// Magnitude keys on the device, bit for bit those of kernels/keys.hpp: the IEEE bits with the
// sign cleared, widened exactly 16 -> 32 -> 64 for mixed-dtype scopes. W is the key width.
#pragma once
#include <cstdint>
#include <type_traits>

#include "kernels/dtype.hpp"

namespace h5p::cuda {

__device__ __forceinline__ std::uint32_t widen16to32(std::uint32_t k) {
  const std::uint32_t exp = (k >> 10) & 0x1Fu;
  const std::uint32_t mant = k & 0x3FFu;
  if (exp == 0x1F) return 0x7F800000u | (mant << 13);
  if (exp != 0) return ((exp + 112u) << 23) | (mant << 13);
  if (mant == 0) return 0;
  const std::uint32_t p = 31u - static_cast<std::uint32_t>(__clz(mant));  // top set bit
  return ((p + 103u) << 23) | ((mant << (23u - p)) & 0x7FFFFFu);
}

__device__ __forceinline__ std::uint64_t widen32to64(std::uint32_t k) {
  const std::uint64_t exp = (k >> 23) & 0xFFu;
  const std::uint64_t mant = k & 0x7FFFFFu;
  if (exp == 0xFF) return 0x7FF0000000000000ull | (mant << 29);
  if (exp != 0) return ((exp + 896u) << 52) | (mant << 29);
  if (mant == 0) return 0;
  const std::uint64_t p = 31u - static_cast<std::uint64_t>(__clz(static_cast<std::uint32_t>(mant)));
  return ((p + 874u) << 52) | ((mant << (52u - p)) & 0xFFFFFFFFFFFFFull);
}

// Key of one element in width W (16, 32 or 64 >= the element's own width).
template <int W>
__device__ __forceinline__ std::uint64_t key_of(std::uint16_t bits) {
  const std::uint32_t k = bits & 0x7FFFu;
  if constexpr (W == 16) return k;
  else if constexpr (W == 32) return widen16to32(k);
  else return widen32to64(widen16to32(k));
}
template <int W>
__device__ __forceinline__ std::uint64_t key_of(std::uint32_t bits) {
  const std::uint32_t k = bits & 0x7FFFFFFFu;
  if constexpr (W == 64) return widen32to64(k);
  else return k;
}
template <int W>
__device__ __forceinline__ std::uint64_t key_of(std::uint64_t bits) {
  return bits & 0x7FFFFFFFFFFFFFFFull;
}

// The element's own width and its +Inf key: larger native keys are NaN.
__device__ __forceinline__ constexpr int native_width(std::uint16_t) { return 16; }
__device__ __forceinline__ constexpr int native_width(std::uint32_t) { return 32; }
__device__ __forceinline__ constexpr int native_width(std::uint64_t) { return 64; }
__device__ __forceinline__ bool is_nan(std::uint16_t b) { return (b & 0x7FFFu) > 0x7C00u; }
__device__ __forceinline__ bool is_nan(std::uint32_t b) { return (b & 0x7FFFFFFFu) > 0x7F800000u; }
__device__ __forceinline__ bool is_nan(std::uint64_t b) { return (b & 0x7FFFFFFFFFFFFFFFull) > 0x7FF0000000000000ull; }

// |value| as a double (exact for every dtype).
__device__ __forceinline__ double abs_value(std::uint16_t b) {
  return static_cast<double>(__uint_as_float(widen16to32(b & 0x7FFFu)));
}
__device__ __forceinline__ double abs_value(std::uint32_t b) {
  return static_cast<double>(__uint_as_float(b & 0x7FFFFFFFu));
}
__device__ __forceinline__ double abs_value(std::uint64_t b) {
  return __longlong_as_double(static_cast<long long>(b & 0x7FFFFFFFFFFFFFFFull));
}

// Calls f(std::integral_constant<int, W>{}) for the key width w as the CPU backend maps it for
// elements of type Bits (float32 has no 16-bit keys, float64 only 64-bit ones).
template <typename Bits, typename F>
void with_key_width(KeyWidth w, F&& f) {
  if constexpr (sizeof(Bits) == 2) {
    if (w == KeyWidth::k16) f(std::integral_constant<int, 16>{});
    else if (w == KeyWidth::k32) f(std::integral_constant<int, 32>{});
    else f(std::integral_constant<int, 64>{});
  } else if constexpr (sizeof(Bits) == 4) {
    if (w == KeyWidth::k64) f(std::integral_constant<int, 64>{});
    else f(std::integral_constant<int, 32>{});
  } else {
    f(std::integral_constant<int, 64>{});
  }
}

}  // namespace h5p::cuda
