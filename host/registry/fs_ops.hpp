// Small POSIX file operations the registry is built from: race-free mkdir, listing, atomic
// small files, removal, times. No locks of any kind. Every path is inside a registry and is
// walked from the registry directory one component at a time without following symbolic
// links (openat + O_NOFOLLOW): anyone may write to a shared registry, and a link planted there
// must never make h5prune read, write or delete something outside it (docs/REGISTRY.md).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace h5p::registry {

class Layout;

// What a path inside the registry is, without following a link at its end. A path whose
// directories include a link or a non-directory is `blocked` (it cannot be reached safely).
enum class EntryKind { missing, file, dir, symlink, other, blocked };
EntryKind entry_kind(const Layout& l, const std::string& path);
bool exists(const Layout& l, const std::string& path);  // anything at all, a link included
bool is_dir(const Layout& l, const std::string& path);  // a real directory, not a link to one
std::string describe(EntryKind k);                       // "a symbolic link", "a directory", ...

// mkdir that treats EEXIST (a directory made by someone else) as success; RegistryError
// otherwise, and when what exists is not a real directory.
void make_dir(const Layout& l, const std::string& path);

// Names in a directory (without . and ..); empty when it does not exist. RegistryError when
// it is a link or another non-directory.
std::vector<std::string> list_dir(const Layout& l, const std::string& path);

// Writes `text` to a unique temporary beside `path`, fsyncs it, then renames it over `path`
// (replace) or links it to `path` (no replace: returns false when `path` already exists).
// The directory is fsynced. OutputError on failure.
bool write_file_atomic(const Layout& l, const std::string& path, const std::string& text, bool replace,
                       unsigned mode = 0644);

// Whole regular file as text (at most 256 MiB); nullopt when it does not exist. RegistryError
// for a link, a FIFO or anything else that is not a regular file, and on other failures.
std::optional<std::string> read_small_file(const Layout& l, const std::string& path);

// The one way to delete inside a registry: removes a regular file, or a directory and
// everything below it, at `path` (missing is fine). Links found below are unlinked, never
// followed. A link, FIFO or device at `path` itself is left alone: RegistryError naming it.
// Returns bytes removed (regular files only).
std::uint64_t remove_entry(const Layout& l, const std::string& path);

// Newest modification time (seconds since the epoch) of a path and, for a directory, of
// everything below it; links are not followed. 0 when missing.
double newest_mtime(const Layout& l, const std::string& path);

// link(2) / rename(2) of `from` to `to`, both inside the registry; returns errno (0 on success).
int link_entry(const Layout& l, const std::string& from, const std::string& to);
int rename_entry(const Layout& l, const std::string& from, const std::string& to);

// Sets the entry's times to now (best effort), chmods a regular file, fsyncs a directory.
void touch_entry(const Layout& l, const std::string& path);
void chmod_file(const Layout& l, const std::string& path, unsigned mode);
void fsync_dir(const Layout& l, const std::string& path);

// An open file inside the registry (a regular file reached without links), closed on scope exit.
class OpenFile {
 public:
  OpenFile(const Layout& l, const std::string& path);  // RegistryError when it cannot
  OpenFile(const OpenFile&) = delete;
  OpenFile& operator=(const OpenFile&) = delete;
  ~OpenFile();
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
};

// A directory inside the registry held open; path() names it through /proc/self/fd, so code
// that only takes paths (HDF5) writes into this very directory even if someone renames or
// replaces the name meanwhile.
class PinnedDir {
 public:
  PinnedDir(const Layout& l, const std::string& path);  // RegistryError when it cannot
  PinnedDir(const PinnedDir&) = delete;
  PinnedDir& operator=(const PinnedDir&) = delete;
  ~PinnedDir();
  std::string path() const;

 private:
  int fd_ = -1;
};

double now_seconds();
std::string iso8601_utc(double seconds_since_epoch);

// "<host>.<pid>.<random hex>": unique across processes on every node.
std::string unique_token();

std::string host_name();
std::string user_name();

// Parses "0", "90s", "15m", "2h", "7d" (a bare number is seconds); UsageError otherwise.
double parse_duration(const std::string& text, const std::string& option);

}  // namespace h5p::registry
