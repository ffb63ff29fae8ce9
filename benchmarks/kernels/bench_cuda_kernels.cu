// Plain harness for the CUDA kernels of kernels/cuda/launchers.cuh: each kernel is first checked
// against the CPU backend on the same data (exact equality), then timed with CUDA events and
// reported as bytes moved, GB/s and the fraction of the measured device-to-device copy bandwidth.
// Reports; it fails (exit 1) only on a mismatch with the CPU. Exit 0 with "no CUDA device" without one.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "kernels/backend.hpp"
#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/device_memory.cuh"
#include "kernels/cuda/launchers.cuh"
#include "kernels/radix_select.hpp"

using namespace h5p;
using namespace h5p::cuda;

namespace {

struct Options {
  int log2n = 28;
  int reps = 10;
  std::uint64_t seed = 20240611;
};

constexpr double kSparsity = 0.9;  // k = floor(0.9 n) smallest magnitudes are pruned
constexpr std::uint64_t kCompactBase = 12345;
constexpr unsigned kBitOffset = 3;
constexpr std::uint8_t kKeptLow = 0x05;  // bits below kBitOffset in the bitmap's first byte

// ---- Report ------------------------------------------------------------------------------

struct Row {
  std::string kernel, dtype, check;
  double bytes, ms, copy_gbs;
};

struct Report {
  std::vector<Row> rows;
  int mismatches = 0;

  // Prints one check line; returns the table's check column.
  std::string check(const std::string& what, DType t, bool ok, const std::string& detail = "") {
    std::printf("  %-9s %-8s %s%s%s\n", ok ? "OK" : "MISMATCH", std::string(dtype_name(t)).c_str(), what.c_str(),
                detail.empty() ? "" : ": ", detail.c_str());
    std::fflush(stdout);
    if (!ok) ++mismatches;
    return ok ? "OK" : "MISMATCH";
  }
  void add(const std::string& kernel, DType t, const std::string& check, double bytes, double ms, double copy_gbs) {
    rows.push_back({kernel, std::string(dtype_name(t)), check, bytes, ms, copy_gbs});
  }
  void print() const {
    std::printf("\n%-34s %-8s %-8s %10s %9s %8s %8s\n", "kernel", "dtype", "check", "MB moved", "ms", "GB/s",
                "of copy");
    for (const Row& r : rows) {
      const double gbs = r.bytes / (r.ms * 1e-3) / 1e9;
      std::printf("%-34s %-8s %-8s %10.1f %9.3f %8.1f %7.0f%%\n", r.kernel.c_str(), r.dtype.c_str(), r.check.c_str(),
                  r.bytes / 1e6, r.ms, gbs, 100.0 * gbs / r.copy_gbs);
    }
  }
};

std::string hex(std::uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}
std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}
std::string u64(std::uint64_t v) { return std::to_string(v); }

// ---- Timing --------------------------------------------------------------------------------

// A CUDA event that records time (device_memory.cuh's Event is for ordering only).
class TimingEvent {
 public:
  TimingEvent() { H5P_CUDA_TRY(cudaEventCreate(&e_)); }
  ~TimingEvent() { H5P_CUDA_TRY_NOTHROW(cudaEventDestroy(e_)); }
  TimingEvent(const TimingEvent&) = delete;
  TimingEvent& operator=(const TimingEvent&) = delete;
  cudaEvent_t get() const { return e_; }

 private:
  cudaEvent_t e_ = nullptr;
};

