// Alias history: every move or removal of an alias is recorded as one small file of its own
// (models/NAME/alias-history/<time>.<token>.json, written once, never changed), so concurrent
// writers need no lock. Written after the alias file itself: the alias file is the truth, the
// history its record (a writer killed between the two loses that one line).
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "host/registry/layout.hpp"

namespace h5p::registry {

struct AliasEvent {
  std::string alias;
  std::string action;        // "set", "delete", or "delete (rm --force of N)"
  std::optional<int> from;   // the version it pointed at before (none for a new alias)
  std::optional<int> to;     // none after a delete
  std::string time;          // ISO 8601 UTC
  std::string user, host;
};

void record_alias_event(const Layout& l, const std::string& model, const AliasEvent& e);

// The events of one alias (or of every alias when `alias` is empty), oldest first.
std::vector<AliasEvent> alias_history(const Layout& l, const std::string& model, const std::string& alias);

}  // namespace h5p::registry
