// Registry paths, name validation and reference parsing.
#include "host/registry/layout.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <sys/stat.h>

#include "common/errors.hpp"
#include "host/registry/fs_ops.hpp"

namespace h5p::registry {

namespace {
constexpr const char* kMarkerText = "{\"format\": \"h5prune-registry\", \"layout\": 1}\n";

bool name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-'; }
}  // namespace

bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > 128) return false;
  if (!std::isalnum(static_cast<unsigned char>(name[0]))) return false;
  if (!std::all_of(name.begin(), name.end(), name_char)) return false;
  return name.find("..") == std::string::npos;
}

void check_model_name(const std::string& name) {
  if (!valid_name(name))
    throw RegistryError("invalid model name '" + name +
                        "': use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit, no '..'");
}

void check_alias_name(const std::string& name) {
  if (!valid_name(name))
    throw RegistryError("invalid alias '" + name +
                        "': use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit, no '..'");
  if (std::all_of(name.begin(), name.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }) ||
      name == "latest")
    throw RegistryError("invalid alias '" + name + "': a number or 'latest' would shadow a version reference");
}

VersionRef parse_ref(const std::string& text) {
  const auto at = text.find('@');
  VersionRef r;
  r.model = text.substr(0, at);
  r.ref = at == std::string::npos ? "latest" : text.substr(at + 1);
  check_model_name(r.model);
  if (r.ref.empty()) throw RegistryError("empty version reference in '" + text + "' (expected NAME@REF)");
  return r;
}

namespace {

// Without a marker, a directory becomes a registry only when it holds nothing but what
// concurrent creators make before the marker appears: empty `objects/` (with at most an
// empty `sha256/`), `staging/` and `models/`, and marker temporaries. Every h5prune version
// wrote the marker at creation, so anything else was not made by h5prune.
std::string foreign_content(const Layout& l) {
  const std::string& dir = l.root();
  for (const auto& name : list_dir(l, dir)) {
    const std::string path = dir + "/" + name;
    const EntryKind kind = entry_kind(l, path);
    if (kind == EntryKind::missing) continue;  // a concurrent creator's temporary, gone already
    if (name.rfind(".h5prune-registry.json.tmp.", 0) == 0 && kind == EntryKind::file) continue;
    if (name != "objects" && name != "staging" && name != "models") return name;
    if (kind != EntryKind::dir) return name + " (" + describe(kind) + ")";
    for (const auto& inner : list_dir(l, path)) {
      if (name != "objects" || inner != "sha256" || entry_kind(l, path + "/sha256") != EntryKind::dir ||
          !list_dir(l, path + "/sha256").empty())
        return name + "/" + inner;
    }
  }
  return "";
}

void check_marker(const Layout& l) {
  std::optional<std::string> text;
  try {
    text = read_small_file(l, l.marker());
  } catch (const RegistryError&) {
    throw RegistryError("'" + l.root() + "' is not an h5prune registry (h5prune-registry.json is not a regular file)");
  }
  if (!text) throw RegistryError("'" + l.root() + "' is not an h5prune registry (no h5prune-registry.json)");
  if (*text != kMarkerText)
    throw RegistryError("'" + l.root() + "' is not an h5prune registry this version can use (h5prune-registry.json is not " +
                        "{\"format\": \"h5prune-registry\", \"layout\": 1})");
}

}  // namespace

Layout Layout::open(const std::string& dir) {
  if (dir.empty()) throw RegistryError("no registry given (use --registry DIR or set H5PRUNE_REGISTRY)");
  Layout l(dir);
  if (!is_dir(l, dir)) throw RegistryError("registry '" + dir + "' does not exist");
  check_marker(l);
  return l;
}

Layout Layout::create(const std::string& dir) {
  if (dir.empty()) throw RegistryError("no registry given (use --registry DIR or set H5PRUNE_REGISTRY)");
  Layout l(dir);
  if (::mkdir(dir.c_str(), 0775) != 0 && errno != EEXIST)
    throw RegistryError("cannot create registry directory '" + dir + "': " + std::strerror(errno));
  if (!is_dir(l, dir)) throw RegistryError("registry '" + dir + "' exists and is not a directory");
  // Never turn a directory with other contents into a registry (a mistyped --registry $HOME):
  // only an empty one, or one that other writers are creating right now.
  const bool marked = exists(l, l.marker());
  if (!marked)
    // (A concurrent creator may have finished meanwhile: then its marker settles it.)
    if (const std::string what = foreign_content(l); !what.empty() && !exists(l, l.marker()))
      throw RegistryError("'" + dir + "' is not an h5prune registry and not empty (it holds '" + what +
                          "'); give a new or empty directory");
  // make_dir refuses a link or file in place of a directory: the structure is always real.
  make_dir(l, dir + "/objects");
  make_dir(l, l.objects());
  make_dir(l, l.staging());
  make_dir(l, l.models());
  if (!marked) write_file_atomic(l, l.marker(), kMarkerText, /*replace=*/false);
  check_marker(l);
  return l;
}

}  // namespace h5p::registry
