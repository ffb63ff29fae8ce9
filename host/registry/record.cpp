// The registry's write path: stage -> prune -> hash -> store blob -> publish manifest.
#include "host/registry/record.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <exception>
#include <future>
#include <memory>
#include <optional>

#include "common/cleanup.hpp"
#include "common/errors.hpp"
#include "formats/atomic_file.hpp"
#include "formats/hdf5/file.hpp"
#include "formats/sha256.hpp"
#include "host/canonical_rule.hpp"
#include "host/registry/blob_store.hpp"
#include "host/registry/crash_hook.hpp"
#include "host/registry/fs_ops.hpp"
#include "host/registry/layout.hpp"
#include "host/registry/versions.hpp"

namespace h5p::registry {

namespace {

// A private directory under staging/, removed on every way out (kill -9 aside: gc's job).
// It is held open: the pipeline writes through pinned(), so it writes into this very directory
// even if someone replaces its name with a link meanwhile.
class StagingDir {
 public:
  explicit StagingDir(const Layout& l) : l_(l), path_(make(l, l.staging() + "/" + unique_token())), pin_(l, path_) {
    // A crash removes the staged output (the pipeline's own temporary arms itself).
    slots_[0] = arm_cleanup(pin_.path() + "/output.h5");
    slots_[1] = arm_cleanup(path_, /*directory=*/true);
  }
  StagingDir(const StagingDir&) = delete;
  StagingDir& operator=(const StagingDir&) = delete;
  ~StagingDir() {
    for (int s : slots_) disarm_cleanup(s);
    try {
      remove_entry(l_, path_);
    } catch (...) {
    }
  }
  const std::string& path() const { return path_; }
  std::string pinned() const { return pin_.path(); }
  std::string token() const { return path_.substr(path_.rfind('/') + 1); }

