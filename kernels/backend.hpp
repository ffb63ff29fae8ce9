// The kernel interface: every backend (cpu/, cuda/) implements these entry points, and the
// host drives them slab by slab. Results must be identical across backends and thread counts.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/dtype.hpp"
#include "kernels/host_memory.hpp"
#include "kernels/slice_norms.hpp"

namespace h5p {

// One pass over a tensor: counts and sums for NaN checks, stats and the L2 report.
// Sums are taken in fixed blocks of kSumBlock elements, then added in block order, so
// they do not depend on the thread count.
struct TensorScan {
  std::uint64_t n = 0;
  std::uint64_t nan = 0;
  std::uint64_t zeros = 0;          // +0.0 and -0.0
  std::uint64_t min_abs_key = ~0ull;  // in the tensor's native key width; ~0 when n == 0
  std::uint64_t max_abs_key = 0;      // largest non-NaN key
  double sum_abs = 0.0;
  double sum_sq = 0.0;

  // Adds a later part's counts, extremes and sums (parts go in position order, so sums add in
  // block order); n is left to the caller.
  void add(const TensorScan& part) {
    nan += part.nan;
    zeros += part.zeros;
    min_abs_key = min_abs_key < part.min_abs_key ? min_abs_key : part.min_abs_key;
    max_abs_key = max_abs_key > part.max_abs_key ? max_abs_key : part.max_abs_key;
    sum_abs += part.sum_abs;
    sum_sq += part.sum_sq;
  }
};

// One radix digit: bins (key >> shift) & (2^bits - 1) over the keys whose bits above
// shift + bits equal `prefix`.
struct DigitPass {
  int shift;
  int bits;
  std::uint64_t prefix;
};

struct ApplyResult {
  std::uint64_t pruned = 0;       // elements set to +0.0
  std::uint64_t ties = 0;         // elements with key == K
  std::uint64_t ties_pruned = 0;  // of those, how many were pruned
  double kept_sum_sq = 0.0;       // sum of squares of what remains (NaN adds nothing)
};

// N:M and structured zeroing (zero_slices) report the same counts.
struct NmResult {
  std::uint64_t pruned = 0;       // positions set to +0.0 (already-zero ones included)
  std::uint64_t zeros_after = 0;  // +0.0 and -0.0 after the call (pruned, and kept zeros)
  double kept_sum_sq = 0.0;       // sum of squares of what remains
};


// Keys gathered for a selection: every key of the passes' tensors in [lo, hi] (the call's key
// width), appended in position order, and the count of keys below lo. At most `cap` keys in all:
// one more sets `overflow`, drops the keys and ends the gathering (below stops counting too).
// A selection whose k-th key lies in [lo, hi] then ends on these keys without another pass.
struct KeyGather {
  std::uint64_t lo = 0;
  std::uint64_t hi = 0;
  std::size_t cap = 0;
  std::vector<std::uint64_t> keys;
  std::uint64_t below = 0;
  bool overflow = false;
};

constexpr std::size_t kSumBlock = 16384;
constexpr std::uint64_t kAllTies = ~std::uint64_t{0};  // an apply quota that prunes every tie
constexpr unsigned kMaxNmGroup = 256;  // positions fit one byte

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;    // "cpu", "cuda"
  virtual std::string device() const = 0;  // human description of where it runs

  // Hints for a device backend: the caller passes t (same pointer and length) to several calls
  // and changes its bytes only through this backend's apply/nm_apply until release(t.data).
  // The backend may keep a copy on the device and skip the uploads. The CPU ignores them.
  virtual void retain(ConstTensor /*t*/) {}
  virtual void release(const void* /*data*/) {}

  // Memory for host buffers that the caller fills and passes to this backend again and again
  // (the tensor reader's slabs): a device backend returns page-locked memory, so its copies to
  // and from the device go straight from it. Uninitialised; at least 1 byte.
  virtual HostBuffer allocate_host(std::size_t bytes) { return allocate_pageable(bytes); }

  // True when the kernels work in the host memory they are given (the CPU): the pipeline then
  // prunes and writes a resident tensor in cache-sized pieces, so each piece is still in cache
  // when HDF5 copies it out. A device backend keeps a retained tensor whole.
  virtual bool works_in_host_memory() const { return false; }

  virtual TensorScan scan(ConstTensor t) = 0;

  // scan() and histogram() of the first digit in one pass over the data. The sum of squares
  // starts from sum_from and adds each block's in block order: a tensor passed in pieces of
  // whole blocks, each with the sum so far, sums exactly as in one call.
  virtual TensorScan scan_histogram(ConstTensor t, KeyWidth w, DigitPass pass, std::uint64_t* hist,
                                    double sum_from = 0.0) = 0;

  // scan_histogram() with gathering in place of the histogram: the keys of t (in width w) in
  // gather's range go to gather. Backends that work in host memory; the others throw.
  virtual TensorScan scan_gather(ConstTensor t, KeyWidth w, KeyGather& gather, double sum_from = 0.0);

  // The keys of t (in width w) in gather's range go to gather (a pass of its own: the bin a
  // histogram chose). Backends that work in host memory; the others throw.
  virtual void gather_keys(ConstTensor t, KeyWidth w, KeyGather& gather);

  // Adds the digit histogram of t's keys (in width w) to hist[0 .. 2^bits).
  virtual void histogram(ConstTensor t, KeyWidth w, DigitPass pass, std::uint64_t* hist) = 0;

  // Number of elements whose key (in width w) equals key.
  virtual std::uint64_t count_equal(ConstTensor t, KeyWidth w, std::uint64_t key) = 0;

