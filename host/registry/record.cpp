// The registry's write path: stage -> prune -> hash -> store blob -> publish manifest.
#include "host/registry/record.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "common/cleanup.hpp"
#include "common/errors.hpp"
#include "formats/atomic_file.hpp"
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

// The input's SHA-256, or "" when it is not a readable regular file (the pipeline reports
// that with the right exit code; a FIFO would block).
std::string hash_input(const std::string& path) {
  try {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) return sha256_file(path);
  } catch (const Error&) {
  }
  return "";
}

// A run's origin: the SHA-256 of its input path (as given), the input's size and modification
// time, the canonical rule and the tool version. A run with the origin of a recorded version is
// most likely a rerun of it (a Slurm requeue of a finished task); "" when the input is not a
// regular file.
std::string origin_of(const RecordRequest& q, const std::string& canonical) {
  struct stat st {};
  if (::stat(q.prune.input.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return "";
  const std::int64_t mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  const std::string text = q.prune.input + '\0' + std::to_string(st.st_size) + '\0' + std::to_string(mtime_ns) +
                           '\0' + canonical + '\0' + q.tool.version;
  return sha256_bytes(text.data(), text.size());
}

void place_copy(const Layout& l, const Manifest& m, std::unique_ptr<AtomicOutput>& copy) {
  if (!copy) return;
  copy_blob_verified(l, m.output_sha256, m.output_bytes, copy->temp_path());
  copy->commit();
}

// The answer when the model has a version with this key whose blob is intact: `out` filled as
// "already recorded" (and its file copied out with -o). When the blob is missing or damaged,
// out.repaired says what was wrong, and the caller's output puts it back.
bool answer_if_recorded(const Layout& l, const RecordRequest& q, const std::string& key,
                        std::unique_ptr<AtomicOutput>& copy, RecordOutcome& out) {
  const auto v = find_by_key(l, q.model, key);
  if (!v) return false;
  const Manifest m = load_manifest(l, q.model, *v, /*even_retired=*/true);
  out.repaired = check_blob(l, m.output_sha256, m.output_bytes);
  if (!out.repaired.empty()) return false;
  out.version = *v;
  out.already = true;
  out.manifest = m;
  out.result = result_from_manifest(m);
  out.blob_path = l.blob_path(m.output_sha256);
  place_copy(l, m, copy);
  return true;
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
  // Finding it takes a hash of the whole input. A run that looks like a rerun of a recorded
  // version (the same origin: a Slurm requeue) hashes first and stops there when the version
  // exists. Any other run is most likely a new version and does not wait for that hash: the
  // pipeline hashes the input after its passes, beside the output's hash, and the key is
  // looked up then (a version may still exist: the same bytes under another path).
  const std::string canonical = canonical_rule_text(q.rule);
  const std::string origin = origin_of(q, canonical);
  RecordOutcome out;
  std::string input_sha;
  if (!origin.empty() && has_origin(l, q.model, origin)) {
    if (q.prune.on_progress) q.prune.on_progress(Progress{"hash", q.prune.input, 0, 0});  // a batch log repeats it
    input_sha = hash_input(q.prune.input);
    if (!input_sha.empty() && answer_if_recorded(l, q, idempotency_key(input_sha, canonical, q.tool.version), copy, out))
      return out;
  }

  pause_before_pruning();
  StagingDir stage(l);
  PruneOptions opts = q.prune;
  opts.output = stage.pinned() + "/output.h5";
  opts.force = false;
  out.result = run_prune(opts);
  out.pruned = true;
  const std::string staged = stage.path() + "/output.h5";
  crash_point("pruned");
  if (!input_sha.empty() && out.result.input_sha256 != input_sha)
    throw InputError("input '" + q.prune.input + "' changed while it was being pruned; nothing recorded");
  if (input_sha.empty() &&
      answer_if_recorded(l, q, idempotency_key(out.result.input_sha256, canonical, q.tool.version), copy, out)) {
    if (!origin.empty()) note_origin(l, q.model, origin);  // a rerun from this path is found first
    return out;  // the new output is dropped with its staging directory
  }
  const double publish_start = now_seconds();
  const std::string key = idempotency_key(out.result.input_sha256, canonical, q.tool.version);

  out.blob_path = store_blob(l, staged, out.result.output_sha256, out.result.output_bytes);
  Manifest m = make_manifest(q, out.result, key, started, l);
  m.publish_id = stage.token();
  const Published p = publish_version(l, m, stage.path() + "/version");
  if (!origin.empty()) note_origin(l, q.model, origin);
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
