// libFuzzer target: arbitrary bytes as an input file through stats (the metadata walk, tensor
// selection, sparse layout groups read back) and densify (the sparse-layout reader and the
// faithful copy). h5prune's own errors are expected; a crash, hang or leak is a finding.
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/errors.hpp"
#include "formats/hdf5/file.hpp"
#include "host/densify.hpp"
#include "host/stats.hpp"

namespace {

// A per-process scratch directory (in memory when /dev/shm exists), removed at exit.
const std::string& scratch() {
  static const std::string dir = [] {
    const char* base = std::getenv("H5PRUNE_FUZZ_TMP");
    std::string tmpl = std::string(base ? base : (::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp")) +
                       "/h5prune_fuzz.XXXXXX";
    if (!::mkdtemp(tmpl.data())) std::abort();
    std::atexit([] {
      ::unlink((scratch() + "/in.h5").c_str());
      ::rmdir(scratch().c_str());
    });
    return tmpl;
  }();
  return dir;
}

bool write_all(const std::string& path, const std::uint8_t* data, std::size_t size) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  std::size_t done = 0;
  while (done < size) {
    const ssize_t w = ::write(fd, data + done, size - done);
    if (w <= 0) break;
    done += static_cast<std::size_t>(w);
  }
  ::close(fd);
  return done == size;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  h5p::h5::silence_library_errors();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string in = scratch() + "/in.h5";
  if (!write_all(in, data, size)) return 0;
  try {
    h5p::Selection all;
    all.min_ndim = 0;
    h5p::run_stats(in, all, std::uint64_t{1} << 20, 1);
  } catch (const h5p::Error&) {
  }
  try {
    h5p::DensifyOptions o;
    o.input = in;
    o.output = scratch() + "/out.h5";
    o.memory_limit = std::uint64_t{1} << 20;
    o.force = true;
    h5p::run_densify(o);
    ::unlink(o.output.c_str());
  } catch (const h5p::Error&) {
  }
  return 0;
}
