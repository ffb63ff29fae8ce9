// --include/--exclude matching through RE2 (see path_regex.hpp for why).
#include "host/path_regex.hpp"

#include <re2/re2.h>

#include "common/errors.hpp"

namespace h5p {

PathRegex::PathRegex(const std::string& pattern, const std::string& option) {
  RE2::Options opts;
  opts.set_log_errors(false);
  opts.set_encoding(RE2::Options::EncodingLatin1);  // names are bytes, UTF-8 or not
  opts.set_max_mem(64 << 20);
  re_ = std::make_unique<re2::RE2>(pattern, opts);
  if (!re_->ok())
    throw UsageError("invalid regular expression '" + pattern + "' for " + option + ": " + re_->error());
}

PathRegex::~PathRegex() = default;
PathRegex::PathRegex(PathRegex&&) noexcept = default;
PathRegex& PathRegex::operator=(PathRegex&&) noexcept = default;

bool PathRegex::search(const std::string& text) const { return RE2::PartialMatch(text, *re_); }

}  // namespace h5p
