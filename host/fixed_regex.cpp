// Option-value patterns through RE2 (see fixed_regex.hpp for why not std::regex).
#include "host/fixed_regex.hpp"

#include <re2/re2.h>

#include <stdexcept>

namespace h5p {

FixedRegex::FixedRegex(const char* pattern) {
  RE2::Options opts;
  opts.set_log_errors(false);
  opts.set_encoding(RE2::Options::EncodingLatin1);  // values are bytes, UTF-8 or not
  re_ = std::make_unique<re2::RE2>(pattern, opts);
  if (!re_->ok()) throw std::logic_error(std::string("bad built-in pattern ") + pattern + ": " + re_->error());
}

FixedRegex::~FixedRegex() = default;

std::optional<FixedRegex::Groups> FixedRegex::match(std::string_view text) const {
  const int n = re_->NumberOfCapturingGroups();
  std::vector<re2::StringPiece> pieces(static_cast<std::size_t>(n) + 1);
  if (!re_->Match(re2::StringPiece(text.data(), text.size()), 0, text.size(), RE2::ANCHOR_BOTH, pieces.data(),
                  static_cast<int>(pieces.size())))
    return std::nullopt;
  Groups groups;
  for (int i = 1; i <= n; ++i) {
    const re2::StringPiece& p = pieces[static_cast<std::size_t>(i)];
    // RE2 gives a null data pointer for a group that did not participate.
    groups.push_back(p.data() ? std::optional<std::string>(std::string(p.data(), p.size())) : std::nullopt);
  }
  return groups;
}

bool FixedRegex::matches(std::string_view text) const {
  return re_->Match(re2::StringPiece(text.data(), text.size()), 0, text.size(), RE2::ANCHOR_BOTH, nullptr, 0);
}

bool FixedRegex::matches_prefix(std::string_view text) const {
  return re_->Match(re2::StringPiece(text.data(), text.size()), 0, text.size(), RE2::ANCHOR_START, nullptr, 0);
}

}  // namespace h5p
