// verify and gc. gc never takes a lock: it removes only what no manifest refers to and what
// has not changed for the grace period, re-reading the manifests just before removing blobs.
#include "host/registry/maintenance.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <map>
#include <set>

#include "common/errors.hpp"
#include "host/registry/aliases.hpp"
#include "host/registry/blob_store.hpp"
#include "host/registry/crash_hook.hpp"
#include "host/registry/fs_ops.hpp"
#include "host/registry/versions.hpp"

namespace h5p::registry {

namespace {

bool is_sha_part(const std::string& s, std::size_t len) {
  return s.size() == len && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

// Every complete blob name in the store (sha256), and the temporaries beside them.
void walk_objects(const Layout& l, std::vector<std::string>& blobs, std::vector<std::string>& others) {
  for (const auto& dir : list_dir(l.objects())) {
    const std::string d = l.objects() + "/" + dir;
    if (!is_sha_part(dir, 2)) {
      others.push_back(d);
      continue;
    }
    for (const auto& f : list_dir(d)) {
      if (is_sha_part(f, 62)) blobs.push_back(dir + f);
      else others.push_back(d + "/" + f);
    }
  }
}

// sha256 -> bytes of every blob a readable manifest refers to; `ok` false if one was unreadable.
// `ignore`: "model@N" of versions to count as gone (a dry run's would-be-retired versions).
std::map<std::string, std::uint64_t> referenced_blobs(const Layout& l, bool& ok, const std::set<std::string>& ignore = {}) {
  std::map<std::string, std::uint64_t> refs;
  ok = true;
  for (const auto& model : list_models(l))
    for (int v : list_versions(l, model)) {
      if (ignore.count(model + "@" + std::to_string(v))) continue;
      try {
        const Manifest m = load_manifest(l, model, v);
        refs[m.output_sha256] = m.output_bytes;
      } catch (const RegistryError&) {
        ok = false;
      }
    }
  return refs;
}

double mtime(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return 0;
  return static_cast<double>(st.st_mtim.tv_sec) + 1e-9 * static_cast<double>(st.st_mtim.tv_nsec);
}

}  // namespace

VerifyReport verify_registry(const Layout& l, const std::optional<std::string>& model) {
  VerifyReport rep;
  std::vector<std::string> models;
  if (model) {
    check_model_name(*model);
    if (list_versions(l, *model).empty()) throw RegistryError("no model '" + *model + "' in registry '" + l.root() + "'");
    models.push_back(*model);
  } else {
    models = list_models(l);
  }
  std::map<std::string, std::uint64_t> refs;
  for (const auto& name : models) {
    ++rep.models;
    const std::vector<int> versions = list_versions(l, name);
    for (int v : versions) {
      ++rep.versions;
      try {
        const Manifest m = load_manifest(l, name, v);
        const auto key = read_small_file(l.key_path(name, v));
        if (key && *key != m.key + "\n")
          rep.damage.push_back({l.key_path(name, v), "key file differs from the manifest's key"});
        auto [it, fresh] = refs.emplace(m.output_sha256, m.output_bytes);
        if (!fresh && it->second != m.output_bytes)
          rep.damage.push_back({l.manifest_path(name, v), "records " + std::to_string(m.output_bytes) +
                                                              " bytes for blob " + m.output_sha256 + ", another manifest " +
                                                              std::to_string(it->second)});
      } catch (const RegistryError& e) {
        rep.damage.push_back({l.manifest_path(name, v), e.what()});
      }
    }
    for (const auto& alias : list_dir(l.aliases_dir(name))) {
      const std::string path = l.alias_path(name, alias);
      if (!valid_name(alias)) {
        rep.leftovers.push_back({path, "temporary alias file"});
        continue;
      }
      ++rep.aliases;
      try {
        const auto v = read_alias(l, name, alias);
        if (v && !std::binary_search(versions.begin(), versions.end(), *v))
          rep.damage.push_back({path, "points at missing version " + std::to_string(*v)});
      } catch (const RegistryError& e) {
        rep.damage.push_back({path, e.what()});
      }
    }
  }
  std::set<std::string> to_hash;
  for (const auto& [sha, bytes] : refs) to_hash.insert(sha);
  if (!model) {
    std::vector<std::string> blobs, others;
    walk_objects(l, blobs, others);
    for (const auto& sha : blobs) {
      to_hash.insert(sha);
      if (!refs.count(sha)) rep.leftovers.push_back({l.blob_path(sha), "blob no version refers to"});
    }
    for (const auto& o : others) rep.leftovers.push_back({o, "temporary or foreign file in objects/"});
    for (const auto& s : list_dir(l.staging())) rep.leftovers.push_back({l.staging() + "/" + s, "staging (a writer's work area)"});
  }
  for (const auto& sha : to_hash) {
    auto it = refs.find(sha);
    const std::string problem = check_blob(l, sha, it == refs.end() ? kUnknownBytes : it->second);
    ++rep.blobs;
    struct stat st {};
    if (::stat(l.blob_path(sha).c_str(), &st) == 0) rep.bytes_hashed += static_cast<std::uint64_t>(st.st_size);
    if (!problem.empty()) rep.damage.push_back({l.blob_path(sha), "damaged blob: " + problem});
  }
  return rep;
}

namespace {

// A killed gc may have set blobs aside (staging/gc-*/SHA) that a version still needs: put back
// every one whose place in the store is free. Harmless for unreferenced ones (gc sees them again).
void restore_set_aside(const Layout& l) {
  for (const auto& s : list_dir(l.staging())) {
    if (s.rfind("gc-", 0) != 0) continue;
    for (const auto& f : list_dir(l.staging() + "/" + s))
      if (is_sha_part(f, 64) && !exists(l.blob_path(f)))
        (void)::link((l.staging() + "/" + s + "/" + f).c_str(), l.blob_path(f).c_str());
  }
}

}  // namespace

GcReport collect_garbage(const Layout& l, double grace_seconds, bool dry_run, const RetentionPolicy& policy) {
  GcReport rep;
  const double cutoff = now_seconds() - grace_seconds;
  if (!dry_run) restore_set_aside(l);
  // Retention first, so that the blobs of the versions it retires are collected below.
  if (policy.active())
    for (const auto& model : list_models(l))
      for (int v : versions_to_retire(l, model, policy, now_seconds())) {
        if (!dry_run) retire_version(l, model, v, /*force=*/false, "gc " + policy.text());
        rep.retired.push_back({model + "@" + std::to_string(v), "retired by " + policy.text()});
      }
  crash_point("gc-retired");
  auto remove = [&](const std::string& path, const std::string& why) {
    struct stat st {};
    const std::uint64_t size = ::lstat(path.c_str(), &st) == 0 && !S_ISDIR(st.st_mode) ? st.st_size : 0;
    if (dry_run) rep.bytes += size;
    else rep.bytes += remove_tree(path);
    rep.removed.push_back({path, why});
  };
  // Abandoned work areas: nothing inside changed for the grace period.
  for (const auto& s : list_dir(l.staging())) {
    const std::string path = l.staging() + "/" + s;
    if (newest_mtime(path) < cutoff) remove(path, "abandoned staging");
    else rep.kept.push_back({path, "staging younger than the grace period (a writer may be using it)"});
  }
  // Temporaries of alias and marker writes.
  for (const auto& model : list_models(l))
    for (const auto& a : list_dir(l.aliases_dir(model)))
      if (!valid_name(a) && mtime(l.alias_path(model, a)) < cutoff) remove(l.alias_path(model, a), "alias temporary");
  for (const auto& f : list_dir(l.root()))
    if (f.rfind(".h5prune-registry.json.tmp.", 0) == 0 && mtime(l.root() + "/" + f) < cutoff)
      remove(l.root() + "/" + f, "marker temporary");
  // Blobs no version refers to. A version published after the first listing is caught by the
  // second; a writer also restores its blob after publishing if it finds it gone.
  bool ok = true;
  std::set<std::string> would_retire;
  if (dry_run)
    for (const auto& f : rep.retired) would_retire.insert(f.path);
  const auto refs = referenced_blobs(l, ok, would_retire);
  if (!ok) {
    rep.blobs_skipped = true;
    return rep;
  }
  std::vector<std::string> blobs, others;
  walk_objects(l, blobs, others);
  std::vector<std::string> candidates;
  for (const auto& sha : blobs) {
    if (refs.count(sha)) continue;
    if (mtime(l.blob_path(sha)) < cutoff) candidates.push_back(sha);
    else rep.kept.push_back({l.blob_path(sha), "unreferenced blob younger than the grace period"});
  }
  for (const auto& o : others)
    if (newest_mtime(o) < cutoff) remove(o, "temporary in objects/");
  if (candidates.empty()) return rep;
  const auto refs_again = referenced_blobs(l, ok, would_retire);
  if (!ok) {
    rep.blobs_skipped = true;
    return rep;
  }
  std::vector<std::string> chosen;
  for (const auto& sha : candidates)
    if (!refs_again.count(sha)) chosen.push_back(sha);
  if (dry_run || chosen.empty()) {
    for (const auto& sha : chosen) remove(l.blob_path(sha), "unreferenced blob");
    return rep;
  }
  // A writer may start to use an old blob (same output again) at any moment. Set the chosen
  // ones aside by rename, read the manifests a third time, put back any that a version now
  // refers to, and only then delete. A writer that finds its blob gone after publishing links
  // it back from its staged copy (record.cpp), so neither order of events loses a blob.
  const std::string aside = l.staging() + "/gc-" + unique_token();
  make_dir(aside);
  std::vector<std::string> moved;
  for (const auto& sha : chosen)
    if (::rename(l.blob_path(sha).c_str(), (aside + "/" + sha).c_str()) == 0) {
      moved.push_back(sha);
      crash_point("gc-blob-set-aside");
    }
  const auto refs_last = referenced_blobs(l, ok);
  for (const auto& sha : moved) {
    const std::string kept = aside + "/" + sha;
    if (!ok || refs_last.count(sha)) {
      if (::link(kept.c_str(), l.blob_path(sha).c_str()) != 0 && errno != EEXIST)
        throw RegistryError("cannot put blob '" + l.blob_path(sha) + "' back from '" + kept + "': " + std::strerror(errno));
      rep.kept.push_back({l.blob_path(sha), "a version started to use it while gc ran"});
      remove_tree(kept);
    } else {
      rep.bytes += remove_tree(kept);
      rep.removed.push_back({l.blob_path(sha), "unreferenced blob"});
    }
  }
  remove_tree(aside);
  return rep;
}

}  // namespace h5p::registry
