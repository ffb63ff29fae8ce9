// Where everything lives in a registry directory (docs/REGISTRY.md), and the names and
// references users write: model and alias names, NAME@REF.
#pragma once
#include <string>

namespace h5p::registry {

// Model and alias names: [A-Za-z0-9][A-Za-z0-9._-]{0,127}, no "..": never a path.
bool valid_name(const std::string& name);
void check_model_name(const std::string& name);  // RegistryError naming the problem
// Aliases also may not be all digits, "latest" or start with "sha256:" (they would shadow refs).
void check_alias_name(const std::string& name);

// "NAME@REF" or "NAME" (REF "latest"). The name is validated; RegistryError otherwise.
struct VersionRef {
  std::string model;
  std::string ref;
  std::string text() const { return model + "@" + ref; }
};
VersionRef parse_ref(const std::string& text);

class Layout {
 public:
  // An existing registry; RegistryError when `dir` is missing or not a registry.
  static Layout open(const std::string& dir);
  // Creates the registry's top-level structure when missing (safe when many do it at once);
  // RegistryError for an existing directory that holds anything else.
  static Layout create(const std::string& dir);

  const std::string& root() const { return root_; }
  std::string marker() const { return root_ + "/h5prune-registry.json"; }
  std::string objects() const { return root_ + "/objects/sha256"; }
  std::string blob_dir(const std::string& sha) const { return objects() + "/" + sha.substr(0, 2); }
  std::string blob_path(const std::string& sha) const { return blob_dir(sha) + "/" + sha.substr(2); }
  std::string staging() const { return root_ + "/staging"; }
  std::string models() const { return root_ + "/models"; }
  std::string model_dir(const std::string& model) const { return models() + "/" + model; }
  std::string versions_dir(const std::string& model) const { return model_dir(model) + "/versions"; }
  std::string version_dir(const std::string& model, int v) const {
    return versions_dir(model) + "/" + std::to_string(v);
  }
  std::string manifest_path(const std::string& model, int v) const { return version_dir(model, v) + "/manifest.json"; }
  // The version's idempotency key alone (64 hex digits and a newline), for fast lookups.
  std::string key_path(const std::string& model, int v) const { return version_dir(model, v) + "/key"; }
  std::string aliases_dir(const std::string& model) const { return model_dir(model) + "/aliases"; }
  std::string origins_dir(const std::string& model) const { return model_dir(model) + "/origins"; }
  std::string alias_path(const std::string& model, const std::string& alias) const {
    return aliases_dir(model) + "/" + alias;
  }

 private:
  explicit Layout(std::string root) : root_(std::move(root)) {}
  std::string root_;
};

}  // namespace h5p::registry
