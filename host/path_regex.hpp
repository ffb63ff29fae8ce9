// The regular expressions users give to select tensors (--include, --exclude): RE2, a
// linear-time engine without backtracking or recursion, so a pattern like '.*' cannot overflow
// the stack or run for hours on a 60,000-character dataset name from a hostile file.
#pragma once
#include <memory>
#include <string>

namespace re2 {
class RE2;
}

namespace h5p {

class PathRegex {
 public:
  // Compiles `pattern` (RE2 syntax); UsageError naming `option` when it is not valid.
  PathRegex(const std::string& pattern, const std::string& option);
  ~PathRegex();
  PathRegex(PathRegex&&) noexcept;
  PathRegex& operator=(PathRegex&&) noexcept;

  // True when the pattern matches anywhere in `text` (anchor with ^...$ for the whole of it).
  bool search(const std::string& text) const;

 private:
  std::unique_ptr<re2::RE2> re_;
};

}  // namespace h5p
