// mkdtemp under $TMPDIR, remove_all on the way out.
#include "host/scratch_dir.hpp"

#include <cstdlib>
#include <filesystem>

#include "common/errors.hpp"

namespace h5p {

ScratchDir::ScratchDir(const std::string& purpose) {
  const char* tmp = std::getenv("TMPDIR");
  std::string base = std::string(tmp && *tmp ? tmp : "/tmp") + "/h5prune-" + purpose + ".XXXXXX";
  if (!::mkdtemp(base.data())) throw OutputError("cannot create a temporary directory '" + base + "'");
  path_ = base;
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace h5p