// Best time in ms of body() over reps after one warm-up; prep() (untimed) runs before each,
// e.g. to restore data a kernel changes in place.
template <typename Prep, typename Body>
double best_ms(const Stream& s, int reps, Prep&& prep, Body&& body) {
  TimingEvent start, stop;
  prep();
  body();
  s.synchronize();
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    prep();
    H5P_CUDA_TRY(cudaEventRecord(start.get(), s.get()));
    body();
    H5P_CUDA_TRY(cudaEventRecord(stop.get(), s.get()));
    H5P_CUDA_TRY(cudaEventSynchronize(stop.get()));
    float ms = 0;
    H5P_CUDA_TRY(cudaEventElapsedTime(&ms, start.get(), stop.get()));
    best = std::min(best, static_cast<double>(ms));
  }
  return best;
}
template <typename Body>
double best_ms(const Stream& s, int reps, Body&& body) {
  return best_ms(s, reps, [] {}, body);
}

// ---- Data ------------------------------------------------------------------------------------

// Runs f(begin, end) over [0, n) in fixed chunks on all cores; results do not depend on the
// thread count because every chunk's work depends on the chunk alone.
template <typename F>
void parallel_chunks(std::size_t n, std::size_t chunk, F&& f) {
  const std::size_t chunks = (n + chunk - 1) / chunk;
  const unsigned threads = std::max(1u, std::min<unsigned>(std::thread::hardware_concurrency(), 64));
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      for (std::size_t c = t; c < chunks; c += threads) f(c * chunk, std::min(n, (c + 1) * chunk), c);
    });
  for (auto& th : pool) th.join();
}

// N(0, 0.02) weights, one generator per 2^20-element chunk seeded from (seed, chunk).
std::vector<double> normal_weights(std::size_t n, std::uint64_t seed) {
  std::vector<double> v(n);
  parallel_chunks(n, std::size_t{1} << 20, [&](std::size_t begin, std::size_t end, std::size_t c) {
    std::mt19937_64 rng(seed ^ (0x9E3779B97F4A7C15ull * (c + 1)));
    std::normal_distribution<double> normal(0.0, 0.02);
    for (std::size_t i = begin; i < end; ++i) v[i] = normal(rng);
  });
  return v;
}

void to_bits(double v, std::uint64_t& b) { std::memcpy(&b, &v, 8); }
void to_bits(double v, std::uint32_t& b) {
  const float f = static_cast<float>(v);
  std::memcpy(&b, &f, 4);
}
void to_bits(double v, std::uint16_t& b) {
  const __half_raw h = __float2half_rn(static_cast<float>(v));
  b = h.x;
}

double key_to_value(std::uint64_t key) {
  double v;
  std::memcpy(&v, &key, 8);
  return v;
}
double key_to_value(std::uint32_t key) {
  float f;
  std::memcpy(&f, &key, 4);
  return f;
}
double key_to_value(std::uint16_t key) {
  __half_raw r;
  r.x = key;
  return static_cast<double>(__half2float(__half(r)));
}

constexpr DType dtype_of(std::uint16_t) { return DType::f16; }
constexpr DType dtype_of(std::uint32_t) { return DType::f32; }
constexpr DType dtype_of(std::uint64_t) { return DType::f64; }

// Every 1000003rd element is -0.0, the smallest subnormal or minus the largest subnormal, so
// the checks cover a kept -0.0 (a survivor) and subnormals in every dtype.
template <typename Bits>
std::vector<Bits> make_bits(const std::vector<double>& normals) {
  const std::size_t n = normals.size();
  std::vector<Bits> b(n);
  parallel_chunks(n, std::size_t{1} << 20, [&](std::size_t begin, std::size_t end, std::size_t) {
    for (std::size_t i = begin; i < end; ++i) to_bits(normals[i], b[i]);
  });
  constexpr Bits sign = Bits{1} << (8 * sizeof(Bits) - 1);
  constexpr Bits mantissa = sizeof(Bits) == 2 ? Bits(0x3FF) : sizeof(Bits) == 4 ? Bits(0x7FFFFF) : Bits(0xFFFFFFFFFFFFFull);
  std::size_t j = 0;
  for (std::size_t i = 17; i < n; i += 1000003, ++j) b[i] = j % 3 == 0 ? sign : j % 3 == 1 ? Bits{1} : Bits(sign | mantissa);
  return b;
}

