// Content-addressed blobs: objects/sha256/xx/<rest>, read-only, stored once however many
// versions refer to them; copied out with the hash checked on the way.
#pragma once
#include <cstdint>
#include <string>

#include "host/registry/layout.hpp"

namespace h5p::registry {

// Moves a finished, fsynced file (in the registry's staging area, so on the same filesystem)
// into the store under its sha256 by link(); EEXIST means the content is already there,
// which is success once the stored copy checks out (a damaged one is replaced by rename).
// The staged file is made read-only and kept unless it replaced a damaged blob (the caller
// removes the staging area). Returns the blob's path.
std::string store_blob(const Layout& l, const std::string& staged_file, const std::string& sha256,
                       std::uint64_t bytes);

// Copies a blob to `dest` (a temporary the caller commits), hashing while it copies;
// RegistryError when the blob is missing, has the wrong size or the wrong hash.
void copy_blob_verified(const Layout& l, const std::string& sha256, std::uint64_t bytes, const std::string& dest);

// Re-hashes a blob: "" when intact, otherwise what is wrong with it. expected_bytes of
// kUnknownBytes skips the size check (a blob no manifest refers to).
inline constexpr std::uint64_t kUnknownBytes = ~0ull;
std::string check_blob(const Layout& l, const std::string& sha256, std::uint64_t expected_bytes);

}  // namespace h5p::registry
