// Plain harness for the CPU kernels: GB/s of each entry point on random float32/float16 data,
// beside a memcpy of the same bytes as the ceiling. Reports; never passes or fails.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/backend.hpp"
#include "kernels/radix_select.hpp"

using namespace h5p;
using Clock = std::chrono::steady_clock;

namespace {

template <typename F>
double best_seconds(F&& f, int reps = 5) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = Clock::now();
    f();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return best;
}

void row(const char* name, DType t, double bytes, double secs, double ceiling) {
  const double gbs = bytes / secs / 1e9;
  std::printf("| %-22s | %-7s | %8.1f | %7.2f | %5.0f%% |\n", name, std::string(dtype_name(t)).c_str(), secs * 1e3, gbs,
              100.0 * gbs / ceiling);
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : (std::size_t{1} << 26);
  const int threads = argc > 2 ? std::atoi(argv[2]) : 0;
  auto be = make_cpu_backend(threads);
  std::printf("CPU kernels, n = %zu, %s\n\n", n, be->device().c_str());
  std::printf("| kernel                 | dtype   |   ms     |  GB/s   | of copy |\n|---|---|---:|---:|---:|\n");
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  for (DType t : {DType::f32, DType::f16}) {
    const std::size_t bytes = n * dtype_size(t);
    std::vector<unsigned char> data(bytes), work(bytes), copy(bytes);
    for (std::size_t i = 0; i < n; ++i) {
      const float v = normal(rng);
      if (t == DType::f32) std::memcpy(&data[i * 4], &v, 4);
      else {
        const std::uint16_t h = static_cast<std::uint16_t>(rng() & 0x3FFF) | static_cast<std::uint16_t>((rng() & 1) << 15);
        std::memcpy(&data[i * 2], &h, 2);
      }
    }
    const double copy_s = best_seconds([&] { std::memcpy(copy.data(), data.data(), bytes); });
    const double ceiling = 2.0 * bytes / copy_s / 1e9;  // read + write
    row("memcpy (read+write)", t, 2.0 * bytes, copy_s, ceiling);
    const ConstTensor view{t, data.data(), n};
    const KeyWidth w = native_key_width(t);
    const DigitLayout d = digit_layout(w).front();
    std::vector<std::uint64_t> hist(std::size_t{1} << d.bits);
    row("scan", t, bytes, best_seconds([&] { be->scan(view); }), ceiling);
    row("scan+histogram", t, bytes,
        best_seconds([&] { be->scan_histogram(view, w, {d.shift, d.bits, 0}, hist.data()); }), ceiling);
    row("histogram (digit 1)", t, bytes, best_seconds([&] { be->histogram(view, w, {d.shift, d.bits, 0}, hist.data()); }),
        ceiling);
    const std::uint64_t K = w == KeyWidth::k32 ? 0x3C23D70Au : 0x2000u;  // about 0.01 in float32
    row("apply (no ties)", t, 2.0 * bytes, best_seconds([&] {
          std::memcpy(work.data(), data.data(), bytes);
          be->apply(MutTensor{t, work.data(), n}, w, K, 0);
        }) - copy_s, ceiling);
    row("apply (tie quota)", t, 2.0 * bytes, best_seconds([&] {
          std::memcpy(work.data(), data.data(), bytes);
          be->apply(MutTensor{t, work.data(), n}, w, K, 1);
        }) - copy_s, ceiling);
  }
  return 0;
}
