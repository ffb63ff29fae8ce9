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

// Points `alias` at `version` (which must exist), atomically replacing an older value.
void set_alias(const Layout& l, const std::string& model, const std::string& alias, int version);

// Removes the alias; RegistryError when there is none.
void delete_alias(const Layout& l, const std::string& model, const std::string& alias);

}  // namespace h5p::registry
