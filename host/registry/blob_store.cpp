// Blob store: link-into-place writes and hash-checked reads.
#include "host/registry/blob_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "common/errors.hpp"
#include "common/interrupt.hpp"
#include "formats/sha256.hpp"
#include "host/registry/crash_hook.hpp"
#include "host/registry/fs_ops.hpp"

namespace h5p::registry {

namespace {

struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

// Hashes an open file from its start; sets *bytes. Interruptible.
std::string hash_fd(int fd, const std::string& path, std::uint64_t* bytes) {
  Sha256 hash;
  std::vector<char> buf(4 << 20);
  std::uint64_t total = 0;
  for (;;) {
    const ssize_t r = ::read(fd, buf.data(), buf.size());
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw RegistryError("cannot read blob '" + path + "': " + std::strerror(errno));
    if (r == 0) break;
    hash.update(buf.data(), static_cast<std::size_t>(r));
    total += static_cast<std::uint64_t>(r);
    check_interrupt();
  }
  *bytes = total;
  return hash.hex_digest();
}

}  // namespace

std::string store_blob(const Layout& l, const std::string& staged_file, const std::string& sha256,
                       std::uint64_t bytes) {
  chmod_file(l, staged_file, 0444);
  make_dir(l, l.blob_dir(sha256));
  const std::string blob = l.blob_path(sha256);
  crash_point("blob-before-link");
  const int err = link_entry(l, staged_file, blob);
  if (err == 0) {
    fsync_dir(l, l.blob_dir(sha256));
    crash_point("blob-linked");
    return blob;
  }
  if (err != EEXIST) {
    if (err != EPERM && err != ENOTSUP && err != EMLINK)
      throw RegistryError("cannot store blob '" + blob + "': " + std::strerror(err));
    // Filesystems without hard links: rename instead (replacing an equal blob is harmless).
    if (!exists(l, blob)) {
      if (const int e = rename_entry(l, staged_file, blob); e != 0)
        throw RegistryError("cannot store blob '" + blob + "': " + std::strerror(e));
      fsync_dir(l, l.blob_dir(sha256));
      return blob;
    }
  }
  // Already stored (deduplicated). Check it: a damaged copy (or anything that is not a regular
  // file, such as a planted link) is replaced by ours: same name, same content, so the rename
  // is harmless to every reader, and rename replaces a link itself, never its target.
  if (!check_blob(l, sha256, bytes).empty()) {
    if (const int e = rename_entry(l, staged_file, blob); e != 0)
      throw RegistryError("damaged blob '" + blob + "' could not be replaced: " + std::strerror(e));
    fsync_dir(l, l.blob_dir(sha256));
    return blob;
  }
  // Refresh its time so that gc's grace period starts again (best effort: needs ownership).
  touch_entry(l, blob);
  return blob;
}

void copy_blob_verified(const Layout& l, const std::string& sha256, std::uint64_t bytes, const std::string& dest) {
  const std::string blob = l.blob_path(sha256);
  if (entry_kind(l, blob) == EntryKind::missing) throw RegistryError("missing blob '" + blob + "'");
  OpenFile in(l, blob);
  // dest is the temporary of an AtomicOutput: a fresh name that nothing else may take.
  FdCloser out{::open(dest.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644)};
  if (out.fd < 0) throw OutputError("cannot write '" + dest + "': " + std::strerror(errno));
  Sha256 hash;
  std::vector<char> buf(4 << 20);
  std::uint64_t total = 0;
  for (;;) {
    const ssize_t r = ::read(in.fd(), buf.data(), buf.size());
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw RegistryError("cannot read blob '" + blob + "': " + std::strerror(errno));
    if (r == 0) break;
    hash.update(buf.data(), static_cast<std::size_t>(r));
    std::size_t done = 0;
    while (done < static_cast<std::size_t>(r)) {
      const ssize_t w = ::write(out.fd, buf.data() + done, static_cast<std::size_t>(r) - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) throw OutputError("cannot write '" + dest + "': " + std::strerror(errno ? errno : EIO));
      done += static_cast<std::size_t>(w);
    }
    total += static_cast<std::uint64_t>(r);
    check_interrupt();
  }
  const std::string got = hash.hex_digest();
  if (total != bytes || got != sha256)
    throw RegistryError("damaged blob '" + blob + "': sha256 " + got + " (" + std::to_string(total) +
                        " bytes), expected " + sha256 + " (" + std::to_string(bytes) + " bytes)");
}

std::string check_blob(const Layout& l, const std::string& sha256, std::uint64_t expected_bytes) {
  const std::string blob = l.blob_path(sha256);
  const EntryKind kind = entry_kind(l, blob);
  if (kind == EntryKind::missing) return "missing";
  if (kind != EntryKind::file) return "it is " + describe(kind) + ", not a regular file";
  std::uint64_t bytes = 0;
  std::string got;
  try {
    OpenFile f(l, blob);
    got = hash_fd(f.fd(), blob, &bytes);
  } catch (const RegistryError& e) {
    return std::string("unreadable: ") + e.what();
  }
  if (got != sha256) return "sha256 is " + got;
  if (expected_bytes != kUnknownBytes && expected_bytes != bytes) return "size is " + std::to_string(bytes) + ", manifest says " + std::to_string(expected_bytes);
  return "";
}

}  // namespace h5p::registry
