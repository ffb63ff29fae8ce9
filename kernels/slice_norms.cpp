// Exact slice norms: a value m x 2^(q + qmin) (m the integer significand, q >= 0) adds m << q
// (p = 1) or m^2 << 2q (p = 2) to its slice's integer, with 64 bits of headroom for carries.
#include "kernels/slice_norms.hpp"

#include <cmath>
#include <stdexcept>

namespace h5p {

namespace {
int fraction_bits(DType t) { return t == DType::f16 ? 10 : t == DType::f32 ? 23 : 52; }
int exponent_bits(DType t) { return t == DType::f16 ? 5 : t == DType::f32 ? 8 : 11; }
// Adds v << shift to the little-endian integer acc[0 .. limbs).
void add_shifted(std::uint64_t* acc, std::size_t limbs, unsigned __int128 v, std::size_t shift) {
  const std::size_t i = shift / 64;
  const unsigned b = static_cast<unsigned>(shift % 64);
  const std::uint64_t w0 = static_cast<std::uint64_t>(v), w1 = static_cast<std::uint64_t>(v >> 64);
  const std::uint64_t part[3] = {b ? w0 << b : w0, b ? (w1 << b) | (w0 >> (64 - b)) : w1, b ? w1 >> (64 - b) : 0};
  std::uint64_t carry = 0;
  std::size_t j = i;
  for (int k = 0; k < 3 && j < limbs; ++k, ++j) {
    const unsigned __int128 s = static_cast<unsigned __int128>(acc[j]) + part[k] + carry;
    acc[j] = static_cast<std::uint64_t>(s);
    carry = static_cast<std::uint64_t>(s >> 64);
  }
  for (; carry && j < limbs; ++j) carry = ++acc[j] == 0;
}

}  // namespace

SliceNorms::SliceNorms(DType dtype, int p, std::size_t slices)
    : dtype_(dtype), p_(p), slices_(slices), frac_bits_(fraction_bits(dtype)) {
  if (p != 1 && p != 2) throw std::invalid_argument("SliceNorms: p must be 1 or 2");
  const int e = exponent_bits(dtype);
  exp_mask_ = (std::uint64_t{1} << e) - 1;
  // Largest shift (the top finite exponent) plus the significand's bits, then 64 for carries.
  const std::size_t top = static_cast<std::size_t>(p) * ((std::size_t{1} << e) - 3 + static_cast<std::size_t>(frac_bits_) + 1);
  limbs_ = (top + 64 + 63) / 64;
  acc_.assign(slices_ * limbs_, 0);
  inf_.assign(slices_, 0);
}

void SliceNorms::add_bits(std::size_t s, std::uint64_t bits) {
  const std::uint64_t field = (bits >> frac_bits_) & exp_mask_;
  const std::uint64_t frac = bits & ((std::uint64_t{1} << frac_bits_) - 1);
  if (field == exp_mask_) {  // infinity (NaN never reaches here)
    ++inf_[s];
    return;
  }
  if (field == 0 && frac == 0) return;
  const std::uint64_t m = field == 0 ? frac : frac | (std::uint64_t{1} << frac_bits_);
  const std::size_t q = field == 0 ? 0 : static_cast<std::size_t>(field - 1);
  std::uint64_t* acc = &acc_[s * limbs_];
  if (p_ == 1) add_shifted(acc, limbs_, m, q);
  else add_shifted(acc, limbs_, static_cast<unsigned __int128>(m) * m, 2 * q);
}

void SliceNorms::merge(const SliceNorms& o) {
  if (o.dtype_ != dtype_ || o.p_ != p_ || o.slices_ != slices_) throw std::invalid_argument("SliceNorms::merge: mismatch");
  for (std::size_t s = 0; s < slices_; ++s) {
    inf_[s] += o.inf_[s];
    std::uint64_t* a = &acc_[s * limbs_];
    const std::uint64_t* b = &o.acc_[s * limbs_];
    std::uint64_t carry = 0;
    for (std::size_t j = 0; j < limbs_; ++j) {
      const unsigned __int128 sum = static_cast<unsigned __int128>(a[j]) + b[j] + carry;
      a[j] = static_cast<std::uint64_t>(sum);
      carry = static_cast<std::uint64_t>(sum >> 64);
    }
  }
}

int SliceNorms::compare(std::size_t a, std::size_t b) const {
  const bool ia = inf_[a] > 0, ib = inf_[b] > 0;
  if (ia || ib) return ia == ib ? 0 : ia ? 1 : -1;
  const std::uint64_t* x = &acc_[a * limbs_];
  const std::uint64_t* y = &acc_[b * limbs_];
  for (std::size_t j = limbs_; j-- > 0;)
    if (x[j] != y[j]) return x[j] < y[j] ? -1 : 1;
  return 0;
}

double SliceNorms::value(std::size_t s) const {
  if (inf_[s] > 0) return INFINITY;
  // The unit: the smallest subnormal, 2^(1 - bias - fraction bits), to the power p.
  const int bias = static_cast<int>(exp_mask_ >> 1);
  const int unit = p_ * (1 - bias - frac_bits_);
  double sum = 0.0;
  const std::uint64_t* x = &acc_[s * limbs_];
  for (std::size_t j = limbs_; j-- > 0;) sum += std::ldexp(static_cast<double>(x[j]), unit + static_cast<int>(64 * j));
  return p_ == 1 ? sum : std::sqrt(sum);
}

}  // namespace h5p
