// The prune pipeline. Weights are held in memory when they fit the memory limit and
// streamed in slabs (re-read for every pass) when they do not; results are the same.
#include "host/pipeline.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <future>
#include <limits>
#include <map>
#include <numeric>
#include <optional>
#include <tuple>
#include <utility>

#include "common/errors.hpp"
#include "common/interrupt.hpp"
#include "formats/atomic_file.hpp"
#include "formats/hdf5/copy.hpp"
#include "formats/hdf5/fill_value.hpp"
#include "formats/sha256.hpp"
#include "host/compaction.hpp"
#include "host/input_check.hpp"
#include "host/key_sample.hpp"
#include "host/relative_threshold.hpp"
#include "host/structured.hpp"
#include "kernels/backend.hpp"
#include "kernels/cuda/cuda_backend.hpp"
#include "kernels/cuda/cuda_probe.hpp"
#include "kernels/keys.hpp"
#include "kernels/radix_select.hpp"

namespace h5p {

namespace {

using Clock = std::chrono::steady_clock;

// Pieces of a resident tensor that are pruned and written one after the other: small enough to
// stay in the last-level cache between the two, large enough that HDF5's per-call cost is small.
constexpr std::size_t kFusedPieceBytes = std::size_t{4} << 20;

// Bytes per write of a piece or slab to HDF5 (each one system call). The kernel backs a write
// with page-cache folios about as large as the write; on the 2-core VM of benchmarks/RESULTS.md
// copying into a 4 MiB write's folios was up to 15x slower than into a 128 KiB write's
// (memory its host had taken back), and the system calls for 4 GB in 128 KiB writes cost
// little next to that (RESULTS.md, "seventh session").
constexpr std::size_t kWriteBytes = std::size_t{128} << 10;

// Unselected datasets at least this large are named by the progress while they are copied.
constexpr std::uint64_t kNamedCopyBytes = std::uint64_t{16} << 20;

// Pieces of a mapped tensor's first pass (whole sum blocks, so sums carried between them equal one
// call's): large, since nothing needs to stay in the cache, but small enough that a checkpoint
// and a progress step come at least every 64 MiB read from disk.
constexpr std::size_t kMappedScanPieceBytes = std::size_t{64} << 20;

// Elements per piece of a resident tensor of this shape: about kFusedPieceBytes, a multiple of
// kSumBlock (so sums carried from piece to piece equal one call's) and of the elements under
// one index of the first axis (so a piece is one hyperslab of whole rows). 0 when no such size
// stays near the cache: the tensor then goes whole.
std::size_t fused_piece_elements(const std::vector<hsize_t>& shape, std::size_t esize) {
  std::size_t row = 1;
  for (std::size_t d = 1; d < shape.size(); ++d) row *= static_cast<std::size_t>(shape[d]);
  if (row == 0) return 0;
  const std::size_t unit = std::lcm(row, kSumBlock);
  const std::size_t target = kFusedPieceBytes / esize;
  if (unit > 4 * target) return 0;
  return unit * std::max<std::size_t>(1, target / unit);
}

// Starts the disk writes of what HDF5 has written to the output so far, without waiting for them:
// the fsync before the output is moved into place then finds little left to write (it was 0.1 s
// of a 0.6 s run on a 383 MB model, writing everything at the end).
void start_writeback(hid_t file) {
  if (const int fd = h5::posix_descriptor(file); fd >= 0) sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
}

// Adds the time spent in its scope to one stage's counter.
class StageTimer {
 public:
  explicit StageTimer(double& acc) : acc_(acc), start_(Clock::now()) {}
  ~StageTimer() { acc_ += std::chrono::duration<double>(Clock::now() - start_).count(); }

 private:
  double& acc_;
  Clock::time_point start_;
};

struct TensorState {
  const PlannedTensor* plan = nullptr;
  const Rule* rule = nullptr;  // the rule this tensor takes (its group's, or the command line's)
  std::size_t group = 0;      // index of that rule among the groups; global scope works within one
  std::size_t nm_stride = 1;  // N:M: elements between a group's members (1: the last axis)
  SliceAxis slice_axis;       // structured: the slices of the chosen axis
  std::vector<std::uint8_t> drop;  // structured: 1 for each slice to zero
  KeyWidth width = KeyWidth::k32;
  std::uint64_t K = 0;
  std::uint64_t quota = 0;
  std::uint64_t max_key = 0;  // largest non-NaN magnitude key (native width), from the scan
  bool keep = false;          // fits the memory limit: the scan reads it into memory for good
  TensorResult result;
  std::size_t bytes() const { return plan->n * dtype_size(plan->dtype); }
};

class PruneJob {
 public:
  explicit PruneJob(const PruneOptions& o) : opt_(o), meter_(o.on_progress) {}

  PruneResult run();

 private:
  // The stages of run(), in order.
  void open_and_plan();
  void describe_dry_run();
  void analyse_global();
  void write_output(const std::string& temp_path);
  void publish(AtomicOutput& out);
  void summarise();

  const PruneOptions& opt_;
  std::unique_ptr<Backend> backend_;
  h5::Handle in_file_;
  Plan plan_;
  std::vector<TensorState> states_;
  std::map<std::string, std::size_t> index_;  // path -> states_ index
  std::map<std::string, std::pair<const Rule*, std::size_t>> assigned_;  // path -> (rule, group)
  PruneResult result_;
  std::unique_ptr<TensorReader> reader_;
  ProgressMeter meter_;
  std::optional<h5::FileStamp> input_stamp_;  // the input's size and mtime when it was opened

  void plan_progress();

  void choose_backend();
  CudaBackendOptions cuda_options() const {
    CudaBackendOptions o;
    o.device_memory_limit = opt_.device_memory_limit;
    o.host_threads = opt_.threads;
#ifdef H5PRUNE_TEST_HOOKS
    // Test hook: H5PRUNE_TEST_CUDA_HOST_BELOW=N moves the host/device size boundary (0: every
    // tensor on the device), so end-to-end tests can send small tensors through the kernels.
    if (const char* v = std::getenv("H5PRUNE_TEST_CUDA_HOST_BELOW")) o.host_below = std::strtoull(v, nullptr, 10);
#endif
    return o;
  }
  void check_filters();

