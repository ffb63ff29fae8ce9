// Temp-then-rename output files; the temporary never outlives a failed or interrupted run.
#include "formats/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>

#include "common/cleanup.hpp"
#include "common/errors.hpp"

namespace h5p {
namespace fs = std::filesystem;

bool same_file(const std::string& a, const std::string& b) {
  struct stat sa {}, sb {};
  if (stat(a.c_str(), &sa) != 0 || stat(b.c_str(), &sb) != 0) return false;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

void fsync_path(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw OutputError("cannot open '" + path + "' to sync it: " + std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  // Some filesystems refuse fsync on directories (EINVAL); the data itself is synced.
  if (rc != 0 && err != EINVAL) throw OutputError("cannot sync '" + path + "': " + std::strerror(err));
}

AtomicOutput::AtomicOutput(const std::string& final_path, bool replace, const std::string& protect)
    : final_(final_path), replace_(replace) {
  if (final_.empty()) throw OutputError("no output path given");
  const fs::path p(final_);
  dir_ = p.parent_path().empty() ? "." : p.parent_path().string();
  struct stat st {};
  if (stat(dir_.c_str(), &st) != 0)
    throw OutputError("cannot write '" + final_ + "': directory '" + dir_ + "' " + std::strerror(errno));
  if (!S_ISDIR(st.st_mode)) throw OutputError("cannot write '" + final_ + "': '" + dir_ + "' is not a directory");
  if (access(dir_.c_str(), W_OK | X_OK) != 0)
    throw OutputError("cannot write '" + final_ + "': directory '" + dir_ + "' is not writable");
  if (!protect.empty() && same_file(final_, protect))
    throw OutputError("output '" + final_ + "' is the input file; choose another path");
  if (struct stat fst {}; lstat(final_.c_str(), &fst) == 0) {
    if (S_ISDIR(fst.st_mode)) throw OutputError("output '" + final_ + "' is a directory");
    if (!replace_) throw OutputError("output '" + final_ + "' exists; use --force to replace it");
    // The rename would put a regular file in place of a device, FIFO, socket or link (-o
    // /dev/null --force as root): never replace anything but a regular file.
    if (!S_ISREG(fst.st_mode))
      throw OutputError("output '" + final_ + "' is " + (S_ISLNK(fst.st_mode) ? "a symbolic link" : "not a regular file") +
                        " (a FIFO, socket or device); h5prune replaces only regular files");
  }
  std::random_device rd;
  char suffix[32];
  std::snprintf(suffix, sizeof suffix, "%d.%08x", static_cast<int>(getpid()), rd());
  temp_ = (fs::path(dir_) / ("." + p.filename().string() + ".tmp." + suffix)).string();
  cleanup_slot_ = arm_cleanup(temp_);
}

AtomicOutput::~AtomicOutput() {
  if (!committed_) ::unlink(temp_.c_str());
  disarm_cleanup(cleanup_slot_);
}

void AtomicOutput::commit() {
  fsync_path(temp_);
  if (mode_ >= 0)
    ::chmod(temp_.c_str(), static_cast<mode_t>(mode_));
  else if (struct stat old {}; replace_ && lstat(final_.c_str(), &old) == 0 && S_ISREG(old.st_mode))
    ::chmod(temp_.c_str(), old.st_mode & 07777);  // --force over a 0600 file keeps it 0600
  if (replace_) {
    if (::rename(temp_.c_str(), final_.c_str()) != 0)
      throw OutputError("cannot move the output into place at '" + final_ + "': " + std::strerror(errno));
  } else {
    // link() fails if another process created the file meanwhile: never replace silently.
    if (::link(temp_.c_str(), final_.c_str()) != 0) {
      const int err = errno;
      if (err == EEXIST) throw OutputError("output '" + final_ + "' exists; use --force to replace it");
      // Filesystems without hard links: fall back to rename after a last check.
      struct stat st {};
      if (err != EPERM && err != ENOTSUP) throw OutputError("cannot move the output into place at '" + final_ + "': " + std::strerror(err));
      if (stat(final_.c_str(), &st) == 0) throw OutputError("output '" + final_ + "' exists; use --force to replace it");
      if (::rename(temp_.c_str(), final_.c_str()) != 0)
        throw OutputError("cannot move the output into place at '" + final_ + "': " + std::strerror(errno));
    } else {
      ::unlink(temp_.c_str());
    }
  }
  committed_ = true;
  fsync_path(dir_);
}

void write_file_atomically(const std::string& path, const std::string& content, bool replace) {
  AtomicOutput out(path, replace);
  {
    std::FILE* f = std::fopen(out.temp_path().c_str(), "wb");
    if (!f) throw OutputError("cannot write '" + path + "': " + std::strerror(errno));
    const bool ok = std::fwrite(content.data(), 1, content.size(), f) == content.size();
    const bool closed = std::fclose(f) == 0;
    if (!ok || !closed) throw OutputError("cannot write '" + path + "': " + std::strerror(errno));
  }
  out.commit();
}

}  // namespace h5p