  // Writes t's elements to out (t.n elements of t's dtype; out == t.data prunes in place, any
  // other out must not overlap t) with +0.0 for every element with key < K and for the first
  // `tie_quota` elements with key == K in position order (kAllTies, or any quota >= t.n: every
  // one, and a device backend skips counting them). Keys are taken in width w.
  // kept_sum_sq starts from sum_from, as scan_histogram's sum.
  // Out of place, the host can prune a read-only mapping of the input into the buffer it writes
  // from, reading and writing each byte once.
  virtual ApplyResult apply(ConstTensor t, void* out, KeyWidth w, std::uint64_t K, std::uint64_t tie_quota,
                            double sum_from = 0.0) = 0;
  // In place (out == t.data).
  ApplyResult apply(MutTensor t, KeyWidth w, std::uint64_t K, std::uint64_t tie_quota, double sum_from = 0.0) {
    return apply(ConstTensor{t.dtype, t.data, t.n}, t.data, w, K, tie_quota, sum_from);
  }

  // Sweeps: one digit's histograms for several prefixes in one pass. prefixes is sorted and
  // distinct; hists holds prefixes.size() blocks of 2^bits counts, added to.
  virtual void histogram_multi(ConstTensor t, KeyWidth w, int shift, int bits,
                               const std::vector<std::uint64_t>& prefixes, std::uint64_t* hists) = 0;

  // Sweeps: for sorted distinct bounds K[0..m), adds to bucket j (0..m) the count and sum of
  // squares of the elements with exactly j bounds <= key, and to equal[i] the count of
  // key == K[i]. Gives count(key < K[i]) and its sum of squares for every i at once.
  virtual void tally(ConstTensor t, KeyWidth w, const std::vector<std::uint64_t>& bounds,
                     std::uint64_t* bucket_count, double* bucket_sum_sq, std::uint64_t* equal) = 0;

  // ---- Compaction (CSR, COO, bitmask) and N:M. A survivor is an element whose bits are not
  // those of +0.0: pruned weights are +0.0, and a kept -0.0 survives so that a sparse layout
  // restores the dense output bit for bit. Every entry point is order-preserving and its
  // result does not depend on the thread count.

  // Number of survivors of t. With row_counts (may be null), also adds each element's survival
  // to row_counts[(phase + i) / row_len], where phase (< row_len) is the position of t's first
  // element within its row: CSR row pointers are the prefix sum of these counts.
  virtual std::uint64_t count_survivors(ConstTensor t, std::size_t row_len, std::size_t phase,
                                        std::uint64_t* row_counts) = 0;

  // One order-preserving pass (prefix sum of survivors): the j-th survivor of t goes to
  // values[j] (t's dtype) and index[j] = base + its position in t. Returns the survivor count;
  // values and index must hold that many (count_survivors, or t.n).
  virtual std::uint64_t compact(ConstTensor t, std::uint64_t base, void* values, std::uint64_t* index) = 0;

  // Survivor bitmap: bit (bit_offset + i) of bits, least significant bit first within each byte,
  // is set iff element i survives. bits[0]'s bits below bit_offset (< 8) are kept as they are;
  // every other bit of the ceil((bit_offset + t.n) / 8) bytes is written.
  virtual void survivor_mask(ConstTensor t, unsigned bit_offset, std::uint8_t* bits) = 0;

  // N:M: in every group of m elements `stride` apart keep the `keep` largest magnitudes (ties:
  // lower index kept) and set the others to +0.0. t is runs of m * stride elements (t.n a
  // multiple of that); run r holds groups r * stride + i (i < stride), group element j at
  // r * m * stride + j * stride + i. stride 1 groups consecutive elements (the last axis); the
  // stride of axis a of a row-major tensor is the product of the extents after a. positions and
  // kept (each may be null) receive, group after group, the kept in-group indices in ascending
  // order and their values (t.n / m * keep entries; kept in t's dtype). 1 <= keep <= m <= 256.
  // Sums are taken in blocks of whole runs, about kSumBlock elements each.
  virtual NmResult nm_apply(MutTensor t, unsigned keep, unsigned m, std::size_t stride, std::uint8_t* positions,
                            void* kept) = 0;

  // ---- Structured pruning. t is a slab of a tensor starting at the tensor's flat position
  // `begin`; element i lies in slice ((begin + i) / axis.inner) % axis.slices.

  // Adds every element of t to its slice's exact norm (norms holds axis.slices slices). Exact
  // integer sums: the result does not depend on the order, so no backend can differ.
  virtual void slice_norms(ConstTensor t, std::uint64_t begin, SliceAxis axis, SliceNorms& norms) = 0;

  // Sets to +0.0 every element whose slice s has drop[s] != 0; pruned counts them (already-zero
  // ones included), zeros_after counts +0.0 and -0.0 after the call, kept_sum_sq is summed in
  // blocks of kSumBlock elements from t's start (lane_sum order), added in block order.
  virtual NmResult zero_slices(MutTensor t, std::uint64_t begin, SliceAxis axis, const std::uint8_t* drop) = 0;
};

// The OpenMP CPU backend; threads <= 0 means default_threads().
std::unique_ptr<Backend> make_cpu_backend(int threads);

// The CPUs this process may run on: its affinity mask as OpenMP reads it at start, which Slurm
// (--cpus-per-task with core binding) and taskset narrow. Never the machine's count, which
// would put a job's 4-CPU share of a 64-core node under 64 threads.
int available_cpus();

// Threads when --threads is not given: OMP_NUM_THREADS when set (the usual way to size an
// OpenMP job; Slurm scripts set it from SLURM_CPUS_PER_TASK), else available_cpus().
int default_threads();

}  // namespace h5p
