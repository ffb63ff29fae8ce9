// Retire markers, rm's alias check, and the retention policy's choice.
#include "host/registry/retire.hpp"

#include <algorithm>
#include <ctime>
#include <nlohmann/json.hpp>
#include <set>

#include "common/errors.hpp"
#include "host/registry/aliases.hpp"
#include "host/registry/crash_hook.hpp"
#include "host/registry/fs_ops.hpp"
#include "host/registry/versions.hpp"

namespace h5p::registry {

namespace {

std::string marker_path(const Layout& l, const std::string& model, int v) { return l.version_dir(model, v) + "/retired"; }

// "2026-11-29T10:00:00.123Z" -> Unix seconds; nullopt when it does not parse.
std::optional<double> iso_seconds(const std::string& s) {
  std::tm tm{};
  int ms = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec, &ms) < 6)
    return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<double>(::timegm(&tm)) + ms / 1000.0;
}

}  // namespace

bool is_retired(const Layout& l, const std::string& model, int version) {
  return exists(l, marker_path(l, model, version));
}

std::string RetentionPolicy::text() const {
  std::string s;
  if (keep_last) s = "keep-last " + std::to_string(*keep_last);
  if (older_than_seconds) s += (s.empty() ? "" : ", ") + std::string("older-than ") + std::to_string(static_cast<long long>(*older_than_seconds)) + "s";
  return s;
}

Retired retire_version(const Layout& l, const std::string& model, int version, bool force, const std::string& reason) {
  check_model_name(model);
  const std::vector<int> live = list_versions(l, model);
  Retired out;
  out.version = version;
  if (!std::binary_search(live.begin(), live.end(), version)) {
    if (is_dir(l, l.version_dir(model, version)) && is_retired(l, model, version)) {
      out.already = true;
      return out;
    }
    throw RegistryError("no version " + model + "@" + std::to_string(version) + " in registry '" + l.root() + "'");
  }
  std::vector<std::string> pointing;
  for (const auto& [alias, target] : list_aliases(l, model))
    if (target == version) pointing.push_back(alias);
  if (!pointing.empty() && !force) {
    std::string list;
    for (const auto& a : pointing) list += (list.empty() ? "" : ", ") + a;
    throw RegistryError("cannot retire " + model + "@" + std::to_string(version) + ": alias " + list +
                        " points at it (move the alias first, or --force to remove it)");
  }
  for (const auto& alias : pointing) {
    delete_alias(l, model, alias, "delete (rm --force of " + std::to_string(version) + ")");
    out.aliases_removed.push_back(alias);
  }
  crash_point("retire-aliases-removed");
  const nlohmann::json marker = {{"retired", iso8601_utc(now_seconds())}, {"reason", reason}, {"user", user_name()},
                                 {"host", host_name()}};
  // The commit point: after this link the version is retired, before it it is whole.
  if (!write_file_atomic(l, marker_path(l, model, version), marker.dump() + "\n", /*replace=*/false)) out.already = true;
  crash_point("retire-marked");
  return out;
}

std::vector<int> versions_to_retire(const Layout& l, const std::string& model, const RetentionPolicy& p, double now) {
  std::vector<int> out;
  if (!p.active()) return out;
  const std::vector<int> live = list_versions(l, model);
  std::set<int> keep;
  for (const auto& [alias, target] : list_aliases(l, model)) keep.insert(target);
  if (p.keep_last)
    for (std::size_t i = live.size() > static_cast<std::size_t>(*p.keep_last) ? live.size() - *p.keep_last : 0; i < live.size(); ++i)
      keep.insert(live[i]);
  for (int v : live) {
    if (keep.count(v)) continue;
    if (p.older_than_seconds) {
      std::optional<double> created;
      try {
        created = iso_seconds(load_manifest(l, model, v).created);
      } catch (const RegistryError&) {
      }
      if (!created || now - *created < *p.older_than_seconds) continue;
    }
    out.push_back(v);
  }
  return out;
}

}  // namespace h5p::registry
