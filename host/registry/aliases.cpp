// Alias files: "<version>\n", written to a temporary and renamed over the old one.
#include "host/registry/aliases.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

#include "common/errors.hpp"
#include "host/registry/alias_history.hpp"
#include "host/registry/fs_ops.hpp"
#include "host/registry/retire.hpp"

namespace h5p::registry {

namespace {
int parse_alias_text(const std::string& text, const std::string& path) {
  std::string t = text;
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
  if (t.empty() || t.size() > 9 || !std::all_of(t.begin(), t.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
    throw RegistryError("damaged alias file '" + path + "': expected a version number");
  return std::stoi(t);
}
}  // namespace

std::optional<int> read_alias(const Layout& l, const std::string& model, const std::string& alias) {
  if (!valid_name(alias)) return std::nullopt;
  const std::string path = l.alias_path(model, alias);
  const auto text = read_small_file(l, path);
  if (!text) return std::nullopt;
  return parse_alias_text(*text, path);
}

std::map<std::string, int> list_aliases(const Layout& l, const std::string& model) {
  std::map<std::string, int> out;
  for (const auto& name : list_dir(l, l.aliases_dir(model))) {
    if (!valid_name(name)) continue;  // temporaries start with '.'
    if (auto v = read_alias(l, model, name)) out[name] = *v;
  }
  return out;
}

void set_alias(const Layout& l, const std::string& model, const std::string& alias, int version) {
  check_alias_name(alias);
  if (!is_dir(l, l.version_dir(model, version)))
    throw RegistryError("no version " + model + "@" + std::to_string(version) + " in registry '" + l.root() + "'");
  if (is_retired(l, model, version))
    throw RegistryError("version " + model + "@" + std::to_string(version) + " was retired: an alias cannot point at it");
  make_dir(l, l.aliases_dir(model));
  const std::optional<int> before = read_alias(l, model, alias);
  write_file_atomic(l, l.alias_path(model, alias), std::to_string(version) + "\n", /*replace=*/true);
  if (before != version)
    record_alias_event(l, model, {alias, "set", before, version, iso8601_utc(now_seconds()), user_name(), host_name()});
}

void delete_alias(const Layout& l, const std::string& model, const std::string& alias, const std::string& action) {
  check_alias_name(alias);
  const std::string path = l.alias_path(model, alias);
  const EntryKind kind = entry_kind(l, path);
  if (kind == EntryKind::missing) throw RegistryError("no alias '" + alias + "' for model '" + model + "'");
  if (kind != EntryKind::file)
    throw RegistryError("not removing alias '" + path + "': it is " + describe(kind) + ", not an alias file");
  std::optional<int> before;
  try {
    before = read_alias(l, model, alias);
  } catch (const RegistryError&) {
  }
  remove_entry(l, path);
  fsync_dir(l, l.aliases_dir(model));
  record_alias_event(l, model, {alias, action, before, std::nullopt, iso8601_utc(now_seconds()), user_name(), host_name()});
}

}  // namespace h5p::registry