 private:
  static std::string make(const Layout& l, const std::string& path) {
    if (exists(l, path)) throw RegistryError("cannot create staging directory '" + path + "': it exists");
    make_dir(l, path);
    return path;
  }
  const Layout& l_;
  std::string path_;
  PinnedDir pin_;
  int slots_[2] = {-1, -1};
};

std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  return std::string(v);
}

Manifest make_manifest(const RecordRequest& q, const PruneResult& r, const std::string& key, double started,
                       const Layout& l) {
  Manifest m;
  m.model = q.model;
  m.key = key;
  m.created = iso8601_utc(started);
  m.output_sha256 = r.output_sha256;
  m.output_bytes = r.output_bytes;
  m.parent_sha256 = r.input_sha256;
  m.parent_bytes = r.input_bytes;
  m.parent_path = q.prune.input;
  if (auto parent = find_by_output(l, r.input_sha256)) {
    m.parent_model = parent->model;
    m.parent_version = parent->version;
  }
  m.rule = q.rule;
  m.tensors = r.tensors;
  m.total = r.total;
  m.tool_version = q.tool.version;
  m.tool_git = q.tool.git;
  m.tool_cuda = q.tool.cuda;
  m.backend = r.backend;
  m.device = r.device;
  m.threads = r.threads;
  m.host = host_name();
  m.user = user_name();
  m.slurm_job_id = env("SLURM_JOB_ID");
  m.slurm_array_job_id = env("SLURM_ARRAY_JOB_ID");
  m.slurm_array_task_id = env("SLURM_ARRAY_TASK_ID");
  m.command = q.command;
  return m;
}

// The input's SHA-256 and the file it was taken of (identity, size, modification time, the same
// before and after the hash); empty when the input is not a readable regular file (the
// pipeline reports that). Throws InputError when the file changed while it was hashed.
struct InputHash {
  std::string sha256;
  std::optional<h5::FileStamp> stamp;
};

InputHash hash_input(const std::string& path) {
  InputHash h;
  struct stat st {};
  // Hash only a regular file (a FIFO would block); the pipeline reports anything else.
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return h;
  struct ClosedOnExit {
    int fd;
    ~ClosedOnExit() {
      if (fd >= 0) ::close(fd);
    }
  } file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (file.fd < 0) return h;
  try {
    const auto before = h5::descriptor_stamp(file.fd);
    std::string sha = sha256_descriptor(file.fd, path);
    if (!before || before != h5::descriptor_stamp(file.fd))
      throw InputError("input '" + path + "' changed while it was being hashed; nothing recorded");
    h.sha256 = std::move(sha);
    h.stamp = before;
  } catch (const InputError&) {
    throw;
  } catch (const Error&) {
    // Unreadable input: the pipeline reports it with the right exit code.
  }
  return h;
}

// What the registry holds for this input and rule: the input's hash, and the version recorded
// for them, if its blob is intact (else `repaired` says what was wrong with it).
struct Recorded {
  InputHash input;
  std::optional<int> version;
  Manifest manifest;
  std::string repaired;
};

Recorded find_recorded(const Layout& l, const RecordRequest& q, const std::string& canonical, InputHash input) {
  Recorded r;
  r.input = std::move(input);
  if (r.input.sha256.empty()) return r;
  const auto v = find_by_key(l, q.model, idempotency_key(r.input.sha256, canonical, q.tool.version));
  if (!v) return r;
  const Manifest m = load_manifest(l, q.model, *v, /*even_retired=*/true);
  // "Already recorded" only when the blob is really there: otherwise the input is pruned (the
  // same input and rule give the same bytes) and the blob put back.
  r.repaired = check_blob(l, m.output_sha256, m.output_bytes);
  if (r.repaired.empty()) {
    r.version = *v;
    r.manifest = m;
  }
  return r;
}

// Whether a live version of the model was recorded from the same input path and size, with
// the same rule and tool version: what a rerun (a Slurm requeue) looks like before its input
// is hashed. Newest first; unreadable manifests are skipped (verify reports them).
bool looks_like_a_rerun(const Layout& l, const RecordRequest& q, const std::string& canonical) {
  struct stat st {};
  if (::stat(q.prune.input.c_str(), &st) != 0) return false;
  const std::vector<int> versions = list_versions(l, q.model);
  for (auto v = versions.rbegin(); v != versions.rend(); ++v) {
    try {
      const Manifest m = load_manifest(l, q.model, *v);
      if (m.parent_path == q.prune.input && m.parent_bytes == static_cast<std::uint64_t>(st.st_size) &&
          m.tool_version == q.tool.version && canonical_rule_text(m.rule) == canonical)
        return true;
    } catch (const RegistryError&) {
    }
  }
  return false;
}

void place_copy(const Layout& l, const Manifest& m, std::unique_ptr<AtomicOutput>& copy) {
  if (!copy) return;
  copy_blob_verified(l, m.output_sha256, m.output_bytes, copy->temp_path());
  copy->commit();
}

}  // namespace

PruneResult result_from_manifest(const Manifest& m) {
  PruneResult r;
  r.tensors = m.tensors;
  r.total = m.total;
  r.input_bytes = m.parent_bytes;
  r.input_sha256 = m.parent_sha256;
  r.output_sha256 = m.output_sha256;
  r.output_bytes = m.output_bytes;
  r.backend = m.backend;
  r.device = m.device;
  r.threads = m.threads;
  return r;
}

