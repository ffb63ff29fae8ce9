// Exact decimal parsing and round-half-even counts; no float ever decides how many to prune.
#include "host/fixed_regex.hpp"
#include "host/rule.hpp"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <vector>

#include "common/errors.hpp"

namespace h5p {

double Decimal::approx() const { return std::strtod(text.c_str(), nullptr); }

bool Decimal::above_one() const {
  // value = digits / 10^scale > 1  <=>  the integer part is > 1, or == 1 with a nonzero fraction.
  const std::size_t int_len = digits.size() > static_cast<std::size_t>(scale) ? digits.size() - scale : 0;
  const std::string int_part = int_len ? digits.substr(0, int_len) : "0";
  const bool frac_nonzero = digits.substr(int_len).find_first_not_of('0') != std::string::npos;
  if (int_part.size() > 1) return true;
  return int_part[0] > '1' || (int_part[0] == '1' && frac_nonzero);
}

Decimal parse_decimal(const std::string& text, const std::string& option) {
  static const FixedRegex form(R"(^\+?([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]{1,3}))?$)");
  const std::string bad = "invalid value '" + text + "' for " + option + ": expected a decimal number";
  const auto m = text.size() > 200 ? std::nullopt : form.match(text);
  const std::string whole = m ? (*m)[0].value_or("") : "", frac = m ? (*m)[1].value_or("") : "";
  if (!m || (whole.empty() && frac.empty())) throw UsageError(bad);
  std::string digits = whole + frac;
  int scale = static_cast<int>(frac.size());
  if ((*m)[2]) scale -= std::stoi(*(*m)[2]);
  while (scale < 0) {  // 5e2 -> 500
    digits += '0';
    ++scale;
  }
  const size_t first = digits.find_first_not_of('0');
  Decimal d;
  d.text = text;
  d.digits = first == std::string::npos ? "0" : digits.substr(first);
  d.scale = scale;
  return d;
}

std::uint64_t sparsity_count(const Decimal& s, std::uint64_t n) {
  // Exact decimal product digits * n (schoolbook, base 10), then split at the decimal point
  // and round the dropped digits half to even. No binary floating point is involved.
  const std::string n_text = std::to_string(n);
  std::vector<int> prod(s.digits.size() + n_text.size(), 0);  // little-endian decimal digits
  for (std::size_t i = 0; i < s.digits.size(); ++i) {
    const int a = s.digits[s.digits.size() - 1 - i] - '0';
    for (std::size_t j = 0; j < n_text.size(); ++j) prod[i + j] += a * (n_text[n_text.size() - 1 - j] - '0');
  }
  for (std::size_t i = 0; i + 1 < prod.size(); ++i) {
    prod[i + 1] += prod[i] / 10;
    prod[i] %= 10;
  }
  const std::size_t scale = static_cast<std::size_t>(s.scale);
  // Integer part: digits at positions >= scale (fits in 64 bits because S <= 1).
  std::uint64_t q = 0;
  for (std::size_t i = prod.size(); i > scale; --i) q = q * 10 + static_cast<std::uint64_t>(prod[i - 1]);
  // Dropped part compared with one half: its first digit against 5, then any nonzero rest.
  if (scale > 0 && scale <= prod.size()) {
    const int lead = prod[scale - 1];
    bool rest_nonzero = false;
    for (std::size_t i = 0; i + 1 < scale; ++i) rest_nonzero |= prod[i] != 0;
    if (lead > 5 || (lead == 5 && (rest_nonzero || (q & 1)))) q += 1;
  }
  return q;
}

Decimal parse_relative_threshold(const std::string& text, const std::string& option) {
  const Decimal r = parse_decimal(text, option);
  if (r.above_one()) throw UsageError("invalid value '" + text + "' for " + option + ": must be between 0 and 1");
  return r;
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
  static const FixedRegex form(R"(^([0-9]+)\s*([kKmMgGtT]?)(i?[bB])?$)");
  const auto m = form.match(text);
  if (!m) throw UsageError("invalid size '" + text + "' for " + option + ": expected e.g. 512M, 2G, 1048576");
  const std::string number = *(*m)[0], unit = *(*m)[1];
  if (number.size() > 19) throw UsageError("size '" + text + "' for " + option + " is too large");
  std::uint64_t v = std::stoull(number);
  int shift = 0;
  switch (std::tolower(unit.empty() ? ' ' : unit[0])) {
    case 'k': shift = 10; break;
    case 'm': shift = 20; break;
    case 'g': shift = 30; break;
    case 't': shift = 40; break;
    default: break;
  }
  if (shift && v > (~0ull >> shift)) throw UsageError("size '" + text + "' for " + option + " is too large");
  return v << shift;
}

void parse_nm(const std::string& text, Rule& rule) {
  static const FixedRegex form(R"(^([0-9]{1,3}):([0-9]{1,3})$)");
  const std::string bad = "invalid value '" + text + "' for --nm: expected N:M with 1 <= N <= M <= 256 (e.g. 2:4)";
  const auto m = form.match(text);
  if (!m) throw UsageError(bad);
  const unsigned n = static_cast<unsigned>(std::stoul(*(*m)[0]));
  const unsigned g = static_cast<unsigned>(std::stoul(*(*m)[1]));
  if (n < 1 || n > g || g > 256) throw UsageError(bad);
  rule.mode = RuleMode::nm;
  rule.nm_keep = n;
  rule.nm_group = g;
}

std::optional<int> parse_nm_axis(const std::string& text) {
  static const FixedRegex form(R"(^-?[0-9]{1,2}$)");
  if (text == "auto") return std::nullopt;
  if (text == "last") return -1;
  if (!form.matches(text))
    throw UsageError("invalid value '" + text + "' for --nm-axis: expected auto, last or an axis (0, 1, -1, ...)");
  return std::stoi(text);
}

int parse_structured_norm(const std::string& text, const std::string& option) {
  if (text == "l1" || text == "L1") return 1;
  if (text == "l2" || text == "L2") return 2;
  throw UsageError("invalid value '" + text + "' for " + option + ": expected l1 or l2");
}

std::optional<int> parse_structured_axis(const std::string& text) {
  static const FixedRegex form(R"(^-?[0-9]{1,2}$)");
  if (text == "auto") return std::nullopt;
  if (text == "last") return -1;
  if (!form.matches(text))
    throw UsageError("invalid value '" + text + "' for --structured-axis: expected auto, last or an axis (0, 1, -1, ...)");
  return std::stoi(text);
}

int resolve_axis(const std::optional<int>& axis, int reduction_axis, std::size_t ndim) {
  if (!axis) return reduction_axis;
  const int n = static_cast<int>(ndim);
  const int a = *axis < 0 ? n + *axis : *axis;
  return a >= 0 && a < n ? a : -1;
}

const char* scope_name(Scope s) { return s == Scope::tensor ? "tensor" : "global"; }

}  // namespace h5p