template <typename T>
std::vector<T> download(const T* d, std::size_t count) {
  std::vector<T> h(count);
  if (count) H5P_CUDA_TRY(cudaMemcpy(h.data(), d, count * sizeof(T), cudaMemcpyDeviceToHost));
  return h;
}

template <typename T>
std::string first_difference(const std::vector<T>& a, const std::vector<T>& b) {
  if (a.size() != b.size()) return "sizes " + u64(a.size()) + " vs " + u64(b.size());
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i] != b[i])
      return "first difference at " + u64(i) + ": gpu " + hex(a[i]) + ", cpu " + hex(b[i]);
  return "";
}

std::string digit_name(const char* what, DigitPass p) {
  return std::string(what) + " {" + std::to_string(p.shift) + "," + std::to_string(p.bits) + "}";
}

// ---- One dtype -------------------------------------------------------------------------------

template <typename Bits>
void run_dtype(const std::vector<double>& normals, const Options& o, Backend& cpu, const Stream& s, Report& rep) {
  const DType t = dtype_of(Bits{});
  const KeyWidth w = native_key_width(t);
  const std::size_t n = normals.size();
  const std::size_t es = sizeof(Bits);
  const double data_bytes = static_cast<double>(n) * es;
  const std::size_t blocks = (n + kSumBlock - 1) / kSumBlock;
  const std::string tn(dtype_name(t));
  std::printf("\n%s: n = %zu (%.0f MB)\n", tn.c_str(), n, data_bytes / 1e6);

  const std::vector<Bits> host = make_bits<Bits>(normals);
  const ConstTensor view{t, host.data(), n};
  DeviceBuffer<Bits> src(n), work(n);
  H5P_CUDA_TRY(cudaMemcpy(src.data(), host.data(), n * es, cudaMemcpyHostToDevice));
  // From pageable memory cudaMemcpy may return before the DMA ends, and s does not wait for
  // the legacy stream (it is non-blocking): wait here.
  H5P_CUDA_TRY(cudaDeviceSynchronize());
  const auto restore = [&] {
    H5P_CUDA_TRY(cudaMemcpyAsync(work.data(), src.data(), n * es, cudaMemcpyDeviceToDevice, s.get()));
  };

  // The ceiling: a device-to-device copy of the data (read + write).
  const double copy_ms = best_ms(s, o.reps, restore);
  const double copy_gbs = 2 * data_bytes / (copy_ms * 1e-3) / 1e9;
  rep.add("cudaMemcpy D2D (ceiling)", t, "-", 2 * data_bytes, copy_ms, copy_gbs);

  // scan: counts, min/max keys and lane-order sums per kSumBlock block, added in block
  // order exactly as the CPU backend's scan() adds its blocks.
  {
    DeviceBuffer<BlockStats> out(blocks);
    scan(src.data(), n, kSumBlock, out.data(), s.get());
    s.synchronize();
    TensorScan g;
    g.n = n;
    for (const BlockStats& b : download(out.data(), blocks)) {
      g.nan += b.nan;
      g.zeros += b.zeros;
      g.min_abs_key = std::min<std::uint64_t>(g.min_abs_key, b.min_key);
      g.max_abs_key = std::max<std::uint64_t>(g.max_abs_key, b.max_key);
      g.sum_abs += b.sum_abs;
      g.sum_sq += b.sum_sq;
    }
    const TensorScan c = cpu.scan(view);
    const bool ok = g.nan == c.nan && g.zeros == c.zeros && g.min_abs_key == c.min_abs_key &&
                    g.max_abs_key == c.max_abs_key && g.sum_abs == c.sum_abs && g.sum_sq == c.sum_sq;
    const std::string detail = ok ? "" : "gpu nan " + u64(g.nan) + " zeros " + u64(g.zeros) + " min " + hex(g.min_abs_key) +
                                             " max " + hex(g.max_abs_key) + " sum_abs " + num(g.sum_abs) + " sum_sq " +
                                             num(g.sum_sq) + "; cpu nan " + u64(c.nan) + " zeros " + u64(c.zeros) +
                                             " min " + hex(c.min_abs_key) + " max " + hex(c.max_abs_key) + " sum_abs " +
                                             num(c.sum_abs) + " sum_sq " + num(c.sum_sq);
    const std::string check = rep.check("scan", t, ok, detail);
    const double ms = best_ms(s, o.reps, [&] { scan(src.data(), n, kSumBlock, out.data(), s.get()); });
    rep.add("scan", t, check, data_bytes + blocks * sizeof(BlockStats), ms, copy_gbs);
  }

  // The exact k-select with the device histograms: every digit pass of the dtype's layout is
  // checked; the first two distinct digit passes are timed.
  const std::uint64_t k = static_cast<std::uint64_t>(static_cast<double>(n) * kSparsity);
  RadixSelection sel(w, k);
  DeviceBuffer<std::uint64_t> d_hist(std::size_t{1} << 16);
  DeviceBuffer<std::uint32_t> rows;
  const DeviceLimits limits = read_device_limits();
  const auto histogram_pass = [&](DigitPass p, const char* label, bool timed) {
    const std::size_t bins = std::size_t{1} << p.bits;
    H5P_CUDA_TRY(cudaMemsetAsync(d_hist.data(), 0, bins * sizeof(std::uint64_t), s.get()));
    histogram(src.data(), n, w, p, limits, rows, d_hist.data(), s.get());
    s.synchronize();
    std::vector<std::uint64_t> g = download(d_hist.data(), bins);
    std::vector<std::uint64_t> c(bins, 0);
    cpu.histogram(view, w, p, c.data());
    const std::string name = digit_name(label, p) + (p.prefix ? " prefix " + hex(p.prefix) : "");
    const std::string check = rep.check("histogram " + name, t, g == c, first_difference(g, c));
    if (timed) {
      const double ms = best_ms(s, o.reps, [&] { histogram(src.data(), n, w, p, limits, rows, d_hist.data(), s.get()); });
      rep.add(digit_name(label, p), t, check, data_bytes + bins * sizeof(std::uint64_t), ms, copy_gbs);
    }
    return g;
  };
  int digit_passes = 0;
  while (!sel.done()) {
    const DigitLayout d = sel.next_digit();
    const DigitPass p{d.shift, d.bits, sel.prefix};
    const char* label = digit_passes == 0 ? "histogram 1st" : "histogram next";
    sel.consume(histogram_pass(p, label, digit_passes < 2));
    ++digit_passes;
  }
  const std::uint64_t K = sel.key();
  const std::uint64_t quota = sel.tie_quota();
  if (digit_passes == 1) {
    // float16 has one digit: time a prefixed digit too (the low 8 bits under K's top 7).
    histogram_pass(DigitPass{0, 8, K >> 8}, "histogram prefix", true);
  }
  std::printf("  k-select %s: k = %llu of n = %zu, K = %s (|w| = %.9g), %llu keys equal K, tie quota %llu\n",
              tn.c_str(), static_cast<unsigned long long>(k), n, hex(K).c_str(),
              key_to_value(static_cast<Bits>(K)), static_cast<unsigned long long>(sel.equal),
              static_cast<unsigned long long>(quota));
  std::printf("  k-select %s: %d pass%s over the data (scan + 1st digit, then %d more digit pass%s), then the apply; "
              "on the device %d reads (scan and histogram are separate kernels), then count_equal 1 + "
              "apply 1 (read+write)\n",
              tn.c_str(), digit_passes, digit_passes == 1 ? "" : "es", digit_passes - 1, digit_passes == 2 ? "" : "es",
              1 + digit_passes);

  // apply with quota 0: key < K becomes +0.0. Data is restored before every run.
  DeviceBuffer<BlockApply> app(blocks);
  std::vector<Bits> cpu_work;
  const auto check_apply = [&](const char* what, std::uint64_t q, const ApplyResult& c) {
    s.synchronize();
    ApplyResult g;
    for (const BlockApply& b : download(app.data(), blocks)) {
      g.pruned += b.pruned;
      g.ties += b.ties;
      g.ties_pruned += b.ties_pruned;
      g.kept_sum_sq += b.kept_sq;
    }
    const std::vector<Bits> data = download(work.data(), n);
    std::string detail = first_difference(data, cpu_work);
    if (g.pruned != c.pruned || g.ties != c.ties || g.ties_pruned != c.ties_pruned || g.kept_sum_sq != c.kept_sum_sq)
      detail += (detail.empty() ? "" : "; ") + std::string("gpu pruned ") + u64(g.pruned) + " ties " + u64(g.ties) +
                " ties_pruned " + u64(g.ties_pruned) + " kept_sq " + num(g.kept_sum_sq) + "; cpu pruned " +
                u64(c.pruned) + " ties " + u64(c.ties) + " ties_pruned " + u64(c.ties_pruned) + " kept_sq " +
                num(c.kept_sum_sq);
    if (q > 0 && c.pruned != k) detail += (detail.empty() ? "" : "; ") + std::string("cpu pruned ") + u64(c.pruned) + " != k";
    return rep.check(std::string(what) + " K " + hex(K) + " quota " + u64(q), t, detail.empty(), detail);
  };
  {
    restore();
    apply(work.data(), n, w, K, 0, nullptr, nullptr, nullptr, app.data(), s.get());
    cpu_work = host;
    const ApplyResult c = cpu.apply(MutTensor{t, cpu_work.data(), n}, w, K, 0);
    const std::string check = check_apply("apply", 0, c);
    const double ms = best_ms(s, o.reps, restore,
                              [&] { apply(work.data(), n, w, K, 0, nullptr, nullptr, nullptr, app.data(), s.get()); });
    rep.add("apply quota 0", t, check, 2 * data_bytes + blocks * sizeof(BlockApply), ms, copy_gbs);
  }

  // apply with the tie quota: count_equal + exclusive_sum + apply, timed together.
  DeviceBuffer<std::uint64_t> ties(blocks), tie_prefix(blocks);
  DeviceBuffer<unsigned char> temp;
  const auto apply_step = [&] {
    count_equal(work.data(), n, w, K, ties.data(), s.get());
    exclusive_sum(ties.data(), tie_prefix.data(), blocks, temp, s.get());
    apply(work.data(), n, w, K, quota, ties.data(), tie_prefix.data(), nullptr, app.data(), s.get());
  };
  {
    restore();
    count_equal(work.data(), n, w, K, ties.data(), s.get());
    s.synchronize();
    std::uint64_t tie_total = 0;
    for (std::uint64_t c : download(ties.data(), blocks)) tie_total += c;
    const std::uint64_t cpu_equal = cpu.count_equal(view, w, K);
    rep.check("count_equal K " + hex(K), t, tie_total == cpu_equal,
              tie_total == cpu_equal ? "" : "gpu " + u64(tie_total) + ", cpu " + u64(cpu_equal));
    restore();
    apply_step();
    cpu_work = host;
    const ApplyResult c = cpu.apply(MutTensor{t, cpu_work.data(), n}, w, K, quota);
    const std::string check = check_apply("count_equal+exclusive_sum+apply", quota, c);
    const double ms = best_ms(s, o.reps, restore, apply_step);  // leaves work pruned as checked
    rep.add("apply quota>0 (ties+scan+apply)", t, check,
            3 * data_bytes + blocks * (2 * sizeof(std::uint64_t) + sizeof(BlockApply)), ms, copy_gbs);
  }
  // work (device) and cpu_work (host) now hold the same data with exactly k pruned.
  const ConstTensor pruned{t, cpu_work.data(), n};

  // Compaction of the survivors: count_survivors + exclusive_sum + compact.
  {
    DeviceBuffer<std::uint64_t> counts(blocks), starts(blocks);
    count_survivors(work.data(), n, counts.data(), s.get());
    exclusive_sum(counts.data(), starts.data(), blocks, temp, s.get());
    s.synchronize();
    std::uint64_t last_count = 0, last_start = 0;
    H5P_CUDA_TRY(cudaMemcpy(&last_count, counts.data() + blocks - 1, 8, cudaMemcpyDeviceToHost));
    H5P_CUDA_TRY(cudaMemcpy(&last_start, starts.data() + blocks - 1, 8, cudaMemcpyDeviceToHost));
    const std::uint64_t total = last_start + last_count;
    DeviceBuffer<Bits> values(std::max<std::uint64_t>(total, 1));
    DeviceBuffer<std::uint64_t> index(std::max<std::uint64_t>(total, 1));
    const auto compaction = [&] {
      count_survivors(work.data(), n, counts.data(), s.get());
      exclusive_sum(counts.data(), starts.data(), blocks, temp, s.get());
      compact(work.data(), n, kCompactBase, starts.data(), values.data(), index.data(), s.get());
    };
    compaction();
    s.synchronize();
    const std::uint64_t cpu_total = cpu.count_survivors(pruned, 1, 0, nullptr);
    std::vector<Bits> cpu_values(cpu_total);
    std::vector<std::uint64_t> cpu_index(cpu_total);
    cpu.compact(pruned, kCompactBase, cpu_values.data(), cpu_index.data());
    std::string detail;
    if (total != cpu_total) detail = "survivors gpu " + u64(total) + ", cpu " + u64(cpu_total);
    else {
      const std::string dv = first_difference(download(values.data(), total), cpu_values);
      const std::string di = first_difference(download(index.data(), total), cpu_index);
      if (!dv.empty()) detail = "values " + dv;
      if (!di.empty()) detail += (detail.empty() ? "index " : "; index ") + di;
    }
    const std::string check =
        rep.check("count_survivors+exclusive_sum+compact (" + u64(total) + " survivors)", t, detail.empty(), detail);
    const double ms = best_ms(s, o.reps, compaction);
    rep.add("compaction (count+scan+compact)", t, check,
            2 * data_bytes + static_cast<double>(total) * (es + sizeof(std::uint64_t)), ms, copy_gbs);
  }

  // Survivor bitmap from bit kBitOffset of the first byte, its low bits kept.
  {
    const std::size_t nbytes = (kBitOffset + n + 7) / 8;
    DeviceBuffer<std::uint8_t> bits(nbytes);
    survivor_mask(work.data(), n, kBitOffset, kKeptLow, bits.data(), s.get());
    s.synchronize();
    std::vector<std::uint8_t> c(nbytes, 0);
    c[0] = kKeptLow;
    cpu.survivor_mask(pruned, kBitOffset, c.data());
    const std::vector<std::uint8_t> g = download(bits.data(), nbytes);
    const std::string check = rep.check("survivor_mask offset 3", t, g == c, first_difference(g, c));
    const double ms =
        best_ms(s, o.reps, [&] { survivor_mask(work.data(), n, kBitOffset, kKeptLow, bits.data(), s.get()); });
    rep.add("survivor_mask", t, check, data_bytes + nbytes, ms, copy_gbs);
  }

  // 2:4 on the original data (restored before every run).
  {
    const std::size_t nkept = n / 4 * 2;
    DeviceBuffer<std::uint8_t> positions(nkept);
    DeviceBuffer<Bits> kept(nkept);
    const auto nm = [&] { nm_apply(work.data(), n, 2, 4, 1, positions.data(), kept.data(), s.get()); };
    restore();
    nm();
    s.synchronize();
    cpu_work = host;
    std::vector<std::uint8_t> cpu_positions(nkept);
    std::vector<Bits> cpu_kept(nkept);
    cpu.nm_apply(MutTensor{t, cpu_work.data(), n}, 2, 4, 1, cpu_positions.data(), cpu_kept.data());
    std::string detail;
    const std::string dd = first_difference(download(work.data(), n), cpu_work);
    const std::string dp = first_difference(download(positions.data(), nkept), cpu_positions);
    const std::string dk = first_difference(download(kept.data(), nkept), cpu_kept);
    if (!dd.empty()) detail = "data " + dd;
    if (!dp.empty()) detail += (detail.empty() ? "positions " : "; positions ") + dp;
    if (!dk.empty()) detail += (detail.empty() ? "kept " : "; kept ") + dk;
    const std::string check = rep.check("nm_apply 2:4", t, detail.empty(), detail);
    const double ms = best_ms(s, o.reps, restore, nm);
    rep.add("nm_apply 2:4", t, check, 2 * data_bytes + static_cast<double>(nkept) * (1 + es), ms, copy_gbs);
  }
}

