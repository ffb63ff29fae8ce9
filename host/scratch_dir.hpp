// A private directory under $TMPDIR (or /tmp), removed with everything in it when it goes out
// of scope: where an evaluation's dense copy or an unrecorded search probe is written.
#pragma once
#include <string>

namespace h5p {

class ScratchDir {
 public:
  explicit ScratchDir(const std::string& purpose);  // OutputError naming the directory on failure
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  ~ScratchDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace h5p
