// Exact comparison |w| >= R x max as integers: both magnitudes are dyadic (m x 2^e) and R is
// D / 10^s, so |w| x 10^s >= D x max is a comparison of big integers after aligning exponents.
#include "host/relative_threshold.hpp"

#include <boost/multiprecision/cpp_int.hpp>
#include <cmath>

#include "kernels/keys.hpp"

namespace h5p {
namespace {

using Big = boost::multiprecision::cpp_int;

// v = mantissa x 2^exponent with an integer mantissa (v finite, >= 0).
void split(double v, Big& mantissa, int& exponent) {
  int e = 0;
  const double f = std::frexp(v, &e);  // v = f x 2^e, 0.5 <= f < 1
  mantissa = Big(static_cast<std::uint64_t>(std::ldexp(f, 53)));
  exponent = e - 53;
}

// a x 10^scale >= digits x b, exactly (a, b finite and >= 0).
bool at_least_scaled(double a, const Big& ten_pow, const Big& digits, double b) {
  Big ma, mb;
  int ea = 0, eb = 0;
  split(a, ma, ea);
  split(b, mb, eb);
  Big left = ma * ten_pow, right = digits * mb;
  const int e = std::min(ea, eb);
  left <<= (ea - e);
  right <<= (eb - e);
  return left >= right;
}

Big power_of_ten(int scale) {
  Big p = 1;
  for (int i = 0; i < scale; ++i) p *= 10;
  return p;
}

}  // namespace

bool equals_relative_threshold(KeyWidth w, std::uint64_t key, std::uint64_t max_key, const Decimal& r) {
  const double v = key_value(w, key), m = key_value(w, max_key);
  if (std::isinf(v) || std::isinf(m)) return false;
  const Big digits(r.digits), ten = power_of_ten(r.scale);
  // v x 10^s == D x m  <=>  v x 10^s >= D x m and D x m >= v x 10^s
  Big mv, mm;
  int ev = 0, em = 0;
  split(v, mv, ev);
  split(m, mm, em);
  Big left = mv * ten, right = digits * mm;
  const int e = std::min(ev, em);
  left <<= (ev - e);
  right <<= (em - e);
  return left == right;
}

std::uint64_t relative_threshold_key(KeyWidth w, std::uint64_t max_key, const Decimal& r) {
  const Big digits(r.digits);
  if (digits == 0) return 0;  // R = 0 prunes nothing
  const double max_value = key_value(w, max_key);
  if (std::isinf(max_value)) return inf_key(w);  // R x Inf: every finite weight is below
  const Big ten_pow = power_of_ten(r.scale);
  // Binary search over [0, inf_key]: key_value is monotonic there and exact.
  std::uint64_t lo = 0, hi = inf_key(w);
  while (lo < hi) {
    const std::uint64_t mid = lo + (hi - lo) / 2;
    const double v = key_value(w, mid);
    if (std::isinf(v) || at_least_scaled(v, ten_pow, digits, max_value)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

}  // namespace h5p