[[noreturn]] void usage(int code) {
  std::fprintf(code == 0 ? stdout : stderr,
      "usage: bench_cuda_kernels [--log2n N] [--reps R] [--seed S]\n"
      "  --log2n N  elements per dtype = 2^N, 4 <= N <= 31 (default 28)\n"
      "  --reps R   timed repetitions after one warm-up; the best is reported (default 10)\n"
      "  --seed S   seed of the random normal weights (default 20240611)\n");
  std::exit(code);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") usage(0);
    if (i + 1 >= argc) usage(2);
    const char* v = argv[++i];
    char* end = nullptr;
    const unsigned long long x = std::strtoull(v, &end, 10);
    if (end == v || *end != '\0') usage(2);
    if (a == "--log2n" && x >= 4 && x <= 31) o.log2n = static_cast<int>(x);
    else if (a == "--reps" && x >= 1 && x <= 1000) o.reps = static_cast<int>(x);
    else if (a == "--seed") o.seed = x;
    else usage(2);
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  int devices = 0;
  const cudaError_t err = cudaGetDeviceCount(&devices);
  if (err != cudaSuccess || devices == 0) {
    std::printf("no CUDA device (%s): nothing to measure\n",
                err != cudaSuccess ? cudaGetErrorString(err) : "cudaGetDeviceCount found none");
    return 0;
  }
  try {
    H5P_CUDA_TRY(cudaSetDevice(0));
    cudaDeviceProp prop{};
    H5P_CUDA_TRY(cudaGetDeviceProperties(&prop, 0));
    auto cpu = make_cpu_backend(0);
    std::printf("CUDA kernels on %s (%d SMs, %.1f GiB), checked against %s\n", prop.name, prop.multiProcessorCount,
                prop.totalGlobalMem / 1073741824.0, cpu->device().c_str());
    const std::size_t n = std::size_t{1} << o.log2n;
    std::printf("n = 2^%d = %zu per dtype, best of %d reps after a warm-up, weights N(0, 0.02) seed %llu\n", o.log2n, n,
                o.reps, static_cast<unsigned long long>(o.seed));
    std::printf("bytes moved = data reads + writes (+ small per-block arrays); of copy = GB/s / copy GB/s\n");
    const std::vector<double> normals = normal_weights(n, o.seed);
    Stream s;
    Report rep;
    run_dtype<std::uint16_t>(normals, o, *cpu, s, rep);
    run_dtype<std::uint32_t>(normals, o, *cpu, s, rep);
    run_dtype<std::uint64_t>(normals, o, *cpu, s, rep);
    rep.print();
    if (rep.mismatches) {
      std::printf("\n%d MISMATCH(es) with the CPU backend\n", rep.mismatches);
      return 1;
    }
    std::printf("\nall checks OK\n");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_cuda_kernels: %s\n", e.what());
    return 2;
  }
}
