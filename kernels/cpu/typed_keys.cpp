// The float16 -> float32 key table behind cpu::Half.
#include "kernels/cpu/typed_keys.hpp"

#include <array>

namespace h5p::cpu {

const std::uint32_t* half_to_float_keys() {
  static const std::array<std::uint32_t, 32768> table = [] {
    std::array<std::uint32_t, 32768> t{};
    for (std::uint32_t k = 0; k < t.size(); ++k) t[k] = widen16to32(static_cast<std::uint16_t>(k));
    return t;
  }();
  return table.data();
}

}  // namespace h5p::cpu
