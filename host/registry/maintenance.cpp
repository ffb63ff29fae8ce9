// verify and gc. gc never takes a lock: it removes only what no manifest refers to and what
// has not changed for the grace period, re-reading the manifests just before removing blobs.
#include "host/registry/maintenance.hpp"

#include <sys/stat.h>

#include <map>
#include <set>

#include "common/errors.hpp"
#include "host/registry/aliases.hpp"
#include "host/registry/blob_store.hpp"
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
std::map<std::string, std::uint64_t> referenced_blobs(const Layout& l, bool& ok) {
  std::map<std::string, std::uint64_t> refs;
  ok = true;
  for (const auto& model : list_models(l))
    for (int v : list_versions(l, model)) {
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

GcReport collect_garbage(const Layout& l, double grace_seconds, bool dry_run) {
  GcReport rep;
  const double cutoff = now_seconds() - grace_seconds;
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
  for (const auto& f : list_dir(l, l.root()))
    if (f.rfind(".h5prune-registry.json.tmp.", 0) == 0 && mtime(l.root() + "/" + f) < cutoff)
      remove(l.root() + "/" + f, "marker temporary");
  // Blobs no version refers to. A version published after the first listing is caught by the
  // second; a writer also restores its blob after publishing if it finds it gone.
  bool ok = true;
  const auto refs = referenced_blobs(l, ok);
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
  const auto refs_again = referenced_blobs(l, ok);
  if (!ok) {
    rep.blobs_skipped = true;
    return rep;
  }
  for (const auto& sha : candidates)
    if (!refs_again.count(sha)) remove(l.blob_path(sha), "unreferenced blob");
  return rep;
}

}  // namespace h5p::registry
