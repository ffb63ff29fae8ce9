// Writes that appear whole or not at all: a temporary name in the destination directory,
// fsync, then rename (or link, when an existing file must not be replaced).
#pragma once
#include <string>

namespace h5p {

class AtomicOutput {
 public:
  // Checks the destination (directory exists and is writable, no existing file unless
  // replace is true, and then only a regular file: never a FIFO, device, directory or link;
  // not the same file as `protect`) and picks a unique temporary name.
  // Throws OutputError naming the path.
  AtomicOutput(const std::string& final_path, bool replace, const std::string& protect = "");
  AtomicOutput(const AtomicOutput&) = delete;
  AtomicOutput& operator=(const AtomicOutput&) = delete;
  ~AtomicOutput();  // removes the temporary unless committed

  const std::string& temp_path() const { return temp_; }
  const std::string& final_path() const { return final_; }

  // fsyncs the temporary, moves it into place (a replaced file's permission bits carry over,
  // unless set_mode chose them) and fsyncs the directory.
  void commit();

  // Permission bits the output gets whatever the umask or the file it replaces (metrics files
  // must be readable by node_exporter, which runs as another user).
  void set_mode(unsigned mode) { mode_ = static_cast<int>(mode); }

 private:
  std::string final_;
  std::string temp_;
  std::string dir_;
  bool replace_;
  bool committed_ = false;
  int cleanup_slot_ = -1;
  int mode_ = -1;  // the temporary, removed by a crash or second-signal handler
};

// Writes `content` to `path` through an AtomicOutput (temporary, fsync, rename).
void write_file_atomically(const std::string& path, const std::string& content, bool replace);

// True when both paths name the same existing file (same device and inode).
bool same_file(const std::string& a, const std::string& b);

// fsync a file or directory by path; throws OutputError on failure.
void fsync_path(const std::string& path);

}  // namespace h5p
