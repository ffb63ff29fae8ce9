// Exact decimal parsing and round-half-even counts; no float ever decides how many to prune.
#include "host/rule.hpp"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <regex>

#include "common/errors.hpp"

namespace h5p {

namespace {
using u128 = unsigned __int128;

u128 pow10(int e) {
  u128 r = 1;
  for (int i = 0; i < e; ++i) r *= 10;
  return r;
}
}  // namespace

double Decimal::approx() const { return static_cast<double>(mantissa) / std::pow(10.0, scale); }

Decimal parse_decimal(const std::string& text, const std::string& option) {
  static const std::regex form(R"(^\+?([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]{1,3}))?$)");
  std::smatch m;
  const std::string bad = "invalid value '" + text + "' for " + option + ": expected a decimal number";
  if (!std::regex_match(text, m, form) || (m[1].length() == 0 && m[2].length() == 0)) throw UsageError(bad);
  std::string digits = m[1].str() + m[2].str();
  int scale = static_cast<int>(m[2].length());
  if (m[3].matched) scale -= std::stoi(m[3].str());
  // Strip leading zeros (they do not change the value) and trailing ones (they shrink the scale).
  size_t first = digits.find_first_not_of('0');
  digits = first == std::string::npos ? "0" : digits.substr(first);
  while (scale > 0 && digits.size() > 1 && digits.back() == '0') {
    digits.pop_back();
    --scale;
  }
  if (digits == "0") scale = 0;
  while (scale < 0) {
    digits += '0';
    ++scale;
  }
  if (scale > 18 || digits.size() > 19)
    throw UsageError("invalid value '" + text + "' for " + option + ": too many digits (at most 18 decimal places)");
  Decimal d;
  d.text = text;
  d.scale = scale;
  for (char c : digits) d.mantissa = d.mantissa * 10 + static_cast<unsigned>(c - '0');
  return d;
}

std::uint64_t sparsity_count(const Decimal& s, std::uint64_t n) {
  // scale <= 18 and S <= 1, so mantissa <= 10^18 < 2^60 and mantissa * n < 2^124: exact in 128 bits.
  const u128 den = pow10(s.scale);
  const u128 product = s.mantissa * static_cast<u128>(n);
  u128 q = product / den;
  const u128 r = product % den;
  const u128 twice = r * 2;
  if (twice > den || (twice == den && (q & 1))) q += 1;  // round half to even
  return static_cast<std::uint64_t>(q);
}

double parse_threshold(const std::string& text) {
  const std::string bad = "invalid value '" + text + "' for --threshold: expected a number >= 0";
  if (text.empty() || std::isspace(static_cast<unsigned char>(text[0]))) throw UsageError(bad);
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || *end != '\0') throw UsageError(bad);
  if (std::isnan(v) || v < 0) throw UsageError(bad);
  return v == 0 ? 0.0 : v;  // -0 means 0
}

std::uint64_t parse_size(const std::string& text, const std::string& option) {
  static const std::regex form(R"(^([0-9]+)\s*([kKmMgGtT]?)(i?[bB])?$)");
  std::smatch m;
  if (!std::regex_match(text, m, form))
    throw UsageError("invalid size '" + text + "' for " + option + ": expected e.g. 512M, 2G, 1048576");
  std::uint64_t v = std::stoull(m[1].str());
  int shift = 0;
  switch (std::tolower(m[2].str().empty() ? ' ' : m[2].str()[0])) {
    case 'k': shift = 10; break;
    case 'm': shift = 20; break;
    case 'g': shift = 30; break;
    case 't': shift = 40; break;
    default: break;
  }
  if (shift && v > (~0ull >> shift)) throw UsageError("size '" + text + "' for " + option + " is too large");
  return v << shift;
}

const char* scope_name(Scope s) { return s == Scope::tensor ? "tensor" : "global"; }

}  // namespace h5p
