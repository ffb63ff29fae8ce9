// Versions of a model: listing, reading, resolving NAME@REF, and publishing a staged
// version under the next free number by one atomic directory rename.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "formats/manifest.hpp"
#include "host/registry/layout.hpp"

namespace h5p::registry {

// Models with a versions directory, sorted by name.
std::vector<std::string> list_models(const Layout& l);

// Published, live (not retired) version numbers of a model, ascending (empty for an unknown model).
std::vector<int> list_versions(const Layout& l, const std::string& model);

// Every version number that has a directory, retired ones included (they are never reused).
std::vector<int> version_numbers(const Layout& l, const std::string& model);

// The version's manifest, checked against its place (model and version must match).
// RegistryError for a retired version unless `even_retired` (a writer reading back the version
// it just published, which a concurrent gc --keep-last may already have retired).
Manifest load_manifest(const Layout& l, const std::string& model, int version, bool even_retired = false);

// Resolves REF (a number, an alias, "latest", or a sha256 prefix, bare or as "sha256:PREFIX")
// to a version number; RegistryError when there is none or the prefix is ambiguous.
int resolve(const Layout& l, const VersionRef& ref);

// The first version of `model` whose manifest has idempotency key `key`.
std::optional<int> find_by_key(const Layout& l, const std::string& model, const std::string& key);

// Origins: what a rerun of a version would be given (record.cpp's origin_of), noted as an empty
// file models/NAME/origins/ORIGIN once the version is published. A hint, found with one stat
// and never trusted for an answer (the key decides): noting is best effort, and an origin left
// by a version since retired only costs the next run an early hash.
bool has_origin(const Layout& l, const std::string& model, const std::string& origin);
void note_origin(const Layout& l, const std::string& model, const std::string& origin);

// model@version of the oldest published version whose output has this sha256, in any model.
struct Located {
  std::string model;
  int version = 0;
};
std::optional<Located> find_by_output(const Layout& l, const std::string& sha256);

struct Published {
  int version = 0;
  bool already = false;  // an equal version (same key) existed or won the race
};

// Publishes `m` (its blob must already be stored) as the next version of m.model: writes the
// manifest into `stage_dir` (a fresh directory under staging/), then renames the directory
// to versions/N, trying N = max+1, max+2, ... until one rename succeeds. Before each try it
// checks whether the version taken meanwhile has the same key: then that one is returned.
Published publish_version(const Layout& l, Manifest m, const std::string& stage_dir);

}  // namespace h5p::registry
