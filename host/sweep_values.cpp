// Exact expansion of a:b:step ranges: every value is an integer count of 10^-scale.
#include "host/sweep_values.hpp"

#include <algorithm>
#include <sstream>

#include "common/errors.hpp"
#include "host/rule.hpp"

namespace h5p {
namespace {

using u128 = unsigned __int128;

// The decimal as an integer number of 10^-scale units (scale >= its own scale).
u128 scaled(const Decimal& d, int scale, const std::string& option) {
  if (d.digits.size() + static_cast<std::size_t>(scale - d.scale) > 36)
    throw UsageError("range value '" + d.text + "' for " + option + " has too many digits");
  u128 v = 0;
  for (char c : d.digits) v = v * 10 + static_cast<unsigned>(c - '0');
  for (int i = d.scale; i < scale; ++i) v *= 10;
  return v;
}

std::string format_scaled(u128 v, int scale) {
  std::string digits;
  do {
    digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(v % 10)));
    v /= 10;
  } while (v > 0);
  if (scale == 0) return digits;
  if (static_cast<int>(digits.size()) <= scale) digits.insert(0, static_cast<std::size_t>(scale + 1) - digits.size(), '0');
  std::string s = digits.substr(0, digits.size() - scale) + "." + digits.substr(digits.size() - scale);
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s;
}

}  // namespace

std::vector<std::string> expand_sweep_values(const std::string& spec, const std::string& option) {
  std::vector<std::string> out;
  if (spec.find(':') != std::string::npos) {
    std::vector<std::string> parts;
    std::stringstream ss(spec);
    for (std::string p; std::getline(ss, p, ':');) parts.push_back(p);
    if (parts.size() != 3) throw UsageError("invalid range '" + spec + "' for " + option + ": expected start:stop:step");
    const Decimal a = parse_decimal(parts[0], option), b = parse_decimal(parts[1], option),
                  step = parse_decimal(parts[2], option);
    const int scale = std::max({a.scale, b.scale, step.scale});
    const u128 va = scaled(a, scale, option), vb = scaled(b, scale, option), vs = scaled(step, scale, option);
    if (vs == 0) throw UsageError("invalid range '" + spec + "' for " + option + ": step must be positive");
    if (va > vb) throw UsageError("invalid range '" + spec + "' for " + option + ": start is above stop");
    if ((vb - va) / vs + 1 > kMaxSweepPoints)
      throw UsageError("range '" + spec + "' for " + option + " has more than " + std::to_string(kMaxSweepPoints) + " points");
    for (u128 v = va; v <= vb; v += vs) out.push_back(format_scaled(v, scale));
    return out;
  }
  std::stringstream ss(spec);
  for (std::string p; std::getline(ss, p, ',');) {
    if (p.empty()) throw UsageError("invalid list '" + spec + "' for " + option + ": empty value");
    out.push_back(p);
  }
  if (out.empty()) throw UsageError("no values given for " + option);
  if (out.size() > kMaxSweepPoints) throw UsageError("more than " + std::to_string(kMaxSweepPoints) + " values for " + option);
  return out;
}

}  // namespace h5p
