// Small POSIX file operations the registry is built from: race-free mkdir, listing, atomic
// small files, recursive removal, times. No locks of any kind.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace h5p::registry {

// mkdir that treats EEXIST (a directory made by someone else) as success; RegistryError otherwise.
void make_dir(const std::string& path);

// Names in a directory (without . and ..); empty when it does not exist.
std::vector<std::string> list_dir(const std::string& path);

bool exists(const std::string& path);
bool is_dir(const std::string& path);

// Writes `text` to a unique temporary beside `path`, fsyncs it, then renames it over `path`
// (replace) or links it to `path` (no replace: returns false when `path` already exists).
// The directory is fsynced. OutputError on failure.
bool write_file_atomic(const std::string& path, const std::string& text, bool replace);

// Whole file as text; nullopt when it does not exist. RegistryError on other failures.
std::optional<std::string> read_small_file(const std::string& path);

// rm -rf; missing is fine. Returns bytes removed (files only).
std::uint64_t remove_tree(const std::string& path);

// Newest modification time (seconds since the epoch) of a path and, for a directory, of
// everything below it.
double newest_mtime(const std::string& path);

double now_seconds();
std::string iso8601_utc(double seconds_since_epoch);

// "<host>.<pid>.<random hex>": unique across processes on every node.
std::string unique_token();

std::string host_name();
std::string user_name();

// Parses "0", "90s", "15m", "2h", "7d" (a bare number is seconds); UsageError otherwise.
double parse_duration(const std::string& text, const std::string& option);

}  // namespace h5p::registry