RecordOutcome record_prune(const RecordRequest& q) {
  check_model_name(q.model);
  const double started = now_seconds();
  const Layout l = Layout::create(q.registry);
  std::unique_ptr<AtomicOutput> copy;
  if (!q.copy_to.empty()) copy = std::make_unique<AtomicOutput>(q.copy_to, q.force, q.prune.input);

  // Same input, same canonical rule, same tool version: the version that exists is the answer.
  // Looking for it takes a hash of the whole input. A run that looks like a rerun (a Slurm
  // requeue) looks first: the hash runs beside the pruning, which it stops (before its next pass
  // over a tensor) when it finds the version. Any other run is most likely a new version: the
  // pipeline hashes the input after its passes, beside the output's hash, and the key is looked
  // up then (the version may still exist: the same file under another path).
  const std::string canonical = canonical_rule_text(q.rule);
  const bool rerun = looks_like_a_rerun(l, q, canonical);
  std::atomic<bool> found{false};
  std::future<Recorded> early;
  if (rerun)
    early = std::async(std::launch::async, [&] {
      try {
        Recorded r = find_recorded(l, q, canonical, hash_input(q.prune.input));
        if (r.version) found = true;
        return r;
      } catch (...) {
        found = true;  // a registry error: the pruning would be wasted
        throw;
      }
    });

  RecordOutcome out;
  std::optional<StagingDir> stage;
  std::exception_ptr prune_error;  // RunSuperseded, or an error that a recorded version makes moot
  try {
    stage.emplace(l);  // (a registry this user cannot write to may still answer a rerun)
    PruneOptions opts = q.prune;
    opts.output = stage->pinned() + "/output.h5";
    opts.force = false;
    opts.superseded = &found;
    opts.hash_input = !rerun;  // a rerun's lookup hashes it (of the same file: checked below)
    out.result = run_prune(opts);
    crash_point("pruned");
  } catch (...) {
    prune_error = std::current_exception();
  }
  // The registry's errors first, as before the pruning; a failed pruning still looks for the
  // version (it is the answer, as when the lookup came first).
  const Recorded recorded =
      early.valid() ? early.get()
      : prune_error ? find_recorded(l, q, canonical, hash_input(q.prune.input))
                    : find_recorded(l, q, canonical, InputHash{out.result.input_sha256, out.result.input_stamp});
  out.repaired = recorded.repaired;
  if (recorded.version) {
    out.version = *recorded.version;
    out.already = true;
    out.manifest = recorded.manifest;
    out.result = result_from_manifest(out.manifest);
    out.blob_path = l.blob_path(out.manifest.output_sha256);
    place_copy(l, out.manifest, copy);
    return out;
  }
  if (prune_error) std::rethrow_exception(prune_error);
  if (rerun) {
    // The lookup's hash is the input's only if it was taken of the file the pruning read, as the
    // pruning found it from its start to its end: a path replaced, or a file written, in between
    // moves its identity, size or modification time.
    if (!recorded.input.stamp || recorded.input.stamp != out.result.input_stamp)
      throw InputError("input '" + q.prune.input + "' changed while it was being pruned; nothing recorded");
    out.result.input_sha256 = recorded.input.sha256;
  }
  const std::string staged = stage->path() + "/output.h5";
  const double publish_start = now_seconds();
  const std::string key = idempotency_key(out.result.input_sha256, canonical, q.tool.version);

  out.blob_path = store_blob(l, staged, out.result.output_sha256, out.result.output_bytes);
  Manifest m = make_manifest(q, out.result, key, started, l);
  m.publish_id = stage->token();
  const Published p = publish_version(l, m, stage->path() + "/version");
  out.version = p.version;
  out.already = p.already;
  out.manifest = load_manifest(l, q.model, p.version, /*even_retired=*/true);
  if (out.manifest.output_sha256 != out.result.output_sha256)
    throw RegistryError(q.model + "@" + std::to_string(p.version) + " records output sha256 " + out.manifest.output_sha256 +
                        " but this run of the same input and rule gave " + out.result.output_sha256 +
                        (out.repaired.empty() ? "" : "; its blob (" + out.repaired + ") was not repaired"));
  // A gc that listed references before this version appeared may have removed the blob as
  // unreferenced: put it back from the staged copy, which is still here.
  if (!exists(l, out.blob_path) && link_entry(l, staged, out.blob_path) != 0 && !exists(l, out.blob_path))
    throw RegistryError("blob '" + out.blob_path + "' vanished while publishing " + q.model + "@" +
                        std::to_string(p.version));
  crash_point("published");
  place_copy(l, out.manifest, copy);
  const double publish_seconds = now_seconds() - publish_start;  // blob, manifest, rename, copy
  out.result.seconds.publish += publish_seconds;
  out.result.seconds.total += publish_seconds;
  return out;
}

}  // namespace h5p::registry
