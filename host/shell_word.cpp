// One quoting rule for every shell word h5prune writes.
#include "host/shell_word.hpp"

namespace h5p {

std::string shell_word(const std::string& value) {
  std::string q = "'";
  for (char c : value) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

}  // namespace h5p
