// Registry paths, name validation and reference parsing.
#include "host/registry/layout.hpp"

#include <algorithm>
#include <cctype>

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

Layout Layout::open(const std::string& dir) {
  if (dir.empty()) throw RegistryError("no registry given (use --registry DIR or set H5PRUNE_REGISTRY)");
  Layout l(dir);
  if (!is_dir(dir)) throw RegistryError("registry '" + dir + "' does not exist");
  if (!exists(l.marker()))
    throw RegistryError("'" + dir + "' is not an h5prune registry (no h5prune-registry.json)");
  return l;
}

Layout Layout::create(const std::string& dir) {
  if (dir.empty()) throw RegistryError("no registry given (use --registry DIR or set H5PRUNE_REGISTRY)");
  Layout l(dir);
  make_dir(dir);
  // Never turn a directory with other contents into a registry (a mistyped --registry $HOME):
  // only an empty one, or one that other writers are creating right now.
  if (!exists(l.marker()))
    for (const auto& name : list_dir(dir))
      if (name != "objects" && name != "staging" && name != "models" &&
          name.rfind(".h5prune-registry.json.tmp.", 0) != 0 && name != "h5prune-registry.json")
        throw RegistryError("'" + dir + "' is not an h5prune registry and not empty (it holds '" + name +
                            "'); give a new or empty directory");
  make_dir(dir + "/objects");
  make_dir(l.objects());
  make_dir(l.staging());
  make_dir(l.models());
  if (!exists(l.marker())) write_file_atomic(l.marker(), kMarkerText, /*replace=*/false);
  return l;
}

}  // namespace h5p::registry
