// The escape for names that are not valid UTF-8; see json_names.hpp.
#include "formats/json_names.hpp"

#include <algorithm>
#include <cstdio>
#include <vector>

namespace h5p {

using nlohmann::json;

namespace {

// Length of the valid UTF-8 sequence at s[i], or 0 (overlong forms, surrogates and code
// points above U+10FFFF are invalid, as nlohmann::json's own check says).
std::size_t utf8_length(const std::string& s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) return 1;
  std::size_t n = 0;
  unsigned lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) n = 2;
  else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (b(i + 1) < lo || b(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k)
    if (b(i + k) < 0x80 || b(i + k) > 0xBF) return 0;
  return n;
}

std::string hex(const std::string& s) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

bool unhex(const std::string& h, std::string& out) {
  if (h.size() % 2) return false;
  out.clear();
  for (std::size_t i = 0; i < h.size(); i += 2) {
    unsigned v = 0;
    if (std::sscanf(h.c_str() + i, "%2x", &v) != 1) return false;
    out += static_cast<char>(v);
  }
  return true;
}

bool invalid_string(const json& v) { return v.is_string() && !is_valid_utf8(v.get_ref<const std::string&>()); }

}  // namespace

bool is_valid_utf8(const std::string& s) {
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string printable(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const std::size_t n = utf8_length(s, i);
    if (n == 0 || c < 0x20 || c == 0x7F || (n == 2 && c == 0xC2 && static_cast<unsigned char>(s[i + 1]) < 0xA0)) {
      char buf[8];
      for (std::size_t k = 0; k < std::max<std::size_t>(n, 1); ++k) {
        std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(s[i + k]));
        out += buf;
      }
      i += std::max<std::size_t>(n, 1);
    } else {
      out.append(s, i, n);
      i += n;
    }
  }
  return out;
}

json json_safe(json j) {
  if (j.is_array()) {
    for (auto& e : j) e = json_safe(std::move(e));
  } else if (j.is_object()) {
    std::vector<std::pair<std::string, json>> extra;
    for (auto it = j.begin(); it != j.end(); ++it) {
      json& v = it.value();
      if (invalid_string(v)) {
        extra.emplace_back(it.key() + "_hex", hex(v.get<std::string>()));
        v = printable(v.get<std::string>());
      } else if (v.is_array() && std::any_of(v.begin(), v.end(), invalid_string)) {
        json hexes = json::array();
        for (auto& e : v) {
          if (invalid_string(e)) {
            hexes.push_back(hex(e.get<std::string>()));
            e = printable(e.get<std::string>());
          } else {
            hexes.push_back(nullptr);
          }
        }
        extra.emplace_back(it.key() + "_hex", std::move(hexes));
      } else {
        v = json_safe(std::move(v));
      }
    }
    for (auto& [k, v] : extra) j[k] = std::move(v);
  }
  return j;
}

json json_restore(json j) {
  if (j.is_array()) {
    for (auto& e : j) e = json_restore(std::move(e));
  } else if (j.is_object()) {
    std::vector<std::string> done;
    for (auto it = j.begin(); it != j.end(); ++it) {
      const std::string& k = it.key();
      if (k.size() > 4 && k.compare(k.size() - 4, 4, "_hex") == 0) continue;
      auto h = j.find(k + "_hex");
      json& v = it.value();
      if (h == j.end()) {
        v = json_restore(std::move(v));
        continue;
      }
      std::string raw;
      if (v.is_string() && h->is_string() && unhex(h->get<std::string>(), raw)) {
        v = raw;
      } else if (v.is_array() && h->is_array() && h->size() == v.size()) {
        for (std::size_t i = 0; i < v.size(); ++i)
          if ((*h)[i].is_string() && unhex((*h)[i].get<std::string>(), raw)) v[i] = raw;
      }
      done.push_back(k + "_hex");
    }
    for (const auto& k : done) j.erase(k);
  }
  return j;
}

}  // namespace h5p
