// Test tensors for the kernel tests: normal weights, heavy ties, or specials (-0.0, +0.0, Inf,
// subnormals and optionally NaN), as raw bits of any dtype, from a seed.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/dtype.hpp"

namespace h5p::testing {

enum class Kind { normal, ties, specials };
inline const char* kind_name(Kind k) { return k == Kind::normal ? "normal" : k == Kind::ties ? "ties" : "specials"; }

inline std::vector<unsigned char> make_data(DType t, std::size_t n, Kind kind, bool nan, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 0.05);
  std::vector<unsigned char> bytes(n * dtype_size(t));
  for (std::size_t i = 0; i < n; ++i) {
    double v = kind == Kind::ties ? std::round(normal(rng) * 40) / 40 : normal(rng);
    if (kind == Kind::specials) {
      switch (rng() % 16) {
        case 0: v = -0.0; break;
        case 1: v = 0.0; break;
        case 2: v = (rng() % 2 ? 1 : -1) * INFINITY; break;
        case 3: v = nan ? NAN : v; break;
        case 4: v = std::numeric_limits<double>::denorm_min() * double(rng() % 5 + 1); break;
        default: break;
      }
    }
    if (t == DType::f64) {
      std::memcpy(&bytes[i * 8], &v, 8);
    } else if (t == DType::f32) {
      float f = static_cast<float>(v);
      if (kind == Kind::specials && rng() % 16 == 0) f = std::numeric_limits<float>::denorm_min() * float(rng() % 7 + 1);
      std::memcpy(&bytes[i * 4], &f, 4);
    } else {
      // float16 bits: random finite halves (subnormals included), or a few values for ties.
      const std::uint16_t few[] = {0x0000, 0x8000, 0x0001, 0x03FF, 0x3C00, 0xBC00, 0x2E66, 0x7C00};
      std::uint16_t h = kind == Kind::ties ? few[rng() % 8] : static_cast<std::uint16_t>(rng() % 0x7C00);
      if (kind != Kind::ties && rng() % 2) h |= 0x8000;
      if (kind == Kind::specials && nan && rng() % 16 == 0) h = 0x7E00;
      std::memcpy(&bytes[i * 2], &h, 2);
    }
  }
  return bytes;
}

}  // namespace h5p::testing
