// Fixed patterns that check option values and file names (--time, --mem, sizes, durations...):
// RE2, linear time and no recursion, so a 60,000-character value cannot overflow the stack the
// way std::regex's backtracking does.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace re2 {
class RE2;
}

namespace h5p {

class FixedRegex {
 public:
  // `pattern` is the program's own (RE2 syntax); an invalid one is a programming error
  // (std::logic_error).
  explicit FixedRegex(const char* pattern);
  ~FixedRegex();

  // Captured groups, in order; nullopt for a group that took no part in the match.
  using Groups = std::vector<std::optional<std::string>>;

  // The groups when the pattern matches the whole of `text`, else nullopt.
  std::optional<Groups> match(std::string_view text) const;
  // Whether the pattern matches the whole of `text`.
  bool matches(std::string_view text) const;
  // Whether the pattern matches a prefix of `text`.
  bool matches_prefix(std::string_view text) const;

 private:
  std::unique_ptr<re2::RE2> re_;
};

}  // namespace h5p
