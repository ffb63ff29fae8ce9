// verify and gc. gc never takes a lock: it removes only what no manifest refers to and what
// has not changed for the grace period, re-reading the manifests just before removing blobs.
#include "host/registry/maintenance.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <map>
#include <set>

#include "common/errors.hpp"
#include "host/registry/aliases.hpp"
#include "host/registry/blob_store.hpp"
#include "host/registry/crash_hook.hpp"
#include "host/registry/evaluations.hpp"
#include "host/registry/fs_ops.hpp"
#include "host/registry/versions.hpp"

namespace h5p::registry {

namespace {

bool is_sha_part(const std::string& s, std::size_t len) {
  return s.size() == len && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

// Every complete blob name in the store (sha256), the temporaries beside them, and what
// h5prune never creates there (links, FIFOs, devices), which is never followed or removed.
void walk_objects(const Layout& l, std::vector<std::string>& blobs, std::vector<std::string>& others,
                  std::vector<Finding>& foreign) {
  for (const auto& dir : list_dir(l, l.objects())) {
    const std::string d = l.objects() + "/" + dir;
    const EntryKind dk = entry_kind(l, d);
    if (dk != EntryKind::dir && dk != EntryKind::file) {
      foreign.push_back({d, describe(dk) + " in objects/ (never followed or removed)"});
      continue;
    }
    if (!is_sha_part(dir, 2) || dk != EntryKind::dir) {
      others.push_back(d);
      continue;
    }
    for (const auto& f : list_dir(l, d)) {
      const std::string path = d + "/" + f;
      const EntryKind k = entry_kind(l, path);
      if (k != EntryKind::dir && k != EntryKind::file) foreign.push_back({path, describe(k) + " in objects/ (never followed or removed)"});
      else if (is_sha_part(f, 62) && k == EntryKind::file) blobs.push_back(dir + f);
      else others.push_back(path);
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


std::uint64_t file_size(const Layout& l, const std::string& path) {
  try {
    OpenFile f(l, path);
    struct stat st {};
    return ::fstat(f.fd(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
  } catch (const RegistryError&) {
    return 0;
  }
}

// Every evaluation and baseline record of a model parses and belongs where it lies: a version
// that exists (retired ones keep their records) or the input its directory names.
void verify_evaluations(const Layout& l, const std::string& model, VerifyReport& rep) {
  const std::vector<int> numbers = version_numbers(l, model);
  for (const std::string& dir : record_dirs(l, model)) {
    const std::string name = dir.substr(dir.rfind('/') + 1);
    const bool baseline = dir.find("/baselines/") != std::string::npos;
    if (const EntryKind k = entry_kind(l, dir); k != EntryKind::dir) {
      rep.damage.push_back({dir, describe(k) + " where a directory of evaluation records belongs"});
      continue;
    }
    if (!baseline && !std::binary_search(numbers.begin(), numbers.end(), std::atoi(name.c_str()))) {
      rep.damage.push_back({dir, "evaluations of version " + name + ", which was never recorded"});
      continue;
    }
    for (const std::string& f : list_dir(l, dir)) {
      const std::string path = dir + "/" + f;
      if (is_record_temporary(f)) {
        rep.leftovers.push_back({path, "temporary evaluation record"});
        continue;
      }
      if (const EntryKind k = entry_kind(l, path); k != EntryKind::file) {
        rep.damage.push_back({path, describe(k) + " among evaluation records"});
        continue;
      }
      try {
        const Evaluation e = read_record(l, path);
        ++rep.evaluations;
        if (e.model != model) rep.damage.push_back({path, "record of model '" + e.model + "' under '" + model + "'"});
        else if (baseline ? (e.version || e.sha256 != name) : (!e.version || std::to_string(*e.version) != name))
          rep.damage.push_back({path, baseline ? "not a baseline of input " + name : "not a record of version " + name});
      } catch (const RegistryError& e) {
        rep.damage.push_back({path, e.what()});
      }
    }
  }
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
        const auto key = read_small_file(l, l.key_path(name, v));
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
    for (const auto& alias : list_dir(l, l.aliases_dir(name))) {
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
    verify_evaluations(l, name, rep);
  }
  std::set<std::string> to_hash;
  for (const auto& [sha, bytes] : refs) to_hash.insert(sha);
  if (!model) {
    std::vector<std::string> blobs, others;
    walk_objects(l, blobs, others, rep.damage);
    for (const auto& sha : blobs) {
      to_hash.insert(sha);
      if (!refs.count(sha)) rep.leftovers.push_back({l.blob_path(sha), "blob no version refers to"});
    }
    for (const auto& o : others) rep.leftovers.push_back({o, "temporary or foreign file in objects/"});
    for (const auto& s : list_dir(l, l.staging())) {
      const std::string path = l.staging() + "/" + s;
      if (const EntryKind k = entry_kind(l, path); k == EntryKind::dir) rep.leftovers.push_back({path, "staging (a writer's work area)"});
      else rep.damage.push_back({path, describe(k) + " in staging/ (h5prune makes only directories there)"});
    }
  }
  for (const auto& sha : to_hash) {
    auto it = refs.find(sha);
    const std::string problem = check_blob(l, sha, it == refs.end() ? kUnknownBytes : it->second);
    ++rep.blobs;
    if (problem.empty()) rep.bytes_hashed += file_size(l, l.blob_path(sha));
    if (!problem.empty()) rep.damage.push_back({l.blob_path(sha), "damaged blob: " + problem});
  }
  return rep;
}

namespace {

// A killed gc may have set blobs aside (staging/gc-*/SHA) that a version still needs: put back
// every one whose place in the store is free. Harmless for unreferenced ones (gc sees them again).
void restore_set_aside(const Layout& l) {
  for (const auto& s : list_dir(l, l.staging())) {
    const std::string dir = l.staging() + "/" + s;
    if (s.rfind("gc-", 0) != 0 || entry_kind(l, dir) != EntryKind::dir) continue;
    for (const auto& f : list_dir(l, dir))
      // Only regular files gc itself set aside; a link planted there is never put in the store.
      if (is_sha_part(f, 64) && entry_kind(l, dir + "/" + f) == EntryKind::file && !exists(l, l.blob_path(f)))
        (void)link_entry(l, dir + "/" + f, l.blob_path(f));
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
  // Only regular files and real directories are ever removed (remove_entry checks again at
  // the moment it removes); links and special files are kept, whatever they point at.
  auto remove = [&](const std::string& path, const std::string& why) {
    const EntryKind kind = entry_kind(l, path);
    if (kind != EntryKind::file && kind != EntryKind::dir) {
      rep.left_alone.push_back({path, describe(kind) + ": h5prune never follows or removes what it did not create"});
      return;
    }
    try {
      rep.bytes += dry_run ? (kind == EntryKind::file ? file_size(l, path) : 0) : remove_entry(l, path);
      rep.removed.push_back({path, why});
    } catch (const RegistryError& e) {
      rep.left_alone.push_back({path, e.what()});
    }
  };
  auto mtime = [&](const std::string& path) { return newest_mtime(l, path); };
  // Abandoned work areas: nothing inside changed for the grace period.
  for (const auto& s : list_dir(l, l.staging())) {
    const std::string path = l.staging() + "/" + s;
    if (mtime(path) < cutoff) remove(path, "abandoned staging");
    else rep.kept.push_back({path, "staging younger than the grace period (a writer may be using it)"});
  }
  // Temporaries of alias and marker writes.
  for (const auto& model : list_models(l))
    for (const auto& a : list_dir(l, l.aliases_dir(model)))
      if (!valid_name(a) && mtime(l.alias_path(model, a)) < cutoff) remove(l.alias_path(model, a), "alias temporary");
  for (const auto& model : list_models(l))
    for (const auto& dir : record_dirs(l, model))
      for (const auto& f : entry_kind(l, dir) == EntryKind::dir ? list_dir(l, dir) : std::vector<std::string>{})
        if (is_record_temporary(f) && mtime(dir + "/" + f) < cutoff) remove(dir + "/" + f, "evaluation record temporary");
  for (const auto& f : list_dir(l, l.root()))
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
  std::vector<Finding> foreign;
  walk_objects(l, blobs, others, foreign);
  for (auto& f : foreign) rep.left_alone.push_back(std::move(f));
  std::vector<std::string> candidates;
  for (const auto& sha : blobs) {
    if (refs.count(sha)) continue;
    if (mtime(l.blob_path(sha)) < cutoff) candidates.push_back(sha);
    else rep.kept.push_back({l.blob_path(sha), "unreferenced blob younger than the grace period"});
  }
  for (const auto& o : others)
    if (mtime(o) < cutoff) remove(o, "temporary in objects/");
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
  make_dir(l, aside);
  std::vector<std::string> moved;
  for (const auto& sha : chosen) {
    // rename moves a link itself, never its target; one that replaced the blob since the
    // listing goes straight back and is left alone.
    if (entry_kind(l, l.blob_path(sha)) != EntryKind::file) continue;
    if (rename_entry(l, l.blob_path(sha), aside + "/" + sha) != 0) continue;
    if (entry_kind(l, aside + "/" + sha) != EntryKind::file) {
      (void)rename_entry(l, aside + "/" + sha, l.blob_path(sha));
      rep.left_alone.push_back({l.blob_path(sha), "replaced by something that is not a regular file while gc ran"});
      continue;
    }
    moved.push_back(sha);
    crash_point("gc-blob-set-aside");
  }
  const auto refs_last = referenced_blobs(l, ok);
  for (const auto& sha : moved) {
    const std::string kept = aside + "/" + sha;
    if (!ok || refs_last.count(sha)) {
      if (const int e = link_entry(l, kept, l.blob_path(sha)); e != 0 && e != EEXIST)
        throw RegistryError("cannot put blob '" + l.blob_path(sha) + "' back from '" + kept + "': " + std::strerror(e));
      rep.kept.push_back({l.blob_path(sha), "a version started to use it while gc ran"});
      remove_entry(l, kept);
    } else {
      rep.bytes += remove_entry(l, kept);
      rep.removed.push_back({l.blob_path(sha), "unreferenced blob"});
    }
  }
  remove_entry(l, aside);
  return rep;
}

}  // namespace h5p::registry
