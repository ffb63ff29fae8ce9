// Aliases: one small file per alias holding a version number, replaced by rename.
#pragma once
#include <map>
#include <optional>
#include <string>

#include "host/registry/layout.hpp"

namespace h5p::registry {

// The version an alias points at; nullopt when there is no such alias. RegistryError when damaged.
std::optional<int> read_alias(const Layout& l, const std::string& model, const std::string& alias);

// alias -> version, sorted by name; skips temporaries.
std::map<std::string, int> list_aliases(const Layout& l, const std::string& model);

// Points `alias` at `version` (which must exist and be live), atomically replacing an older
// value; a move is recorded in the alias history (alias_history.hpp).
void set_alias(const Layout& l, const std::string& model, const std::string& alias, int version);

// Removes the alias, recording `action` in its history; RegistryError when there is none.
void delete_alias(const Layout& l, const std::string& model, const std::string& alias,
                  const std::string& action = "delete");

}  // namespace h5p::registry
