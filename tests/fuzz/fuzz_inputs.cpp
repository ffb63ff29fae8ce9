// libFuzzer target: arbitrary bytes as an input file through stats (the metadata walk, tensor
// selection, sparse layout groups read back) and densify (the sparse-layout reader and the
// faithful copy), after the isolated check's metadata walk, as the product runs them. h5prune's
// own errors are expected; a crash, hang or leak is a finding.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/errors.hpp"
#include "formats/hdf5/file.hpp"
#include "formats/hdf5/metadata_walk.hpp"
#include "formats/hdf5/slabs.hpp"
#include "formats/sparse/reader.hpp"
#include "host/densify.hpp"
#include "host/stats.hpp"

// The sanitizer runtime's hook, present only in sanitizer builds (weak: fuzz_replay has none).
extern "C" __attribute__((weak)) void __sanitizer_set_death_callback(void (*)(void));

namespace {

// A per-process scratch directory (in memory when /dev/shm exists), removed at exit. Plain
// char arrays: they outlive every static destructor, which run before this atexit handler.
char g_dir[256];
char g_input[300];
char g_output[300];

void remove_scratch() {
  ::unlink(g_input);
  ::unlink(g_output);
  ::rmdir(g_dir);
}

std::string scratch() {
  if (!g_dir[0]) {
    const char* base = std::getenv("H5PRUNE_FUZZ_TMP");
    std::snprintf(g_dir, sizeof g_dir, "%s/h5prune_fuzz.XXXXXX",
                  base ? base : (::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"));
    if (!::mkdtemp(g_dir)) std::abort();
    std::snprintf(g_input, sizeof g_input, "%s/in.h5", g_dir);
    std::snprintf(g_output, sizeof g_output, "%s/out.h5", g_dir);
    std::atexit(remove_scratch);
  }
  return g_dir;
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

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  h5p::h5::silence_library_errors();
  return 0;
}

// Work is proportional to declared sizes, which are legitimate up to 1 PiB: inputs declaring
// more than 16 MiB of tensor data (plain or as a sparse layout's dense shape) are walked but
// not processed, so that time goes to the parsing paths rather than to writing zeros.
bool small_enough(const std::string& path) {
  constexpr std::uint64_t kBudget = std::uint64_t{16} << 20;
  try {
    h5p::h5::Handle file = h5p::h5::open_input(path);
    std::uint64_t total = 0;
    for (const auto& d : h5p::h5::list_datasets(file)) {
      total += h5p::h5::element_count(d.shape) * 8;
      const std::string parent = d.path.substr(0, d.path.rfind('/'));
      if (!parent.empty() && h5p::sparse::is_layout_group(file, parent)) {
        h5p::h5::Handle g = h5p::h5::group_handle(H5Gopen2(file, parent.c_str(), H5P_DEFAULT));
        if (g.valid()) total += h5p::sparse::read_layout(g, path, parent).n * 8;
      }
      if (total > kBudget) return false;
    }
  } catch (const h5p::Error&) {
  }
  return true;
}

// The product walks every input's metadata in a check process first and refuses the input when
// libhdf5 crashes or hangs there (host/input_check): such inputs never reach the paths below. The
// harness does the same in a child, so a finding is a crash the product would really suffer.
bool walk_survives_in_child(const std::string& path) {
  const pid_t pid = ::fork();
  if (pid < 0) return false;
  if (pid == 0) {
    // The child's end is the answer, not a finding: no report, no libFuzzer crash artifact (its
    // death callback and signal handlers are inherited), and a hang ends by SIGALRM, not by
    // libFuzzer's own timer.
    const int null = ::open("/dev/null", O_WRONLY);
    if (null >= 0) ::dup2(null, 2);
    if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(nullptr);
    for (int sig : {SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE, SIGALRM}) ::signal(sig, SIG_DFL);
    ::alarm(5);
    try {
      h5p::h5::walk_metadata(path);
    } catch (...) {
    }
    ::_exit(0);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string in = scratch() + "/in.h5";
  if (!write_all(in, data, size)) return 0;
  if (!walk_survives_in_child(in)) return 0;
  // The walk again in-process, for the fuzzer's coverage of it (it survived in the child).
  try {
    h5p::h5::walk_metadata(in);
  } catch (const h5p::Error&) {
  }
  if (!small_enough(in)) return 0;
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
