// POSIX building blocks of the registry (mkdir, rename, link, fsync); see fs_ops.hpp.
#include "host/registry/fs_ops.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <random>
#include <regex>

#include "common/errors.hpp"
#include "formats/atomic_file.hpp"

namespace h5p::registry {
namespace fs = std::filesystem;

void make_dir(const std::string& path) {
  if (::mkdir(path.c_str(), 0775) == 0 || errno == EEXIST) {
    if (!is_dir(path)) throw RegistryError("'" + path + "' exists and is not a directory");
    return;
  }
  throw RegistryError("cannot create directory '" + path + "': " + std::strerror(errno));
}

std::vector<std::string> list_dir(const std::string& path) {
  std::vector<std::string> names;
  DIR* d = ::opendir(path.c_str());
  if (!d) {
    if (errno == ENOENT || errno == ENOTDIR) return names;
    throw RegistryError("cannot list '" + path + "': " + std::strerror(errno));
  }
  while (const dirent* e = ::readdir(d)) {
    const std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  ::closedir(d);
  return names;
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

bool is_dir(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool write_file_atomic(const std::string& path, const std::string& text, bool replace) {
  const fs::path p(path);
  const std::string dir = p.parent_path().string();
  std::string name = ".";
  name += p.filename().string();
  name += ".tmp.";
  name += unique_token();
  const std::string temp = (p.parent_path() / name).string();
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) throw OutputError("cannot write '" + temp + "': " + std::strerror(errno));
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
    ::unlink(temp.c_str());
    throw OutputError("cannot write '" + temp + "': " + std::strerror(err));
  }
  bool placed = true;
  if (replace) {
    if (::rename(temp.c_str(), path.c_str()) != 0) err = errno;
  } else {
    if (::link(temp.c_str(), path.c_str()) != 0) {
      if (errno == EEXIST) placed = false;
      else err = errno;
    }
    ::unlink(temp.c_str());
  }
  if (err) {
    ::unlink(temp.c_str());
    throw OutputError("cannot move '" + temp + "' to '" + path + "': " + std::strerror(err));
  }
  fsync_path(dir.empty() ? "." : dir);
  return placed;
}

std::optional<std::string> read_small_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    throw RegistryError("cannot read '" + path + "': " + std::strerror(errno));
  }
  std::string text;
  char buf[4096];
  for (;;) {
    const ssize_t r = ::read(fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      const int err = errno;
      ::close(fd);
      throw RegistryError("cannot read '" + path + "': " + std::strerror(err));
    }
    if (r == 0) break;
    text.append(buf, static_cast<std::size_t>(r));
  }
  ::close(fd);
  return text;
}

std::uint64_t remove_tree(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return 0;
  std::uint64_t bytes = 0;
  if (S_ISDIR(st.st_mode)) {
    ::chmod(path.c_str(), 0775);  // staged version directories may be read-only
    for (const auto& n : list_dir(path)) bytes += remove_tree(path + "/" + n);
    if (::rmdir(path.c_str()) != 0 && errno != ENOENT)
      throw RegistryError("cannot remove '" + path + "': " + std::strerror(errno));
  } else {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
      throw RegistryError("cannot remove '" + path + "': " + std::strerror(errno));
    bytes = static_cast<std::uint64_t>(st.st_size);
  }
  return bytes;
}

double newest_mtime(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return 0;
  double t = static_cast<double>(st.st_mtim.tv_sec) + 1e-9 * static_cast<double>(st.st_mtim.tv_nsec);
  if (S_ISDIR(st.st_mode))
    for (const auto& n : list_dir(path)) t = std::max(t, newest_mtime(path + "/" + n));
  return t;
}

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
  static const std::regex form(R"(^([0-9]+(?:\.[0-9]+)?)([smhd]?)$)");
  std::smatch m;
  if (!std::regex_match(text, m, form))
    throw UsageError("invalid value '" + text + "' for " + option + ": expected a duration like 0, 90s, 15m, 2h, 7d");
  const double v = std::stod(m[1].str());
  const std::string u = m[2].str();
  return v * (u == "m" ? 60 : u == "h" ? 3600 : u == "d" ? 86400 : 1);
}

}  // namespace h5p::registry
