// Element types and magnitude-key widths shared by the kernel backends.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace h5p {

enum class DType : std::uint8_t { f16, f32, f64 };

// Width of the integer keys a scope is compared in; mixed dtypes use the widest one.
enum class KeyWidth : std::uint8_t { k16 = 16, k32 = 32, k64 = 64 };

constexpr std::size_t dtype_size(DType t) {
  return t == DType::f16 ? 2 : t == DType::f32 ? 4 : 8;
}

constexpr std::string_view dtype_name(DType t) {
  return t == DType::f16 ? "float16" : t == DType::f32 ? "float32" : "float64";
}

constexpr KeyWidth native_key_width(DType t) {
  return t == DType::f16 ? KeyWidth::k16 : t == DType::f32 ? KeyWidth::k32 : KeyWidth::k64;
}

constexpr KeyWidth wider(KeyWidth a, KeyWidth b) {
  return static_cast<std::uint8_t>(a) >= static_cast<std::uint8_t>(b) ? a : b;
}

// A read-only view of one tensor (or one slab of it) in host memory.
struct ConstTensor {
  DType dtype;
  const void* data;
  std::size_t n;
};

// A writable view, for the kernels that change a tensor in place (apply, nm_apply, zero_slices).
struct MutTensor {
  DType dtype;
  void* data;
  std::size_t n;
};

}  // namespace h5p