  // Calls f(view of a slab, slab) for each slab of the tensor, from memory when resident,
  // else read from the input (mapped when f is `read_only` and the bytes allow); slabs of an N:M
  // run hold whole groups.
  void for_each_slab(TensorState& s, const std::function<void(MutTensor, const h5::Slab&)>& f, bool read_only);
  bool resident(const TensorState& s) const { return reader_->resident(*s.plan); }
  void keep_resident(TensorState& s);
  [[noreturn]] void throw_device_error(const TensorState& s, const DeviceError& e) const;
  void scan(TensorState& s, KeyWidth w, std::vector<std::uint64_t>* first_digit_hist, KeyGather* gather = nullptr);
  // A scope's k-th smallest key (global: a group's tensors; tensor scope: one tensor), and when
  // known, how many keys equal to it each tensor of the scope holds.
  struct ScopeSelection {
    KthKey kth;
    std::vector<std::uint64_t> ties;  // per tensor of the scope; empty when not counted
  };
  ScopeSelection scan_and_select(const std::vector<TensorState*>& scope, KeyWidth w, std::uint64_t k);
  std::optional<KeyGather> sample_bounds(const std::vector<TensorState*>& scope, KeyWidth w, std::uint64_t k);
  std::optional<ScopeSelection> select_from_gathered(const std::vector<TensorState*>& scope, const KeyGather& g,
                                                     const std::vector<std::size_t>& starts, std::uint64_t k);
  std::size_t gather_cap(const std::vector<TensorState*>& scope) const;
  void for_each_scope_slab(const std::vector<TensorState*>& scope, const std::string& pass, bool counted,
                           const std::function<void(std::size_t, ConstTensor)>& f);
  void finish_selection(const std::vector<TensorState*>& scope, RadixSelection& sel);
  KeyWidth global_width(const std::vector<TensorState*>& scope) const;
  void select_global(const std::vector<TensorState*>& scope, const ScopeSelection& sel, std::uint64_t k);
  void analyse_tensor(TensorState& s);
  static bool global_scope(const TensorState& s);
  void assign_rules();
  void analyse_global_group(const std::vector<TensorState*>& scope);
  void prepare_tensor(TensorState& s);
  void apply_and_write(TensorState& s, hid_t in_dataset, hid_t out_dataset);
  bool applies_in_pieces(const TensorState& s) const;
  // Where values pruned out of a mapping (two pieces of a resident tensor, or one streamed slab)
  // go, and are written from: at least `bytes`, grown only, kept for later tensors.
  std::vector<unsigned char> mapped_out_;
  unsigned char* mapped_out(std::size_t bytes) {
    if (mapped_out_.size() < bytes) mapped_out_.resize(bytes);
    return mapped_out_.data();
  }
  void prune_slab(TensorState& s, MutTensor slab, std::uint64_t begin, std::uint64_t& quota, bool record,
                  bool chained = false);
  void apply_slab(TensorState& s, ConstTensor in, void* out, std::uint64_t& quota, bool record, bool chained);
  void choose_slices(TensorState& s);
  void write_layout(TensorState& s, hid_t in_dataset, hid_t out_group, const std::string& name, hid_t lcpl);
  void finish_tensor(TensorState& s);
  void check_layout_rules();
  void plan_nm_axes();
  void warn_mixed_scales(const std::vector<TensorState*>& scope);
  void measure_bytes(const std::string& output_path);
};

#ifdef H5P_HAVE_CUDA
constexpr bool kCudaBuilt = true;
#else
constexpr bool kCudaBuilt = false;  // auto's note then says the build has no CUDA
#endif

// cpu: the OpenMP backend. cuda: the device or a usage error. auto: the device when one is
// usable and a tensor is large enough to go to it, else the CPU, with the reason in the summary.
void PruneJob::choose_backend() {
  std::uint64_t largest = 0;
  for (const PlannedTensor& t : plan_.tensors) largest = std::max<std::uint64_t>(largest, t.n);
  const std::size_t host_below = cuda_options().host_below;
  if (opt_.backend == "cpu") {
    backend_ = make_cpu_backend(opt_.threads);
  } else if (opt_.backend == "cuda") {
    backend_ = make_cuda_backend(cuda_options());
  } else if (opt_.backend == "auto" && kCudaBuilt && largest < host_below) {
    // The CUDA backend would run every tensor on its host side: starting the device (0.3-0.7 s
    // on an H200 machine, benchmarks/RESULTS.md) would buy nothing.
    backend_ = make_cpu_backend(opt_.threads);
    result_.backend_note = "every selected tensor has fewer than " + std::to_string(host_below) +
                           " weights, which the CUDA backend runs on the CPU too; used the CPU";
  } else if (opt_.backend == "auto") {
    const CudaProbe probe = probe_cuda();
    if (probe.devices > 0) {
      backend_ = make_cuda_backend(cuda_options());
    } else {
      backend_ = make_cpu_backend(opt_.threads);
      result_.backend_note = "no usable CUDA device (" + probe.reason + "); used the CPU";
    }
  } else {
    throw UsageError("unknown backend '" + opt_.backend + "' (expected auto, cpu or cuda)");
  }
  result_.backend = backend_->name();
  result_.device = backend_->device();
}

// Reads the tensor into memory once; a device backend may keep a copy too (retain/release).
void PruneJob::keep_resident(TensorState& s) {
  if (reader_->resident(*s.plan)) return;
  reader_->keep_resident(*s.plan);
  const MutTensor view = reader_->resident_view(*s.plan);
  try {
    backend_->retain(ConstTensor{view.dtype, view.data, view.n});
  } catch (const DeviceError& e) {
    throw_device_error(s, e);
  }
}

void PruneJob::check_filters() { require_decodable(in_file_, plan_, opt_.input); }

void PruneJob::for_each_slab(TensorState& s, const std::function<void(MutTensor, const h5::Slab&)>& f,
                             bool read_only) {
  // N:M slabs hold whole runs of M steps along the axis (M * stride elements): whole groups.
  const std::size_t nm_unit = s.rule->mode == RuleMode::nm ? s.rule->nm_group * s.nm_stride : 0;
  try {
    reader_->for_each_slab(*s.plan, slab_elements(opt_.memory_limit, s.plan->dtype, nm_unit), f, read_only);
  } catch (const DeviceError& e) {
    throw_device_error(s, e);
  }
}

// A CUDA failure names the call; add the tensor and file, and what to try when memory ran out.
void PruneJob::throw_device_error(const TensorState& s, const DeviceError& e) const {
  const std::string what = e.what();
  const bool memory = what.find("out of memory") != std::string::npos;
  throw DeviceError("tensor " + s.plan->path + " in '" + opt_.input + "': " + what +
                    (memory ? " (try a smaller --device-memory-limit, or --backend cpu)" : ""));
}

void PruneJob::scan(TensorState& s, KeyWidth w, std::vector<std::uint64_t>* first_digit_hist, KeyGather* gather) {
  TensorScan total;
  const DigitLayout d = digit_layout(w).front();
  meter_.pass("scan", true);
  const bool selecting = first_digit_hist || gather;
  // A tensor that can be pruned piece by piece into a buffer may stay in the input's pages
  // instead (map_resident: true for one mapped already, false for one read into memory).
  const bool mapped = s.keep && applies_in_pieces(s) && reader_->map_resident(*s.plan);
  // Read and scanned piece by piece (each piece scanned while it is still in the cache) when the
  // tensor is to stay in memory and the first digit is taken or keys gathered: pieces of whole
  // blocks, the sum carried from piece to piece, give what one call over the tensor gives. A
  // mapped tensor goes in pieces too: large ones, for the checkpoints and the progress.
  const std::size_t esize = dtype_size(s.plan->dtype);
  const std::size_t piece_elems = fused_piece_elements(s.plan->shape, esize);
  const bool pieces = s.keep && (mapped || !resident(s)) && selecting && piece_elems > 0 &&
                      backend_->works_in_host_memory();
  auto body = [&](MutTensor slab, const h5::Slab&) {
    StageTimer t(result_.seconds.compute);
    const ConstTensor view{slab.dtype, slab.data, slab.n};
    const double sum_from = pieces ? total.sum_sq : 0.0;
    const TensorScan part = gather              ? backend_->scan_gather(view, w, *gather, sum_from)
                            : first_digit_hist ? backend_->scan_histogram(view, w, {d.shift, d.bits, 0},
                                                                          first_digit_hist->data(), sum_from)
                                               : backend_->scan(view);
    const double chained_sum = part.sum_sq;
    total.add(part);  // part of a scan_histogram has no extremes: max stays what scan() found
    if (pieces) total.sum_sq = chained_sum;
  };
  if (mapped) {
    // in large pieces of whole blocks when selecting (sums carried, as above), else in one
    // (scan()'s sums are not carried)
    const std::size_t mapped_piece_elems =
        selecting ? std::max<std::size_t>(1, kMappedScanPieceBytes / esize / kSumBlock) * kSumBlock : s.plan->n;
    reader_->for_each_mapped_piece(*s.plan, mapped_piece_elems, body);
  } else if (pieces) {
    reader_->keep_resident(*s.plan, piece_elems, body);
  } else {
    if (s.keep) keep_resident(s);
    for_each_slab(s, body, /*read_only=*/true);
  }
  if (total.nan > 0)
    throw DataError("tensor " + s.plan->path + " in '" + opt_.input + "' contains " + std::to_string(total.nan) +
                    " NaN value" + (total.nan == 1 ? "" : "s") + "; nothing was written");
  s.result.zeros_before = total.zeros;
  s.result.sum_sq_before = total.sum_sq;
  s.max_key = total.max_abs_key;
}

// Runs f(index in scope, slab) over every slab of every tensor of `scope`, as one read-only pass
// named `pass` (counted by the progress when the plan holds it), and adds its bytes to the
// selection's.
void PruneJob::for_each_scope_slab(const std::vector<TensorState*>& scope, const std::string& pass, bool counted,
                                   const std::function<void(std::size_t, ConstTensor)>& f) {
  meter_.pass(pass, counted);
  for (std::size_t i = 0; i < scope.size(); ++i) {
    for_each_slab(*scope[i], [&](MutTensor slab, const h5::Slab&) {
      StageTimer t(result_.seconds.compute);
      f(i, ConstTensor{slab.dtype, slab.data, slab.n});
    }, /*read_only=*/true);
    result_.selection_bytes += scope[i]->bytes();
  }
}

// Runs the remaining radix passes over `scope` for a selection that has its first digit.
void PruneJob::finish_selection(const std::vector<TensorState*>& scope, RadixSelection& sel) {
  const KeyWidth w = sel.width;
  const std::size_t digits = digit_layout(w).size();
  for (std::size_t digit = 2; !sel.done(); ++digit) {
    const DigitLayout d = sel.next_digit();
    std::vector<std::uint64_t> hist(std::size_t{1} << d.bits, 0);
    for_each_scope_slab(scope, "select " + std::to_string(digit) + "/" + std::to_string(digits), true,
                        [&](std::size_t, ConstTensor t) {
                          backend_->histogram(t, w, {d.shift, d.bits, sel.prefix}, hist.data());
                        });
    sel.consume(hist);
  }
}

// The most keys a selection may gather: a quarter of the memory the scope's weights may take
// (8 bytes a key), and at least 1 Mi keys (8 MiB: a small scope's bounds hold a larger share).
// A 1B-weight scope's bounds hold about 2.6M keys: 21 MB, within a 256 MiB limit's 64 MiB.
std::size_t PruneJob::gather_cap(const std::vector<TensorState*>& scope) const {
  std::uint64_t bytes = 0;
  for (const TensorState* s : scope) bytes += s->bytes();
  return static_cast<std::size_t>(std::max<std::uint64_t>(std::uint64_t{1} << 20, std::min(bytes, opt_.memory_limit) / 32));
}

// Before the scan: bounds for the k-th key from a sample (1/256, at most 4 Mi keys), when every
// tensor of the scope lies in the file as memory holds it and the sample's runs are in the page
// cache: read straight from it (pread), a few kilobytes per tensor of each 256 KiB. Up to 1/64 of
// the runs (at most 256) may come from the file, for a file the cache holds but in part; a cold
// file (its runs would be random reads from a disk or a network filesystem), chunked or
// compressed tensors, and device backends go without.
std::optional<KeyGather> PruneJob::sample_bounds(const std::vector<TensorState*>& scope, KeyWidth w,
                                                 std::uint64_t k) {
  if (k == 0 || !backend_->works_in_host_memory()) return std::nullopt;
#ifdef H5PRUNE_TEST_HOOKS
  // Test hook: H5PRUNE_TEST_SELECTION=bin or radix takes no sample (the scan takes the first
  // digit); =miss takes one and moves its bounds past the k-th key, as a sample that missed.
  const char* hook = std::getenv("H5PRUNE_TEST_SELECTION");
  if (hook && (std::string(hook) == "bin" || std::string(hook) == "radix")) return std::nullopt;
#endif
  meter_.pass("sample", false);
  StageTimer t(result_.seconds.compute);
  std::uint64_t n = 0;
  for (const TensorState* s : scope) n += s->plan->n;
  KeySample sample(w, n);
  std::vector<std::vector<std::pair<std::size_t, std::size_t>>> runs_of;  // per tensor of the scope
  std::size_t all_runs = 0;
  for (const TensorState* s : scope) {
    runs_of.push_back(sample.runs(s->plan->n));
    all_runs += runs_of.back().size();
  }
  std::size_t uncached_left = std::min<std::size_t>(256, all_runs / 64);
  std::vector<unsigned char> sampled;
  for (std::size_t i = 0; i < scope.size(); ++i) {
    const PlannedTensor& plan = *scope[i]->plan;
    const auto& runs = runs_of[i];
    std::size_t count = 0;
    for (const auto& run : runs) count += run.second;
    sampled.resize(count * dtype_size(plan.dtype));
    if (!reader_->read_cached_runs(plan, runs, sampled.data(), uncached_left)) return std::nullopt;
    sample.add(plan.dtype, plan.n, sampled.data());
  }
  std::optional<KeyGather> bounds = sample.bounds(k, gather_cap(scope));
#ifdef H5PRUNE_TEST_HOOKS
  if (bounds && hook && std::string(hook) == "miss") bounds->lo = bounds->hi = inf_key(w) + 1;  // a NaN's key: none left
#endif
  return bounds;
}

// The selection from keys gathered over the scope (tensor i's from starts[i]): nullopt when the
// k-th key lies outside their range or the gathering overflowed.
std::optional<PruneJob::ScopeSelection> PruneJob::select_from_gathered(const std::vector<TensorState*>& scope,
                                                                      const KeyGather& g,
                                                                      const std::vector<std::size_t>& starts,
                                                                      std::uint64_t k) {
  if (g.overflow) return std::nullopt;
  StageTimer t(result_.seconds.compute);
  const std::optional<KthKey> kth = select_gathered(g.keys, g.below, k);
  if (!kth) return std::nullopt;
  ScopeSelection sel{*kth, {}};
  for (std::size_t i = 0; i < scope.size(); ++i) {
    const std::size_t end = i + 1 < scope.size() ? starts[i + 1] : g.keys.size();
    sel.ties.push_back(static_cast<std::uint64_t>(
        std::count(g.keys.begin() + static_cast<std::ptrdiff_t>(starts[i]), g.keys.begin() + static_cast<std::ptrdiff_t>(end), kth->key)));
  }
  return sel;
}

// Scans every tensor of `scope` (keys in width w) and finds its k-th smallest key (k >= 1) in as
// few passes over the weights as it can:
// - with bounds from a sample, the scan gathers the keys between them, and the selection ends on
//   those keys, ties counted too: one pass;
// - else (or when the bounds missed: the first digit's histogram then takes a pass of its own)
//   the chosen bin's keys are gathered in one more pass, when they fit the cap;
// - else the radix passes go on digit by digit, and the ties are counted later (select_global).
// The answer is the same on every path; only the passes differ.
PruneJob::ScopeSelection PruneJob::scan_and_select(const std::vector<TensorState*>& scope, KeyWidth w,
                                                   std::uint64_t k) {
  std::vector<std::uint64_t> first(std::size_t{1} << digit_layout(w).front().bits, 0);
  std::optional<KeyGather> bounds = sample_bounds(scope, w, k);
  const std::uint64_t planned_digits = digit_layout(w).size() - 1;  // passes the progress plan holds
  std::uint64_t scope_bytes = 0;
  for (const TensorState* s : scope) scope_bytes += s->bytes();
  if (bounds) {
    std::vector<std::size_t> starts;
    for (TensorState* s : scope) {
      starts.push_back(bounds->keys.size());
      scan(*s, w, nullptr, &*bounds);
    }
    if (std::optional<ScopeSelection> sel = select_from_gathered(scope, *bounds, starts, k)) {
      meter_.unplan(planned_digits * scope_bytes);
      return *sel;
    }
    bounds.reset();
    // Missed: the first digit in a pass of its own, which the progress plan did not hold.
    const DigitLayout d = digit_layout(w).front();
    for_each_scope_slab(scope, "select 1/" + std::to_string(planned_digits + 1), false, [&](std::size_t, ConstTensor t) {
      backend_->histogram(t, w, {d.shift, d.bits, 0}, first.data());
    });
  } else {
    for (TensorState* s : scope) scan(*s, w, &first);
  }
  if (k == 0) return {};
  RadixSelection sel(w, k);
  sel.consume(first);
  bool gather_bin = !sel.done() && backend_->works_in_host_memory() && sel.equal <= gather_cap(scope);
#ifdef H5PRUNE_TEST_HOOKS
  if (const char* hook = std::getenv("H5PRUNE_TEST_SELECTION"); hook && std::string(hook) == "radix") gather_bin = false;
#endif
  if (gather_bin) {
    KeyGather g;
    g.lo = sel.prefix_lo();
    g.hi = sel.prefix_hi();
    g.cap = gather_cap(scope);
    g.keys.reserve(sel.equal);
    std::vector<std::size_t> starts;
    for_each_scope_slab(scope, "select 2/" + std::to_string(planned_digits + 1), true, [&](std::size_t i, ConstTensor t) {
      while (starts.size() <= i) starts.push_back(g.keys.size());
      backend_->gather_keys(t, w, g);
    });
    while (starts.size() < scope.size()) starts.push_back(g.keys.size());
    std::optional<ScopeSelection> found = select_from_gathered(scope, g, starts, k);
    if (!found) throw std::logic_error("selection: the keys of the chosen bin do not hold the k-th key");
    meter_.unplan((planned_digits - 1) * scope_bytes);
    return *found;
  }
  finish_selection(scope, sel);
  return ScopeSelection{KthKey{sel.key(), sel.below, sel.equal}, {}};
}

KeyWidth PruneJob::global_width(const std::vector<TensorState*>& scope) const {
  KeyWidth w = KeyWidth::k16;
  for (const TensorState* s : scope) w = wider(w, native_key_width(s->plan->dtype));
  return w;
}

// Global scope: the threshold found over every tensor of the scope, then each tensor's share of
// the tie quota in path order (its ties counted in a pass of their own when the selection did not
// count them).
void PruneJob::select_global(const std::vector<TensorState*>& scope, const ScopeSelection& sel, std::uint64_t k) {
  const KeyWidth w = global_width(scope);
  const Rule& rule = *scope.front()->rule;
  const std::uint64_t K = k > 0 ? sel.kth.key : 0;
  const std::uint64_t r = k > 0 ? sel.kth.tie_quota(k) : 0;
  const std::uint64_t equal = sel.kth.equal;
  std::uint64_t left = r;
  for (std::size_t i = 0; i < scope.size(); ++i) {
    TensorState& s = *scope[i];
    s.width = w;
    s.K = K;
    s.result.requested_sparsity = rule.sparsity.approx();
    s.result.threshold = key_value(w, K);
    if (r == 0 || r == equal) {
      s.quota = r == 0 ? 0 : kAllTies;
      continue;
    }
    if (left == 0) {  // the quota went to tensors before this one: no need to count its ties
      s.quota = 0;
      continue;
    }
    std::uint64_t ties = 0;
    if (!sel.ties.empty()) {
      ties = sel.ties[i];
    } else {
      for_each_scope_slab({&s}, "ties", false,
                          [&](std::size_t, ConstTensor t) { ties += backend_->count_equal(t, w, K); });
    }
    // kAllTies when this tensor's ties are all pruned: a device backend then skips counting them.
    s.quota = left >= ties ? kAllTies : left;
    left -= std::min(left, ties);
  }
}

// Tensor scope and threshold rules: scan (with the first digit's histogram), then select.
void PruneJob::analyse_tensor(TensorState& s) {
  s.width = native_key_width(s.plan->dtype);
  const Rule& rule = *s.rule;
  if (rule.mode == RuleMode::nm) {  // N:M needs no selection, only the NaN check
    scan(s, s.width, nullptr);
    s.result.requested_sparsity = static_cast<double>(rule.nm_group - rule.nm_keep) / rule.nm_group;
    return;
  }
  if (rule.mode == RuleMode::structured) {
    scan(s, s.width, nullptr);  // the NaN check and the counts before
    choose_slices(s);
    return;
  }
  if (rule.mode == RuleMode::threshold_rel) {  // full scan: it finds max|w|
    scan(s, s.width, nullptr);
    s.K = relative_threshold_key(s.width, s.max_key, rule.threshold_rel);
    s.quota = 0;
    s.result.threshold = rule.threshold_rel.approx() * key_value(s.width, s.max_key);  // for display
    return;
  }
  if (rule.mode == RuleMode::threshold) {
    scan(s, s.width, nullptr);
    s.K = threshold_key(s.width, rule.threshold);
    s.quota = 0;
    s.result.threshold = rule.threshold;
    return;
  }
  s.result.requested_sparsity = rule.sparsity.approx();
  const std::uint64_t k = sparsity_count(rule.sparsity, s.plan->n);
  const ScopeSelection sel = scan_and_select({&s}, s.width, k);
  s.K = 0;
  s.quota = 0;
  if (k > 0) {
    s.K = sel.kth.key;
    // Every tie pruned: kAllTies lets a device backend skip counting them.
    const std::uint64_t quota = sel.kth.tie_quota(k);
    s.quota = quota > 0 && quota == sel.kth.equal ? kAllTies : quota;
  }
  s.result.threshold = key_value(s.width, s.K);
}

// Structured: exact slice norms over every slab, then the k smallest (ties: lower index).
void PruneJob::choose_slices(TensorState& s) {
  const Rule& rule = *s.rule;
  SliceNorms norms(s.plan->dtype, rule.structured_p, s.slice_axis.slices);
  meter_.pass("norms", true);
  for_each_slab(s, [&](MutTensor slab, const h5::Slab& where) {
    StageTimer t(result_.seconds.compute);
    backend_->slice_norms(ConstTensor{slab.dtype, slab.data, slab.n}, where.flat_begin, s.slice_axis, norms);
  }, /*read_only=*/true);
  const std::uint64_t k = sparsity_count(rule.sparsity, s.slice_axis.slices);
  s.result.removed_slices = smallest_slices(norms, k);
  s.drop.assign(s.slice_axis.slices, 0);
  for (const std::uint64_t i : s.result.removed_slices) s.drop[i] = 1;
  s.result.requested_sparsity = rule.sparsity.approx();
}

void PruneJob::apply_and_write(TensorState& s, hid_t in_dataset, hid_t out_dataset) {
  std::uint64_t quota = s.quota;
  const hid_t mem_type = h5::memory_type(s.plan->dtype);
  const std::size_t esize = dtype_size(s.plan->dtype);
  const std::string out_name = opt_.output;
  // A never-written tensor of zeros stays zeros (+0.0) under every rule: its copy is left
  // unwritten and unallocated too, and reads back the same. The slabs are still pruned, for counts.
  const bool unwritten = h5::unwritten_zeros(in_dataset);
  // A slab with no count is the whole dataset (a resident tensor): written as the slab of every
  // row, so that it too goes in kWriteBytes hyperslabs. Timed as part of the copy.
  h5::Slab every_row;
  every_row.offset.assign(s.plan->shape.size(), 0);
  every_row.count = s.plan->shape;
  every_row.n = s.plan->n;
  auto write = [&](const h5::Slab& slab, const void* data) {
    if (unwritten) return;
    const h5::Slab& where = slab.count.empty() ? every_row : slab;
    if (where.count.empty()) {  // a scalar
      if (H5Dwrite(out_dataset, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
        throw OutputError("cannot write dataset " + s.plan->path + " to '" + out_name + "': " + h5::last_library_error());
    } else {
      for (const h5::Slab& part : h5::split_leading(where, s.plan->shape, kWriteBytes / esize))
        h5::write_slab(out_dataset, mem_type, part,
                       static_cast<const unsigned char*>(data) + (part.flat_begin - where.flat_begin) * esize, out_name,
                       s.plan->path);
    }
    result_.bytes_written += where.n * esize;
  };
  // The apply kernel works element by element in position order, so a resident tensor can go
  // piece by piece: each piece is pruned and handed to HDF5 while it is still in the cache
  // (one trip through memory instead of two), on a second thread while the next piece is pruned
  // (the kernel's copy into the page cache takes about as long as the apply). A tensor mapped
  // from the input is read-only: each piece is pruned out of place into one of two cache-sized
  // buffers (one being filled, one being written), reading the mapping once.
  const std::size_t piece_elems = fused_piece_elements(s.plan->shape, esize);
  const bool pieces = applies_in_pieces(s);
  const bool mapped = reader_->mapped(*s.plan);
  // A streamed tensor whose slabs are mapped goes the same way, slab by slab, so the input is not
  // copied into a read buffer first (the mapped slab and the two piece buffers: less memory than
  // the two read buffers).
  const bool streamed_mapped = pieces && !resident(s) && reader_->maps_slabs(*s.plan);
  const bool write_behind = h5::library_is_threadsafe();
  // Prunes the pieces of a view whose first element is the tensor's element `base`, in order,
  // each handed to HDF5 (on a second thread while the next is pruned), in place or out of place.
  auto prune_pieces = [&](const std::vector<h5::Slab>& list, const void* view, std::uint64_t base, bool out_of_place) {
    std::size_t most = 0;
    for (const h5::Slab& piece : list) most = std::max<std::size_t>(most, piece.n);
    unsigned char* const buffers = out_of_place ? mapped_out(2 * most * esize) : nullptr;
    std::future<void> writing;  // the piece before this one
    std::size_t i = 0;
    for (const h5::Slab& piece : list) {
      check_interrupt();  // a stop signal is answered within a piece, as when the pieces were read
      const auto* in = static_cast<const unsigned char*>(view) + (piece.flat_begin - base) * esize;
      unsigned char* data = out_of_place ? buffers + (i++ % 2) * most * esize : const_cast<unsigned char*>(in);
      apply_slab(s, ConstTensor{s.plan->dtype, in, piece.n}, data, quota, true, /*chained=*/true);
      if (writing.valid()) writing.get();
      if (!write_behind) {
        write(piece, data);
        continue;
      }
      writing = std::async(std::launch::async, [&write, piece, data] {
        h5::silence_library_errors();  // per thread: h5prune reports the error itself
        write(piece, data);
      });
    }
    if (writing.valid()) writing.get();
  };
  meter_.pass("write", true);
  for_each_slab(s, [&](MutTensor slab, const h5::Slab& where) {
    if (slab.n == 0) return;
    if (streamed_mapped) {
      // Pieces of whole rows (and whole sum blocks) from the slab's start; their sums chain from
      // the slab's start, so the slab adds to the tensor's sum what one call over it gives.
      const double before = std::exchange(s.result.sum_sq_after, 0.0);
      prune_pieces(h5::split_leading(where, s.plan->shape, piece_elems), slab.data, where.flat_begin, true);
      s.result.sum_sq_after = before + s.result.sum_sq_after;
      return;
    }
    if (!resident(s) || !pieces) {
      prune_slab(s, slab, where.flat_begin, quota, true);
      write(where, slab.data);
      return;
    }
    prune_pieces(h5::plan_slabs(s.plan->shape, piece_elems), slab.data, 0, mapped);
  }, /*read_only=*/streamed_mapped);
  finish_tensor(s);
}

// Whether a resident tensor is pruned and written in pieces (apply works element by element in
// position order; N:M and structured rules, sparse layouts and device memory take the whole tensor).
bool PruneJob::applies_in_pieces(const TensorState& s) const {
  return backend_->works_in_host_memory() && opt_.format == sparse::Format::dense &&
         fused_piece_elements(s.plan->shape, dtype_size(s.plan->dtype)) > 0 && s.rule->mode != RuleMode::nm &&
         s.rule->mode != RuleMode::structured;
}

void PruneJob::finish_tensor(TensorState& s) {
  // Threshold and sparsity prune key < K plus ties at K: with K > 0 every zero (key 0) is
  // pruned and every kept weight is nonzero, so the zeros after are exactly the pruned; with
  // K == 0 only zeros (ties) were pruned. N:M counted its zeros in the kernel.
  if (s.rule->mode != RuleMode::nm && s.rule->mode != RuleMode::structured)
    s.result.zeros_after = s.K > 0 ? s.result.pruned : s.result.zeros_before;
  // With --threshold T the boundary is T itself: weights equal to the dtype's first value
  // >= T are ties only when that value is exactly T.
  if (s.rule->mode == RuleMode::threshold && key_value(s.width, s.K) != s.rule->threshold) s.result.ties = 0;
  if (s.rule->mode == RuleMode::threshold_rel &&
      !equals_relative_threshold(s.width, s.K, s.max_key, s.rule->threshold_rel))
    s.result.ties = 0;
  if (reader_->resident(*s.plan) && !reader_->mapped(*s.plan)) backend_->release(reader_->resident_view(*s.plan).data);
  reader_->drop(*s.plan);
}

// Prunes one slab in place (threshold/sparsity: apply with the tie quota left; N:M: groups);
// `record` adds the counts to the tensor's result (the first pass only).
// `chained`: a piece of whole kSumBlock blocks of a resident tensor, whose kept sum continues the
// pieces' before it (so it equals one call's over the whole tensor).
void PruneJob::prune_slab(TensorState& s, MutTensor slab, std::uint64_t begin, std::uint64_t& quota, bool record,
                          bool chained) {
  if (s.rule->mode != RuleMode::nm && s.rule->mode != RuleMode::structured)
    return apply_slab(s, ConstTensor{slab.dtype, slab.data, slab.n}, slab.data, quota, record, chained);
  StageTimer t(result_.seconds.compute);
  const NmResult a = s.rule->mode == RuleMode::nm
                         ? backend_->nm_apply(slab, s.rule->nm_keep, s.rule->nm_group, s.nm_stride, nullptr, nullptr)
                         : backend_->zero_slices(slab, begin, s.slice_axis, s.drop.data());
  if (!record) return;
  s.result.pruned += a.pruned;
  s.result.zeros_after += a.zeros_after;
  s.result.sum_sq_after += a.kept_sum_sq;
}

// Threshold and sparsity: the backend's apply of slab `in` into `out` (in place when they are
// the same), with the tie quota left; `record` and `chained` as prune_slab's.
void PruneJob::apply_slab(TensorState& s, ConstTensor in, void* out, std::uint64_t& quota, bool record, bool chained) {
  StageTimer t(result_.seconds.compute);
  const ApplyResult a = backend_->apply(in, out, s.width, s.K, quota, chained ? s.result.sum_sq_after : 0.0);
  if (quota != kAllTies) quota -= a.ties_pruned;
  if (!record) return;
  s.result.pruned += a.pruned;
  s.result.ties += a.ties;
  s.result.ties_pruned += a.ties_pruned;
  s.result.sum_sq_after = chained ? a.kept_sum_sq : s.result.sum_sq_after + a.kept_sum_sq;
}

// Sparse formats: the tensor becomes a layout group. The first pass prunes (and records);
// the counting and compaction passes after it see the same values, from memory when the
// tensor is resident, else re-read and re-pruned slab by slab.
void PruneJob::write_layout(TensorState& s, hid_t in_dataset, hid_t out_group, const std::string& name,
                            hid_t lcpl) {
  CompactionJob job;
  job.path = s.plan->path;
  job.out_file = opt_.output;
  job.dtype = s.plan->dtype;
  job.shape = s.plan->shape;
  job.n = s.plan->n;
  job.format = opt_.format;
  job.compress = opt_.compress;
  job.limit32 = opt_.index_limit32;
  if (s.rule->mode == RuleMode::nm) {
    job.nm_keep = s.rule->nm_keep;
    job.nm_group = s.rule->nm_group;
  }
  // Compaction buffers (values + 64-bit indices) take at most a quarter of the memory limit.
  job.piece_elements = std::max<std::size_t>(4096, opt_.memory_limit / 4 / (dtype_size(job.dtype) + 8));
  bool first = true;
  job.for_each_pruned_slab = [&](const SlabVisitor& visit) {
    const bool record = first;
    first = false;
    std::uint64_t quota = s.quota;
    meter_.pass(record ? "write" : "compact", record);  // the passes after the first are not planned
    for_each_slab(s, [&](MutTensor slab, const h5::Slab& where) {
      if (record || !resident(s)) prune_slab(s, slab, where.flat_begin, quota, record);
      visit(slab, where.flat_begin);
    }, /*read_only=*/false);
  };
  const CompactionResult r = write_compacted(*backend_, job, in_dataset, opt_.input, out_group, name, lcpl);
  s.result.stored = r.stored;
  result_.bytes_written += r.stored * dtype_size(job.dtype);
  finish_tensor(s);
}

// Per-group rules: each selected tensor takes the first rule whose regex matches its path, else
// the command line's rule; a `skip` rule, or no rule at all, leaves it unpruned (listed).
void PruneJob::assign_rules() {
  std::vector<std::string> selected;
  for (const PlannedTensor& t : plan_.tensors) selected.push_back(t.path);
  for (std::string& w : idle_rule_warnings(opt_.rules, selected)) result_.warnings.push_back(std::move(w));
  std::vector<PlannedTensor> kept;
  for (const PlannedTensor& t : plan_.tensors) {
    const std::optional<std::size_t> g = first_match(opt_.rules, t.path);
    if (g && opt_.rules[*g].skip) {
      result_.skipped.push_back({t.path, "rule '" + opt_.rules[*g].match + "=skip'"});
      continue;
    }
    if (!g && !opt_.has_base_rule) {
      result_.skipped.push_back({t.path, "no rule matches"});
      continue;
    }
    assigned_[t.path] = g ? std::make_pair(&opt_.rules[*g].rule, *g) : std::make_pair(&opt_.rule, opt_.rules.size());
    kept.push_back(t);
  }
  plan_.tensors = std::move(kept);
  if (plan_.tensors.empty())
    throw InputError("no tensor of '" + opt_.input + "' is left to prune: the rules skip all " +
                     std::to_string(result_.skipped.size()) + " selected");
}

// N:M: each tensor's axis (the rule's axis, else its framework's reduction axis) must be a
// multiple of M; skip-unfit leaves the tensors whose axis is not unpruned (listed in one warning).
void PruneJob::plan_nm_axes() {
  std::vector<PlannedTensor> fit;
  std::string listed, nm_text;
  std::size_t unfit = 0;
  for (const PlannedTensor& t : plan_.tensors) {
    const Rule& rule = *assigned_.at(t.path).first;
    if (rule.mode != RuleMode::nm) {
      fit.push_back(t);
      continue;
    }
    const int axis = resolve_axis(rule.nm_axis, reduction_axis(plan_.layout, t.shape.size()), t.shape.size());
    if (axis >= 0 && t.shape[static_cast<std::size_t>(axis)] % rule.nm_group == 0) {
      fit.push_back(t);
      continue;
    }
    const std::string why = axis < 0 ? (t.shape.empty() ? std::string("a scalar has no axis")
                                                        : "it has no axis " + std::to_string(*rule.nm_axis))
                                     : "its axis " + std::to_string(axis) + " (" +
                                           std::to_string(t.shape[static_cast<std::size_t>(axis)]) +
                                           ") is not a multiple of " + std::to_string(rule.nm_group);
    if (!rule.nm_skip_unfit)
      throw UsageError("tensor " + t.path + " in '" + opt_.input + "' cannot be pruned --nm " +
                       std::to_string(rule.nm_keep) + ":" + std::to_string(rule.nm_group) + ": " + why +
                       " (--nm-axis chooses another axis; --nm-skip-unfit leaves such tensors unpruned)");
    result_.skipped.push_back({t.path, why});
    listed += (listed.empty() ? "" : ", ") + t.path + " (" + why + ")";
    nm_text = std::to_string(rule.nm_keep) + ":" + std::to_string(rule.nm_group);
    ++unfit;
  }
  if (unfit)
    result_.warnings.push_back("--nm-skip-unfit left " + std::to_string(unfit) + " tensor" + (unfit == 1 ? "" : "s") +
                               " unpruned: " + listed);
  plan_.tensors = std::move(fit);
  if (plan_.tensors.empty())
    throw InputError("no tensor of '" + opt_.input + "' can be pruned --nm " + nm_text + " along its axis (" +
                     std::to_string(unfit) + " skipped)");
}

// Rule and layout combinations a tensor must allow; sparse layouts need an axis.
void PruneJob::check_layout_rules() {
  if (opt_.compress && opt_.format == sparse::Format::dense)
    throw UsageError("--compress applies to the sparse formats (csr, coo, bitmask, nm), not to --format dense");
  assign_rules();
  plan_nm_axes();
  for (const PlannedTensor& t : plan_.tensors) {
    const Rule& rule = *assigned_.at(t.path).first;
    if (opt_.format == sparse::Format::nm && rule.mode != RuleMode::nm)
      throw UsageError("--format nm needs --nm N:M (tensor " + t.path + " takes a " +
                       (rule.mode == RuleMode::sparsity     ? "sparsity"
                        : rule.mode == RuleMode::structured ? "structured"
                                                            : "threshold") +
                       " rule)");
    if (rule.mode == RuleMode::structured &&
        resolve_axis(rule.structured_axis, output_axis(plan_.layout, t.shape.size()), t.shape.size()) < 0)
      throw UsageError("tensor " + t.path + " in '" + opt_.input + "' cannot be pruned --structured: " +
                       (t.shape.empty() ? std::string("a scalar has no axis")
                                        : "it has no axis " + std::to_string(*rule.structured_axis) + " (rank " +
                                              std::to_string(t.shape.size()) + ")") +
                       " (--structured-axis chooses another axis)");
    if (opt_.format != sparse::Format::dense && t.shape.empty())
      throw UsageError("tensor " + t.path + " in '" + opt_.input + "' is a scalar: --format " +
                       sparse::format_name(opt_.format) + " needs at least one axis");
    if (opt_.format == sparse::Format::nm &&
        resolve_axis(rule.nm_axis, reduction_axis(plan_.layout, t.shape.size()), t.shape.size()) !=
            static_cast<int>(t.shape.size()) - 1)
      throw UsageError("tensor " + t.path + " in '" + opt_.input +
                       "': --format nm stores groups along the last axis, and this tensor is grouped along another "
                       "(give --nm-axis last, or another --format)");
  }
}

// Global scope: one warning line when the tensors' RMS magnitudes differ by orders of
// magnitude, naming the smallest and the largest (all-zero tensors have no scale).
void PruneJob::warn_mixed_scales(const std::vector<TensorState*>& scope) {
  const TensorState* lo = nullptr;
  const TensorState* hi = nullptr;
  auto rms = [](const TensorState* s) { return std::sqrt(s->result.sum_sq_before / static_cast<double>(s->plan->n)); };
  for (const TensorState* s : scope) {
    if (s->plan->n == 0 || !(s->result.sum_sq_before > 0) || !std::isfinite(s->result.sum_sq_before)) continue;
    if (!lo || rms(s) < rms(lo)) lo = s;
    if (!hi || rms(s) > rms(hi)) hi = s;
  }
  if (!lo || !hi || rms(hi) < kGlobalScaleWarnRatio * rms(lo)) return;
  auto g3 = [](double v) {
    char text[32];
    std::snprintf(text, sizeof text, "%.3g", v);
    return std::string(text);
  };
  result_.warnings.push_back("global scope mixes magnitude scales " + g3(rms(hi) / rms(lo)) + " times apart (RMS |w| " +
                             g3(rms(lo)) + " in " + lo->plan->path + ", " + g3(rms(hi)) + " in " + hi->plan->path +
                             "): the smaller-scale tensors are pruned first; consider --scope tensor or per-group rules");
}

// Storage bytes of each tensor in the input and of what replaced it in the finished output.
void PruneJob::measure_bytes(const std::string& output_path) {
  h5::Handle out = h5::file_handle(H5Fopen(output_path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  if (!out.valid()) throw OutputError("cannot reopen '" + output_path + "': " + h5::last_library_error());
  for (TensorState& s : states_) {
    h5::Handle in = h5::dataset_handle(H5Dopen2(in_file_, s.plan->path.c_str(), H5P_DEFAULT));
    s.result.bytes_before = in.valid() ? H5Dget_storage_size(in) : 0;
    std::uint64_t after = 0;
    if (opt_.format == sparse::Format::dense) {
      h5::Handle d = h5::dataset_handle(H5Dopen2(out, s.plan->path.c_str(), H5P_DEFAULT));
      if (d.valid()) after = H5Dget_storage_size(d);
    } else {
      for (const char* part : {"data", "indices", "indptr", "mask", "positions"}) {
        const std::string p = s.plan->path + "/" + part;
        if (H5Lexists(out, p.c_str(), H5P_DEFAULT) <= 0) continue;
        h5::Handle d = h5::dataset_handle(H5Dopen2(out, p.c_str(), H5P_DEFAULT));
        if (d.valid()) after += H5Dget_storage_size(d);
      }
      s.result.break_even = break_even_density(opt_.format, s.plan->dtype, s.plan->shape, opt_.index_limit32);
    }
    s.result.bytes_after = after;
  }
}

// Stage 1: options that need no file, then the input, its plan and the backend.
void PruneJob::open_and_plan() {
  if (!opt_.dry_run && opt_.output.empty()) throw UsageError("missing --output (-o) for prune");
  validate_selection(opt_.selection);
  if (opt_.memory_limit < (64u << 10)) throw UsageError("--memory-limit must be at least 64K");

  in_file_ = open_checked_input(opt_.input);
  input_stamp_ = h5::file_stamp(in_file_);
  {
    struct stat st {};
    if (stat(opt_.input.c_str(), &st) == 0) result_.input_bytes = static_cast<std::uint64_t>(st.st_size);
  }
  plan_ = make_plan(in_file_, opt_.selection);
  if (plan_.tensors.empty())
    throw InputError("no tensor selected in '" + opt_.input + "' (" + std::to_string(plan_.datasets.size()) +
                     " datasets; selection: float16/32/64 with ndim >= " + std::to_string(opt_.selection.min_ndim) +
                     (opt_.selection.include ? ", include '" + *opt_.selection.include + "'" : "") +
                     (opt_.selection.exclude ? ", exclude '" + *opt_.selection.exclude + "'" : "") +
                     (!opt_.selection.include_optimizer && !plan_.layout.optimizer_prefix.empty()
                          ? ", optimizer state under " + plan_.layout.optimizer_prefix + " left out"
                          : "") +
                     ")");
  check_filters();
  check_layout_rules();
  choose_backend();
  result_.threads = opt_.threads > 0 ? opt_.threads : default_threads();

  states_.resize(plan_.tensors.size());
  for (std::size_t i = 0; i < plan_.tensors.size(); ++i) {
    TensorState& s = states_[i];
    s.plan = &plan_.tensors[i];
    s.result.path = s.plan->path;
    s.result.dtype = s.plan->dtype;
    s.result.shape = s.plan->shape;
    s.result.n = s.plan->n;
    std::tie(s.rule, s.group) = assigned_.at(s.plan->path);
    if (s.rule->mode == RuleMode::nm) {
      const Rule& rule = *s.rule;
      const int axis = resolve_axis(rule.nm_axis, reduction_axis(plan_.layout, s.plan->shape.size()), s.plan->shape.size());
      s.result.axis = axis;
      s.nm_stride = 1;
      for (std::size_t d = static_cast<std::size_t>(axis) + 1; d < s.plan->shape.size(); ++d) s.nm_stride *= s.plan->shape[d];
    }
    if (s.rule->mode == RuleMode::structured) {
      const std::size_t nd = s.plan->shape.size();
      const int axis = resolve_axis(s.rule->structured_axis, output_axis(plan_.layout, nd), nd);
      s.result.axis = axis;
      s.result.norm_p = s.rule->structured_p;
      s.slice_axis.slices = s.plan->shape[static_cast<std::size_t>(axis)];
      s.slice_axis.inner = 1;
      for (std::size_t d = static_cast<std::size_t>(axis) + 1; d < nd; ++d) s.slice_axis.inner *= s.plan->shape[d];
      s.result.slices = s.slice_axis.slices;
    }
    index_[s.plan->path] = i;
  }
}

// --dry-run: what the rule would be applied to, without reading a weight.
void PruneJob::describe_dry_run() {
  for (TensorState& s : states_) {
    if (s.rule->mode == RuleMode::sparsity || s.rule->mode == RuleMode::structured)
      s.result.requested_sparsity = s.rule->sparsity.approx();
    else if (s.rule->mode == RuleMode::threshold) s.result.threshold = s.rule->threshold;
    result_.tensors.push_back(s.result);
    result_.total.n += s.plan->n;
  }
}

bool PruneJob::global_scope(const TensorState& s) {
  return s.rule->mode == RuleMode::sparsity && s.rule->scope == Scope::global;
}

// The bytes of every pass the rules plan (scan, selection digits or slice norms, write), for
// the progress meter; tie counting and a sparse layout's later passes are extra.
void PruneJob::plan_progress() {
  std::map<std::size_t, KeyWidth> global_widths;
  for (const TensorState& s : states_)
    if (global_scope(s))
      global_widths[s.group] = wider(global_widths.count(s.group) ? global_widths[s.group] : KeyWidth::k16,
                                     native_key_width(s.plan->dtype));
  std::uint64_t total = 0;
  for (const TensorState& s : states_) {
    std::uint64_t passes = 2;  // scan and write
    if (s.rule->mode == RuleMode::structured) passes = 3;
    if (s.rule->mode == RuleMode::sparsity)
      passes = 1 + digit_layout(global_scope(s) ? global_widths[s.group] : native_key_width(s.plan->dtype)).size();
    total += passes * s.bytes();
  }
  meter_.plan(total);
}

// Stage 2 (global scopes only): within each group whose rule is global, every tensor scanned,
// then one selection over all of them.
void PruneJob::analyse_global() {
  std::map<std::size_t, std::vector<TensorState*>> groups;
  for (TensorState& s : states_)
    if (global_scope(s)) groups[s.group].push_back(&s);
  for (const auto& [g, scope] : groups) analyse_global_group(scope);
}

void PruneJob::analyse_global_group(const std::vector<TensorState*>& scope) {
  std::uint64_t bytes = 0;
  for (const TensorState* s : scope) bytes += s->bytes();
  const bool resident = bytes <= opt_.memory_limit;
  if (!resident) result_.streamed = true;
  const KeyWidth w = global_width(scope);
  std::uint64_t n = 0;
  for (TensorState* s : scope) {
    s->keep = resident;
    n += s->plan->n;
  }
  const std::uint64_t k = sparsity_count(scope.front()->rule->sparsity, n);
  const ScopeSelection sel = scan_and_select(scope, w, k);
  warn_mixed_scales(scope);
  select_global(scope, sel, k);
}

// The tensor's boundary and quota, ready for apply: under global scope analyse_global()
// already chose them; otherwise the tensor is read (kept when it fits) and analysed alone.
void PruneJob::prepare_tensor(TensorState& s) {
  if (global_scope(s)) return;
  s.keep = s.bytes() <= opt_.memory_limit;  // the scan reads it into memory
  if (!s.keep) result_.streamed = true;
  analyse_tensor(s);
}

// Stage 3: the faithful copy into the temporary, with each selected tensor prepared, pruned
// and written (dense fill, or a sparse layout in its place) when the walker reaches it.
void PruneJob::write_output(const std::string& temp_path) {
  h5::Handle out_file = h5::create_output_file(temp_path, in_file_);
  h5::CopyCallbacks callbacks;
  callbacks.replaces = [&](const std::string& path) { return index_.count(path) > 0; };
  // Unselected data: not counted, but a copy long enough to be seen is named (the many small
  // ones, biases between the weights, would otherwise be what most lines of a write show).
  callbacks.copying = [&](const std::string& path, std::uint64_t bytes) {
    if (bytes < kNamedCopyBytes) return;
    meter_.pass("copy", false);
    meter_.advance(path, 0);
  };
  if (opt_.format != sparse::Format::dense) {
    callbacks.replace = [&](const std::string& path, hid_t in_group, const std::string& name, hid_t out_group,
                            hid_t lcpl) {
      TensorState& s = states_.at(index_.at(path));
      h5::Handle in_dataset = h5::dataset_handle(H5Dopen2(in_group, name.c_str(), H5P_DEFAULT));
      if (!in_dataset.valid()) throw InputError("cannot open dataset " + path + " in '" + opt_.input + "'");
      prepare_tensor(s);
      write_layout(s, in_dataset, out_group, name, lcpl);
      start_writeback(out_file);
    };
  }
  callbacks.fill = [&](const std::string& path, hid_t in_dataset, hid_t out_dataset) {
    TensorState& s = states_.at(index_.at(path));
    prepare_tensor(s);
    apply_and_write(s, in_dataset, out_dataset);
    start_writeback(out_file);
  };
  // The copy also reads and prunes the tensors; count only the rest as writing.
  const double inner_before = reader_->read_seconds() + result_.seconds.compute;
  const auto copy_start = Clock::now();
  h5::copy_contents(in_file_, out_file, opt_.input, opt_.output, callbacks);  // errors name the output, not its temporary
  if (H5Fclose(out_file.release()) < 0)
    throw OutputError("cannot finish writing '" + opt_.output + "': " + h5::last_library_error());
  h5::copy_userblock(opt_.input, temp_path, in_file_);
  measure_bytes(temp_path);
  const double inner = reader_->read_seconds() + result_.seconds.compute - inner_before;
  result_.seconds.write += std::chrono::duration<double>(Clock::now() - copy_start).count() - inner;
}

// Stage 4: hashes (when asked for), then the temporary moved into place.
void PruneJob::publish(AtomicOutput& out) {
  StageTimer t(result_.seconds.publish);
  // The two hashes side by side, one per core, after the last pass (so neither competes with the
  // kernels), while the flush waits for the disk: flushing costs the CPU little
  // (benchmarks/RESULTS.md). The input's is read through the descriptor the passes read: the same
  // file even when its path was replaced meanwhile. This thread reports how far they are: on a
  // file of tens of GB they take as long as a pass.
  std::atomic<std::uint64_t> hashed{0};
  std::uint64_t to_hash = 0;
  std::future<std::string> input_hash, output_hash;
  if (opt_.hash) {
    const int in_fd = h5::posix_descriptor(in_file_);
    struct stat st {};
    if (in_fd >= 0 && fstat(in_fd, &st) == 0) to_hash += static_cast<std::uint64_t>(st.st_size);
    if (stat(out.temp_path().c_str(), &st) == 0) to_hash += static_cast<std::uint64_t>(st.st_size);
    input_hash = std::async(std::launch::async, [&, in_fd] {
      return in_fd >= 0 ? sha256_descriptor(in_fd, opt_.input, nullptr, &hashed) : sha256_file(opt_.input, nullptr, &hashed);
    });
    output_hash = std::async(std::launch::async,
                             [&] { return sha256_file(out.temp_path(), &result_.output_bytes, &hashed); });
  }
  auto flushed = std::async(std::launch::async, [&] { fsync_path(out.temp_path()); });
  // Ready, or not started; else waits up to a quarter of a second for it.
  auto settled = [](auto& f) {
    return !f.valid() || f.wait_for(std::chrono::milliseconds(250)) == std::future_status::ready;
  };
  do {
    if (opt_.hash) {
      char what[96];
      std::snprintf(what, sizeof what, "hash %.1f of %.1f MB", static_cast<double>(hashed.load()) / 1e6,
                    static_cast<double>(to_hash) / 1e6);
      meter_.pass(what, false);
    } else {
      meter_.pass("flush", false);
    }
    meter_.advance(opt_.output, 0);
  } while (!(settled(input_hash) && settled(output_hash) && settled(flushed)));
  // The slow part of committing (the flush) comes before the last checkpoint, so a signal that
  // arrives while the output is not yet in place stops the run (exit 128+N). A flush error is
  // reported once both hashes have stopped.
  std::exception_ptr flush_error;
  try {
    flushed.get();
  } catch (...) {
    flush_error = std::current_exception();
  }
  if (opt_.hash) {
    result_.output_sha256 = output_hash.get();
    result_.input_sha256 = input_hash.get();
  }
  if (flush_error) std::rethrow_exception(flush_error);
  if (opt_.hash) {
    // The hash is of the weights the passes read only if nothing wrote to the input meanwhile.
    h5::require_unchanged(in_file_, input_stamp_, opt_.input, "pruned", "nothing was written");
  } else {
    struct stat st {};
    if (stat(out.temp_path().c_str(), &st) != 0)
      throw OutputError("cannot stat the finished output for '" + opt_.output + "': " + std::strerror(errno));
    result_.output_bytes = static_cast<std::uint64_t>(st.st_size);
  }
  check_interrupt();
  out.commit();
}

// Stage 5: per-tensor results and totals in path order.
void PruneJob::summarise() {
  result_.seconds.read = reader_->read_seconds();
  result_.bytes_read = reader_->bytes_read();
  result_.bytes_mapped = reader_->bytes_mapped();
  for (TensorState& s : states_) {
    result_.total.add(s.result);
    result_.tensors.push_back(s.result);
  }
}

PruneResult PruneJob::run() {
  const auto t0 = Clock::now();
  open_and_plan();
  if (opt_.dry_run) {
    describe_dry_run();
  } else {
    AtomicOutput out(opt_.output, opt_.force, opt_.input);
    reader_ = std::make_unique<TensorReader>(in_file_, opt_.input);
    reader_->use_host_memory_of(*backend_);
    reader_->report_to(meter_);
    plan_progress();
    analyse_global();
    write_output(out.temp_path());
    check_interrupt();
    // The tensors are read in several passes (from the input's own pages when mapped); size and
    // modification time are the check (a content hash would cost a whole read).
    h5::require_unchanged(in_file_, input_stamp_, opt_.input, "pruned", "nothing was written");
    publish(out);
    summarise();
  }
  result_.seconds.total = std::chrono::duration<double>(Clock::now() - t0).count();
  return result_;
}

}  // namespace

PruneResult run_prune(const PruneOptions& options) {
  PruneJob job(options);
  return job.run();
}

}  // namespace h5p
