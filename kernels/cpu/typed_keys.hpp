// Typed element access for the CPU loops: bits -> magnitude key in a chosen width, and
// bits -> |value| as a double, plus a dispatch from (dtype, key width) to a template call.
#pragma once
#include <bit>
#include <cstdint>

#include "kernels/dtype.hpp"
#include "kernels/keys.hpp"

namespace h5p::cpu {

// Element bits -> key in the requested width, and -> |value| as a double (exact).
struct Half {
  using Bits = std::uint16_t;
  static constexpr KeyWidth native = KeyWidth::k16;
  // The float32 key of the same magnitude (widen16to32), computed without branches or a table
  // so that the loops over it vectorise (a table's gathers kept them scalar, 3x slower): the
  // exponent rebiased, Inf/NaN kept, and a subnormal half as its integer mantissa times 2^-24
  // (exact, and never a subnormal float, so no flush-to-zero mode can change it). Equal to
  // widen16to32 for all 32768 keys (tests/kernels/test_keys.cpp).
  static std::uint32_t float_key(Bits b) {
    const std::uint32_t k = key16(b);
    const std::uint32_t normal = (k << 13) + 0x38000000u;   // exponent 1..30: rebias 15 -> 127
    const std::uint32_t special = (k << 13) | 0x7F800000u;  // exponent 31: Inf, NaN
    const std::uint32_t sub = std::bit_cast<std::uint32_t>(static_cast<float>(static_cast<std::int32_t>(k)) * 0x1p-24f);
    const std::uint32_t is_sub = 0u - static_cast<std::uint32_t>(k < 0x400u);
    const std::uint32_t is_special = 0u - static_cast<std::uint32_t>(k >= 0x7C00u);
    return (sub & is_sub) | (~is_sub & ((special & is_special) | (normal & ~is_special)));
  }
  template <KeyWidth W>
  static std::uint64_t key(Bits b) {
    if constexpr (W == KeyWidth::k16) return key16(b);
    else if constexpr (W == KeyWidth::k32) return float_key(b);
    else return widen32to64(float_key(b));
  }
  static double abs_value(Bits b) { return static_cast<double>(std::bit_cast<float>(float_key(b))); }
};
struct Float {
  using Bits = std::uint32_t;
  static constexpr KeyWidth native = KeyWidth::k32;
  template <KeyWidth W>
  static std::uint64_t key(Bits b) {
    if constexpr (W == KeyWidth::k64) return widen32to64(key32(b));
    else return key32(b);
  }
  static double abs_value(Bits b) { return static_cast<double>(std::bit_cast<float>(key32(b))); }
};
struct Double {
  using Bits = std::uint64_t;
  static constexpr KeyWidth native = KeyWidth::k64;
  template <KeyWidth W>
  static std::uint64_t key(Bits b) { return key64(b); }
  static double abs_value(Bits b) { return std::bit_cast<double>(key64(b)); }
};

// Calls f.template operator()<Elem, W>() for the tensor's dtype and the key width.
template <typename F>
void dispatch(DType t, KeyWidth w, F&& f) {
  switch (t) {
    case DType::f16:
      if (w == KeyWidth::k16) f.template operator()<Half, KeyWidth::k16>();
      else if (w == KeyWidth::k32) f.template operator()<Half, KeyWidth::k32>();
      else f.template operator()<Half, KeyWidth::k64>();
      return;
    case DType::f32:
      if (w == KeyWidth::k64) f.template operator()<Float, KeyWidth::k64>();
      else f.template operator()<Float, KeyWidth::k32>();
      return;
    case DType::f64:
      f.template operator()<Double, KeyWidth::k64>();
      return;
  }
}

}  // namespace h5p::cpu
