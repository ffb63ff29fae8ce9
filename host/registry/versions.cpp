// Version listing, lookup and the lock-free publish (atomic rename of a whole directory).
#include "host/registry/versions.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "common/errors.hpp"
#include "host/registry/aliases.hpp"
#include "host/registry/crash_hook.hpp"
#include "host/registry/fs_ops.hpp"
#include "host/registry/retire.hpp"

namespace h5p::registry {

namespace {

bool all_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
}

bool is_hex(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

// The key of a published version, from its small `key` file (written with the manifest, so
// publishing costs no manifest parsing), else from its manifest; "" when neither can be read
// (damage is reported by verify, not here).
std::string key_of(const Layout& l, const std::string& model, int v) {
  try {
    if (auto k = read_small_file(l, l.key_path(model, v)); k && k->size() == 65 && k->back() == '\n')
      return k->substr(0, 64);
    return load_manifest(l, model, v).key;
  } catch (const RegistryError&) {
    return "";
  }
}

}  // namespace

std::vector<std::string> list_models(const Layout& l) {
  std::vector<std::string> out;
  for (const auto& name : list_dir(l, l.models()))
    if (valid_name(name) && is_dir(l, l.versions_dir(name))) out.push_back(name);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<int> version_numbers(const Layout& l, const std::string& model) {
  std::vector<int> out;
  for (const auto& name : list_dir(l, l.versions_dir(model)))
    if (all_digits(name) && name.size() <= 9 && name[0] != '0') out.push_back(std::stoi(name));
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<int> list_versions(const Layout& l, const std::string& model) {
  std::vector<int> out = version_numbers(l, model);
  out.erase(std::remove_if(out.begin(), out.end(), [&](int v) { return is_retired(l, model, v); }), out.end());
  return out;
}

Manifest load_manifest(const Layout& l, const std::string& model, int version, bool even_retired) {
  const std::string path = l.manifest_path(model, version);
  if (!is_dir(l, l.version_dir(model, version)))
    throw RegistryError("no version " + model + "@" + std::to_string(version) + " in registry '" + l.root() + "'");
  if (!even_retired && is_retired(l, model, version))
    throw RegistryError("version " + model + "@" + std::to_string(version) + " was retired (h5prune rm or gc --keep-last)");
  std::optional<std::string> text;
  try {
    text = read_small_file(l, path);
  } catch (const RegistryError& e) {
    throw RegistryError(std::string("damaged manifest: ") + e.what());
  }
  if (!text) throw RegistryError("damaged version: manifest '" + path + "' is missing");
  Manifest m = manifest_from_text(*text, path);
  if (m.model != model || m.version != version)
    throw RegistryError("damaged manifest '" + path + "': it records " + m.model + "@" + std::to_string(m.version));
  return m;
}

int resolve(const Layout& l, const VersionRef& ref) {
  const std::vector<int> versions = list_versions(l, ref.model);
  if (versions.empty()) throw RegistryError("no model '" + ref.model + "' in registry '" + l.root() + "'");
  if (ref.ref == "latest") return versions.back();
  if (all_digits(ref.ref)) {
    const int v = ref.ref.size() <= 9 ? std::stoi(ref.ref) : -1;
    if (!std::binary_search(versions.begin(), versions.end(), v)) {
      if (v > 0 && is_dir(l, l.version_dir(ref.model, v)) && is_retired(l, ref.model, v))
        throw RegistryError("version " + ref.text() + " was retired (h5prune rm or gc --keep-last)");
      throw RegistryError("no version " + ref.text() + " in registry '" + l.root() + "'");
    }
    return v;
  }
  if (auto v = read_alias(l, ref.model, ref.ref)) {
    if (!std::binary_search(versions.begin(), versions.end(), *v))
      throw RegistryError("alias " + ref.text() + " points at missing version " + std::to_string(*v));
    return *v;
  }
  std::string prefix = ref.ref;
  const bool explicit_sha = prefix.rfind("sha256:", 0) == 0;
  if (explicit_sha) prefix = prefix.substr(7);
  if (is_hex(prefix) && (prefix.size() >= 4 || explicit_sha)) {
    std::vector<int> hits;
    for (int v : versions)
      if (load_manifest(l, ref.model, v).output_sha256.rfind(prefix, 0) == 0) hits.push_back(v);
    if (hits.size() == 1) return hits[0];
    if (hits.size() > 1) {
      std::string list;
      for (int v : hits) list += (list.empty() ? "" : ", ") + std::to_string(v);
      throw RegistryError("sha256 prefix " + ref.text() + " is ambiguous: versions " + list);
    }
    throw RegistryError("no version of '" + ref.model + "' has sha256 starting with '" + prefix + "'");
  }
  throw RegistryError("no version or alias " + ref.text() + " in registry '" + l.root() + "'");
}

std::optional<int> find_by_key(const Layout& l, const std::string& model, const std::string& key) {
  for (int v : list_versions(l, model))
    if (key_of(l, model, v) == key) return v;
  return std::nullopt;
}

bool has_origin(const Layout& l, const std::string& model, const std::string& origin) {
  try {
    return entry_kind(l, l.origins_dir(model) + "/" + origin) == EntryKind::file;
  } catch (const RegistryError&) {
    return false;
  }
}

void note_origin(const Layout& l, const std::string& model, const std::string& origin) {
  try {
    make_dir(l, l.origins_dir(model));
    write_file_atomic(l, l.origins_dir(model) + "/" + origin, "", /*replace=*/false);
  } catch (const Error&) {
    // A hint: without it the next rerun finds its version after pruning instead of before.
  }
}

std::optional<Located> find_by_output(const Layout& l, const std::string& sha256) {
  if (sha256.size() != 64 || !exists(l, l.blob_path(sha256))) return std::nullopt;
  for (const auto& model : list_models(l))
    for (int v : list_versions(l, model)) {
      try {
        if (load_manifest(l, model, v).output_sha256 == sha256) return Located{model, v};
      } catch (const RegistryError&) {
      }
    }
  return std::nullopt;
}

Published publish_version(const Layout& l, Manifest m, const std::string& stage_dir) {
  make_dir(l, l.model_dir(m.model));
  make_dir(l, l.versions_dir(m.model));
  make_dir(l, l.aliases_dir(m.model));
  // One listing serves both the key check and the next number: with two listings, a version
  // published between them by a writer of the same key would be skipped and duplicated.
  // Retired numbers stay taken: the next number follows every directory, retired or not.
  const std::vector<int> taken = version_numbers(l, m.model);
  for (int v : taken)
    if (key_of(l, m.model, v) == m.key && !is_retired(l, m.model, v)) return {v, true};
  make_dir(l, stage_dir);
  const std::string manifest = stage_dir + "/manifest.json";
  int n = taken.empty() ? 1 : taken.back() + 1;
  for (;;) {
    m.version = n;
    m.finished = iso8601_utc(now_seconds());
    if (crash_requested("manifest-partial")) {
      // Simulates a writer killed in the middle of writing its manifest.
      write_file_atomic(l, manifest, manifest_text(m).substr(0, 100), true);
      crash_point("manifest-partial");
    }
    write_file_atomic(l, manifest, manifest_text(m), /*replace=*/true, 0444);  // a retry replaces it
    if (!exists(l, stage_dir + "/key")) write_file_atomic(l, stage_dir + "/key", m.key + "\n", true);
    fsync_dir(l, stage_dir);
    crash_point("manifest-written");
    const std::string target = l.version_dir(m.model, n);
    const int err = rename_entry(l, stage_dir, target);
    if (err == 0) {
      crash_point("renamed");
      fsync_dir(l, l.versions_dir(m.model));
      return {n, false};
    }
    if (err == EEXIST || err == ENOTEMPTY) {
      // Another writer took n. If it recorded the same key, that version is ours too. A client
      // cache (NFS) may not show the new directory's files yet: ask again briefly before
      // treating an unreadable key as a different one.
      std::string other = key_of(l, m.model, n);
      for (int wait = 0; other.empty() && wait < 5; ++wait) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20 << wait));
        other = key_of(l, m.model, n);
      }
      if (other == m.key && !is_retired(l, m.model, n)) return {n, true};
      ++n;
      continue;
    }
    // A retransmitted rename over NFS can fail although the first attempt succeeded.
    try {
      if (load_manifest(l, m.model, n).publish_id == m.publish_id) return {n, false};
    } catch (const RegistryError&) {
    }
    throw RegistryError("cannot publish " + m.model + "@" + std::to_string(n) + " (rename '" + stage_dir + "' to '" +
                        target + "'): " + std::strerror(err));
  }
}

}  // namespace h5p::registry
