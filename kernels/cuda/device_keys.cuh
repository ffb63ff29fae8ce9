// Typed key access for the kernels, on the bit contract of kernels/keys.hpp (included, not
// copied): element bits -> key in width W (16, 32, 64), NaN tests, |value|, and the dispatch
// from a run-time key width to a template argument.
#pragma once
#include <cstdint>
#include <type_traits>

#include "kernels/dtype.hpp"
#include "kernels/keys.hpp"

namespace h5p::cuda {

// Key of one element in width W (16, 32 or 64 >= the element's own width).
template <int W>
__device__ __forceinline__ std::uint64_t key_of(std::uint16_t bits) {
  const std::uint16_t k = key16(bits);
  if constexpr (W == 16) return k;
  else if constexpr (W == 32) return widen16to32(k);
  else return widen32to64(widen16to32(k));
}
template <int W>
__device__ __forceinline__ std::uint64_t key_of(std::uint32_t bits) {
  const std::uint32_t k = key32(bits);
  if constexpr (W == 64) return widen32to64(k);
  else return k;
}
template <int W>
__device__ __forceinline__ std::uint64_t key_of(std::uint64_t bits) {
  return key64(bits);
}

// The element's own width and its +Inf key: larger native keys are NaN.
__device__ __forceinline__ constexpr int native_width(std::uint16_t) { return 16; }
__device__ __forceinline__ constexpr int native_width(std::uint32_t) { return 32; }
__device__ __forceinline__ constexpr int native_width(std::uint64_t) { return 64; }
__device__ __forceinline__ bool is_nan(std::uint16_t b) { return key16(b) > kInfKey16; }
__device__ __forceinline__ bool is_nan(std::uint32_t b) { return key32(b) > kInfKey32; }
__device__ __forceinline__ bool is_nan(std::uint64_t b) { return key64(b) > kInfKey64; }

// |value| as a double (exact for every dtype).
__device__ __forceinline__ double abs_value(std::uint16_t b) {
  return static_cast<double>(__uint_as_float(widen16to32(key16(b))));
}
__device__ __forceinline__ double abs_value(std::uint32_t b) {
  return static_cast<double>(__uint_as_float(key32(b)));
}
__device__ __forceinline__ double abs_value(std::uint64_t b) {
  return __longlong_as_double(static_cast<long long>(key64(b)));
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
