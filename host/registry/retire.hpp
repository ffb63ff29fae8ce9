// Retiring versions (`h5prune rm`, `gc --keep-last/--older-than`): a `retired` file written into
// versions/N by one atomic link is the commit point. A retired version is gone from every
// listing and lookup, its number stays taken (never reused), its manifest stays as the record,
// and its blob is removed by gc once no live version refers to it.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "host/registry/layout.hpp"

namespace h5p::registry {

bool is_retired(const Layout& l, const std::string& model, int version);

struct Retired {
  int version = 0;
  std::vector<std::string> aliases_removed;  // with force
  bool already = false;                      // someone retired it first
};

// Retires model@version. Refuses (RegistryError) while an alias points at it unless `force`,
// which removes those aliases first (each removal goes into the alias history). `reason` is
// recorded in the marker ("rm", "keep-last 3", ...).
Retired retire_version(const Layout& l, const std::string& model, int version, bool force, const std::string& reason);

// Retention: which live versions of a model a policy would retire. A version is kept when any
// rule keeps it: among the newest `keep_last` (by number), younger than `older_than` seconds
// (by its manifest's creation time), or pointed at by an alias. With neither rule nothing is
// retired. A version whose manifest cannot be read is kept (verify reports it).
struct RetentionPolicy {
  std::optional<int> keep_last;
  std::optional<double> older_than_seconds;
  bool active() const { return keep_last || older_than_seconds; }
  std::string text() const;  // "keep-last 3, older-than 604800s"
};
std::vector<int> versions_to_retire(const Layout& l, const std::string& model, const RetentionPolicy& policy, double now);

}  // namespace h5p::registry
