// POSIX building blocks of the registry (mkdir, rename, link, fsync), each reached from the
// registry directory without following links; see fs_ops.hpp.
#include "host/fixed_regex.hpp"
#include "host/registry/fs_ops.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <random>
#include <utility>

#include "common/errors.hpp"
#include "host/registry/layout.hpp"

namespace h5p::registry {

namespace {

// An owned file descriptor.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

constexpr int kDirFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

// The components of `path` below the registry directory ("objects", "sha256", ...).
std::vector<std::string> components(const Layout& l, const std::string& path) {
  const std::string& root = l.root();
  if (path.compare(0, root.size(), root) != 0 || (path.size() > root.size() && path[root.size()] != '/' &&
                                                  root.back() != '/'))
    throw RegistryError("internal error: '" + path + "' is not inside the registry '" + root + "'");
  std::vector<std::string> parts;
  std::size_t at = root.size();
  while (at < path.size()) {
    const std::size_t slash = path.find('/', at);
    const std::string part = path.substr(at, slash == std::string::npos ? std::string::npos : slash - at);
    if (part == "..") throw RegistryError("internal error: '" + path + "' leaves the registry");
    if (!part.empty() && part != ".") parts.push_back(part);
    if (slash == std::string::npos) break;
    at = slash + 1;
  }
  return parts;
}

// The directory made of the first `n` components, opened without following links; on failure
// an invalid Fd and `err` (ENOENT: something is missing; ELOOP/ENOTDIR: a link or a file).
Fd walk(const Layout& l, const std::vector<std::string>& parts, std::size_t n, int& err) {
  err = 0;
  // The registry directory itself is taken as the user named it (it may be a link they made).
  Fd dir(::open(l.root().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() < 0) {
    err = errno;
    return Fd();
  }
  for (std::size_t i = 0; i < n; ++i) {
    Fd next(::openat(dir.get(), parts[i].c_str(), kDirFlags));
    if (next.get() < 0) {
      err = errno;
      return Fd();
    }
    dir = std::move(next);
  }
  return dir;
}

// The directory that holds `path`'s last component, and that component's name.
struct Parent {
  Fd dir;
  std::string name;  // empty for the registry directory itself
  int err = 0;
};
Parent open_parent(const Layout& l, const std::string& path) {
  const auto parts = components(l, path);
  Parent p;
  if (parts.empty()) return p;
  p.dir = walk(l, parts, parts.size() - 1, p.err);
  p.name = parts.back();
  return p;
}

bool blocked(int err) { return err == ELOOP || err == ENOTDIR; }

[[noreturn]] void fail(const std::string& what, const std::string& path, int err) {
  if (blocked(err))
    throw RegistryError("cannot " + what + " '" + path +
                        "': a symbolic link or a file stands in its way (h5prune never follows links inside a "
                        "registry)");
  throw RegistryError("cannot " + what + " '" + path + "': " + std::strerror(err));
}

EntryKind kind_of(const struct stat& st) {
  if (S_ISREG(st.st_mode)) return EntryKind::file;
  if (S_ISDIR(st.st_mode)) return EntryKind::dir;
  if (S_ISLNK(st.st_mode)) return EntryKind::symlink;
  return EntryKind::other;
}

// Opens a regular file inside the registry for reading; -1 with errno (ENOENT, ELOOP, EINVAL
// for a non-regular file) otherwise. O_NONBLOCK keeps a planted FIFO from blocking the open.
int open_regular(const Layout& l, const std::string& path) {
  Parent p = open_parent(l, path);
  if (p.err) {
    errno = p.err;
    return -1;
  }
  if (p.name.empty()) {
    errno = EISDIR;
    return -1;
  }
  Fd f(::openat(p.dir.get(), p.name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (f.get() < 0) return -1;
  struct stat st {};
  if (::fstat(f.get(), &st) != 0) return -1;
  if (!S_ISREG(st.st_mode)) {
    errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
    return -1;
  }
  ::fcntl(f.get(), F_SETFL, ::fcntl(f.get(), F_GETFL) & ~O_NONBLOCK);
  return f.release();
}

// Removes everything inside the open directory `dir`; links are unlinked, never followed.
std::uint64_t remove_children(int dir, const std::string& path) {
  std::uint64_t bytes = 0;
  DIR* d = ::fdopendir(::dup(dir));
  if (!d) throw RegistryError("cannot list '" + path + "': " + std::strerror(errno));
  std::vector<std::string> names;
  while (const dirent* e = ::readdir(d)) {
    const std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  ::closedir(d);
  for (const auto& n : names) {
    const std::string child = path + "/" + n;
    struct stat st {};
    if (::fstatat(dir, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      Fd sub(::openat(dir, n.c_str(), kDirFlags));
      if (sub.get() < 0) throw RegistryError("cannot remove '" + child + "': " + std::strerror(errno));
      ::fchmod(sub.get(), 0775);  // staged version directories may be read-only
      bytes += remove_children(sub.get(), child);
      if (::unlinkat(dir, n.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT)
        throw RegistryError("cannot remove '" + child + "': " + std::strerror(errno));
    } else {
      if (::unlinkat(dir, n.c_str(), 0) != 0 && errno != ENOENT)
        throw RegistryError("cannot remove '" + child + "': " + std::strerror(errno));
      if (S_ISREG(st.st_mode)) bytes += static_cast<std::uint64_t>(st.st_size);
    }
  }
  return bytes;
}

double mtime_of(const struct stat& st) {
  return static_cast<double>(st.st_mtim.tv_sec) + 1e-9 * static_cast<double>(st.st_mtim.tv_nsec);
}

double newest_below(int dir) {
  double t = 0;
  DIR* d = ::fdopendir(::dup(dir));
  if (!d) return t;
  std::vector<std::string> names;
  while (const dirent* e = ::readdir(d)) {
    const std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  ::closedir(d);
  for (const auto& n : names) {
    struct stat st {};
    if (::fstatat(dir, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    t = std::max(t, mtime_of(st));
    if (S_ISDIR(st.st_mode)) {
      Fd sub(::openat(dir, n.c_str(), kDirFlags));
      if (sub.get() >= 0) t = std::max(t, newest_below(sub.get()));
    }
  }
  return t;
}

}  // namespace

EntryKind entry_kind(const Layout& l, const std::string& path) {
  Parent p = open_parent(l, path);
  if (p.err) return blocked(p.err) ? EntryKind::blocked : EntryKind::missing;
  struct stat st {};
  if (p.name.empty()) return ::stat(l.root().c_str(), &st) == 0 ? kind_of(st) : EntryKind::missing;
  if (::fstatat(p.dir.get(), p.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return EntryKind::missing;
  return kind_of(st);
}

bool exists(const Layout& l, const std::string& path) {
  const EntryKind k = entry_kind(l, path);
  return k != EntryKind::missing && k != EntryKind::blocked;
}

bool is_dir(const Layout& l, const std::string& path) { return entry_kind(l, path) == EntryKind::dir; }

std::string describe(EntryKind k) {
  switch (k) {
    case EntryKind::missing: return "missing";
    case EntryKind::file: return "a regular file";
    case EntryKind::dir: return "a directory";
    case EntryKind::symlink: return "a symbolic link";
    case EntryKind::other: return "a special file (FIFO, socket or device)";
    case EntryKind::blocked: return "behind a symbolic link or a file";
  }
  return "unknown";
}

void make_dir(const Layout& l, const std::string& path) {
  Parent p = open_parent(l, path);
  if (p.err) fail("create directory", path, p.err);
  if (p.name.empty()) return;  // the registry directory itself
  if (::mkdirat(p.dir.get(), p.name.c_str(), 0775) == 0) return;
  if (errno != EEXIST) fail("create directory", path, errno);
  struct stat st {};
  if (::fstatat(p.dir.get(), p.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode))
    throw RegistryError("'" + path + "' exists and is " + describe(kind_of(st)) +
                        ", not a directory (h5prune never follows links inside a registry)");
}

std::vector<std::string> list_dir(const Layout& l, const std::string& path) {
  std::vector<std::string> names;
  const auto parts = components(l, path);
  int err = 0;
  Fd dir = walk(l, parts, parts.size(), err);
  if (err == ENOENT) return names;
  if (err) fail("list", path, err);
  DIR* d = ::fdopendir(dir.release());
  if (!d) fail("list", path, errno);
  while (const dirent* e = ::readdir(d)) {
    const std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  ::closedir(d);
  return names;
}

bool write_file_atomic(const Layout& l, const std::string& path, const std::string& text, bool replace,
                       unsigned mode) {
  Parent p = open_parent(l, path);
  if (p.err || p.name.empty()) throw OutputError("cannot write '" + path + "': " + std::strerror(p.err ? p.err : EISDIR));
  const std::string temp = "." + p.name + ".tmp." + unique_token();
  const std::string shown = path.substr(0, path.size() - p.name.size()) + temp;
  const int fd = ::openat(p.dir.get(), temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) throw OutputError("cannot write '" + shown + "': " + std::strerror(errno));
  std::size_t done = 0;
  int err = 0;
  while (done < text.size()) {
    const ssize_t w = ::write(fd, text.data() + done, text.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      err = errno ? errno : EIO;
      break;
    }
    done += static_cast<std::size_t>(w);
  }
  if (!err && ::fsync(fd) != 0) err = errno;
  ::close(fd);
  if (err) {
    ::unlinkat(p.dir.get(), temp.c_str(), 0);
    throw OutputError("cannot write '" + shown + "': " + std::strerror(err));
  }
  bool placed = true;
  if (replace) {
    if (::renameat(p.dir.get(), temp.c_str(), p.dir.get(), p.name.c_str()) != 0) err = errno;
  } else {
    if (::linkat(p.dir.get(), temp.c_str(), p.dir.get(), p.name.c_str(), 0) != 0) {
      if (errno == EEXIST) placed = false;
      else err = errno;
    }
    ::unlinkat(p.dir.get(), temp.c_str(), 0);
  }
  if (err) {
    ::unlinkat(p.dir.get(), temp.c_str(), 0);
    throw OutputError("cannot move '" + shown + "' to '" + path + "': " + std::strerror(err));
  }
  if (::fsync(p.dir.get()) != 0 && errno != EINVAL)
    throw OutputError("cannot sync the directory of '" + path + "': " + std::strerror(errno));
  return placed;
}

std::optional<std::string> read_small_file(const Layout& l, const std::string& path) {
  Fd f(open_regular(l, path));
  if (f.get() < 0) {
    if (errno == ENOENT) return std::nullopt;
    if (errno == EINVAL) throw RegistryError("cannot read '" + path + "': not a regular file");
    fail("read", path, errno);
  }
  std::string text;
  char buf[65536];
  constexpr std::size_t kLimit = std::size_t{256} << 20;
  for (;;) {
    const ssize_t r = ::read(f.get(), buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw RegistryError("cannot read '" + path + "': " + std::strerror(errno));
    if (r == 0) break;
    text.append(buf, static_cast<std::size_t>(r));
    if (text.size() > kLimit) throw RegistryError("cannot read '" + path + "': larger than 256 MiB");
  }
  return text;
}

std::uint64_t remove_entry(const Layout& l, const std::string& path) {
  Parent p = open_parent(l, path);
  if (p.err == ENOENT) return 0;
  if (p.err) fail("remove", path, p.err);
  if (p.name.empty()) throw RegistryError("internal error: refusing to remove the registry '" + path + "' itself");
  struct stat st {};
  if (::fstatat(p.dir.get(), p.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return 0;
    fail("remove", path, errno);
  }
  if (S_ISREG(st.st_mode)) {
    if (::unlinkat(p.dir.get(), p.name.c_str(), 0) != 0 && errno != ENOENT) fail("remove", path, errno);
    return static_cast<std::uint64_t>(st.st_size);
  }
  if (!S_ISDIR(st.st_mode))
    throw RegistryError("not removing '" + path + "': it is " + describe(kind_of(st)) +
                        ", which h5prune never creates in a registry");
  Fd dir(::openat(p.dir.get(), p.name.c_str(), kDirFlags));
  if (dir.get() < 0) fail("remove", path, errno);  // replaced by a link meanwhile: ELOOP
  ::fchmod(dir.get(), 0775);
  const std::uint64_t bytes = remove_children(dir.get(), path);
  if (::unlinkat(p.dir.get(), p.name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) fail("remove", path, errno);
  return bytes;
}

double newest_mtime(const Layout& l, const std::string& path) {
  Parent p = open_parent(l, path);
  if (p.err || p.name.empty()) return 0;
  struct stat st {};
  if (::fstatat(p.dir.get(), p.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return 0;
  double t = mtime_of(st);
  if (S_ISDIR(st.st_mode)) {
    Fd dir(::openat(p.dir.get(), p.name.c_str(), kDirFlags));
    if (dir.get() >= 0) t = std::max(t, newest_below(dir.get()));
  }
  return t;
}

int link_entry(const Layout& l, const std::string& from, const std::string& to) {
  Parent a = open_parent(l, from), b = open_parent(l, to);
  if (a.err || b.err) return a.err ? a.err : b.err;
  return ::linkat(a.dir.get(), a.name.c_str(), b.dir.get(), b.name.c_str(), 0) == 0 ? 0 : errno;
}

int rename_entry(const Layout& l, const std::string& from, const std::string& to) {
  Parent a = open_parent(l, from), b = open_parent(l, to);
  if (a.err || b.err) return a.err ? a.err : b.err;
  return ::renameat(a.dir.get(), a.name.c_str(), b.dir.get(), b.name.c_str()) == 0 ? 0 : errno;
}

void touch_entry(const Layout& l, const std::string& path) {
  Parent p = open_parent(l, path);
  if (!p.err && !p.name.empty()) ::utimensat(p.dir.get(), p.name.c_str(), nullptr, AT_SYMLINK_NOFOLLOW);
}

void chmod_file(const Layout& l, const std::string& path, unsigned mode) {
  Fd f(open_regular(l, path));
  if (f.get() < 0 || ::fchmod(f.get(), mode) != 0)
    throw OutputError("cannot make '" + path + "' read-only: " + std::strerror(errno));
}

void fsync_dir(const Layout& l, const std::string& path) {
  const auto parts = components(l, path);
  int err = 0;
  Fd dir = walk(l, parts, parts.size(), err);
  if (err) throw OutputError("cannot open '" + path + "' to sync it: " + std::strerror(err));
  if (::fsync(dir.get()) != 0 && errno != EINVAL)
    throw OutputError("cannot sync '" + path + "': " + std::strerror(errno));
}

OpenFile::OpenFile(const Layout& l, const std::string& path) : fd_(open_regular(l, path)) {
  if (fd_ < 0) {
    if (errno == EINVAL) throw RegistryError("cannot read '" + path + "': not a regular file");
    fail("read", path, errno);
  }
}

OpenFile::~OpenFile() {
  if (fd_ >= 0) ::close(fd_);
}

PinnedDir::PinnedDir(const Layout& l, const std::string& path) {
  const auto parts = components(l, path);
  int err = 0;
  fd_ = walk(l, parts, parts.size(), err).release();
  if (err) fail("open", path, err);
}

PinnedDir::~PinnedDir() {
  if (fd_ >= 0) ::close(fd_);
}

std::string PinnedDir::path() const { return "/proc/self/fd/" + std::to_string(fd_); }

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string iso8601_utc(double s) {
  const std::time_t secs = static_cast<std::time_t>(s);
  std::tm tm {};
  ::gmtime_r(&secs, &tm);
  char buf[80];
  const int ms = static_cast<int>((s - static_cast<double>(secs)) * 1000.0);
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, ms < 0 ? 0 : ms > 999 ? 999 : ms);
  return buf;
}

std::string host_name() {
  char buf[256] = {0};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

std::string user_name() {
  if (const passwd* pw = ::getpwuid(::getuid())) return pw->pw_name;
  if (const char* u = std::getenv("USER")) return u;
  return std::to_string(::getuid());
}

std::string unique_token() {
  std::random_device rd;
  char buf[64];
  std::snprintf(buf, sizeof buf, ".%d.%08x%08x", static_cast<int>(::getpid()), rd(), rd());
  std::string host = host_name();
  for (char& c : host)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') c = '_';
  return host + buf;
}

double parse_duration(const std::string& text, const std::string& option) {
  static const FixedRegex form(R"(^([0-9]+(?:\.[0-9]+)?)([smhd]?)$)");
  const auto m = form.match(text);
  if (!m)
    throw UsageError("invalid value '" + text + "' for " + option + ": expected a duration like 0, 90s, 15m, 2h, 7d");
  // strtod, not stod: a value too large for a double is a usage error, not an exception.
  const double v = std::strtod((*m)[0]->c_str(), nullptr);
  const std::string u = *(*m)[1];
  const double seconds = v * (u == "m" ? 60 : u == "h" ? 3600 : u == "d" ? 86400 : 1);
  if (!std::isfinite(seconds) || seconds > 1e15)
    throw UsageError("invalid value '" + text + "' for " + option + ": duration too long");
  return seconds;
}

}  // namespace h5p::registry
