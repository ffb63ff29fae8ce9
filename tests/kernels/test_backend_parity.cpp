// Every Backend entry point against the 1-thread CPU backend (the oracle), exactly: the CPU
// backend with 2 threads, the CUDA backend, and the CUDA backend with tiny chunks (so tensors
// cross chunk boundaries). CUDA cases skip when no device is usable. Sizes include 0, 1,
// 255-257, block edges and a large odd n; data include ties, -0.0, subnormals, Inf and NaN.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/backend.hpp"
#include "kernels/cuda/cuda_backend.hpp"
#include "kernels/cuda/cuda_probe.hpp"
#include "kernels/keys.hpp"
#include "kernels/radix_select.hpp"

using namespace h5p;

namespace {

constexpr std::uint64_t kSeed = 20261127;
const std::size_t kSizes[] = {0, 1, 255, 256, 257, 16383, 16384, 16385, 3 * 16384 + 7, 200003};
constexpr std::uint64_t kAllTies = std::numeric_limits<std::uint64_t>::max();

enum class Kind { normal, ties, specials };
const char* kind_name(Kind k) { return k == Kind::normal ? "normal" : k == Kind::ties ? "ties" : "specials"; }

// Raw bits of a tensor; `specials` mixes in -0.0, +0.0, Inf, subnormals and (with nan) NaN.
std::vector<unsigned char> make_data(DType t, std::size_t n, Kind kind, bool nan, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 0.05);
  std::vector<unsigned char> bytes(n * dtype_size(t));
  for (std::size_t i = 0; i < n; ++i) {
    double v = kind == Kind::ties ? std::round(normal(rng) * 40) / 40 : normal(rng);
    if (kind == Kind::specials) {
      switch (rng() % 16) {
        case 0: v = -0.0; break;
        case 1: v = 0.0; break;
        case 2: v = (rng() % 2 ? 1 : -1) * INFINITY; break;
        case 3: v = nan ? NAN : v; break;
        case 4: v = std::numeric_limits<double>::denorm_min() * double(rng() % 5 + 1); break;
        default: break;
      }
    }
    if (t == DType::f64) {
      std::memcpy(&bytes[i * 8], &v, 8);
    } else if (t == DType::f32) {
      float f = static_cast<float>(v);
      if (kind == Kind::specials && rng() % 16 == 0) f = std::numeric_limits<float>::denorm_min() * float(rng() % 7 + 1);
      std::memcpy(&bytes[i * 4], &f, 4);
    } else {
      // float16 bits: random finite halves (subnormals included), or a few values for ties.
      const std::uint16_t few[] = {0x0000, 0x8000, 0x0001, 0x03FF, 0x3C00, 0xBC00, 0x2E66, 0x7C00};
      std::uint16_t h = kind == Kind::ties ? few[rng() % 8] : static_cast<std::uint16_t>(rng() % 0x7C00);
      if (kind != Kind::ties && rng() % 2) h |= 0x8000;
      if (kind == Kind::specials && nan && rng() % 16 == 0) h = 0x7E00;
      std::memcpy(&bytes[i * 2], &h, 2);
    }
  }
  return bytes;
}

bool cuda_usable() { return probe_cuda().devices > 0; }

std::unique_ptr<Backend> make_backend(const std::string& name) {
  if (name == "cpu2") return make_cpu_backend(2);
  // host_below 0: every size runs on the device, so the kernels see 0, 1, 255, ... too.
  if (name == "cuda") return make_cuda_backend({0, 0, 2});
  // 1 MiB limit: chunks of 128 KiB, so the large sizes cross several chunk boundaries.
  if (name == "cuda_small_chunks") return make_cuda_backend({std::uint64_t{1} << 20, 0, 2});
  return make_cuda_backend({});  // defaults: small tensors on the host
}

class BackendParity : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() != "cpu2" && !cuda_usable()) GTEST_SKIP() << "no CUDA device (" << probe_cuda().reason << ")";
    backend_ = make_backend(GetParam());
    oracle_ = make_cpu_backend(1);
  }
  std::unique_ptr<Backend> backend_, oracle_;
};

std::string where(DType t, std::size_t n, Kind k) {
  return std::string(dtype_name(t)) + " n=" + std::to_string(n) + " " + kind_name(k) + " seed=" + std::to_string(kSeed);
}

void expect_same_scan(const TensorScan& a, const TensorScan& b, const std::string& ctx) {
  EXPECT_EQ(a.n, b.n) << ctx;
  EXPECT_EQ(a.nan, b.nan) << ctx;
  EXPECT_EQ(a.zeros, b.zeros) << ctx;
  EXPECT_EQ(a.min_abs_key, b.min_abs_key) << ctx;
  EXPECT_EQ(a.max_abs_key, b.max_abs_key) << ctx;
  EXPECT_EQ(std::memcmp(&a.sum_abs, &b.sum_abs, 8), 0) << ctx << " sum_abs " << a.sum_abs << " vs " << b.sum_abs;
  EXPECT_EQ(std::memcmp(&a.sum_sq, &b.sum_sq, 8), 0) << ctx << " sum_sq " << a.sum_sq << " vs " << b.sum_sq;
}

// The key widths a dtype is compared in: its own, and wider ones for mixed global scopes.
std::vector<KeyWidth> widths_for(DType t) {
  if (t == DType::f16) return {KeyWidth::k16, KeyWidth::k32, KeyWidth::k64};
  if (t == DType::f32) return {KeyWidth::k32, KeyWidth::k64};
  return {KeyWidth::k64};
}

const DType kTypes[] = {DType::f16, DType::f32, DType::f64};

TEST_P(BackendParity, ScanAndFirstDigitHistogram) {
  for (DType t : kTypes)
    for (Kind k : {Kind::normal, Kind::ties, Kind::specials})
      for (std::size_t n : kSizes) {
        const auto data = make_data(t, n, k, true, kSeed + n);
        const std::string ctx = where(t, n, k);
        const ConstTensor view{t, data.data(), n};
        expect_same_scan(backend_->scan(view), oracle_->scan(view), ctx + " scan");
        for (KeyWidth w : widths_for(t)) {
          const DigitLayout d = digit_layout(w).front();
          std::vector<std::uint64_t> got(std::size_t{1} << d.bits, 7), want(got);  // adds to what is there
          const TensorScan a = backend_->scan_histogram(view, w, {d.shift, d.bits, 0}, got.data());
          const TensorScan b = oracle_->scan_histogram(view, w, {d.shift, d.bits, 0}, want.data());
          expect_same_scan(a, b, ctx + " scan_histogram w=" + std::to_string(int(w)));
          EXPECT_EQ(got, want) << ctx << " first digit w=" << int(w);
        }
      }
}

TEST_P(BackendParity, LaterDigitsAndCountEqual) {
  for (DType t : kTypes)
    for (Kind k : {Kind::normal, Kind::ties})
      for (std::size_t n : kSizes) {
        if (n == 0) continue;
        const auto data = make_data(t, n, k, false, kSeed + 3 * n);
        const ConstTensor view{t, data.data(), n};
        for (KeyWidth w : widths_for(t)) {
          const std::uint64_t key = element_key(t, w, data.data(), n / 2);
          const std::string ctx = where(t, n, k) + " w=" + std::to_string(int(w)) + " key=" + std::to_string(key);
          EXPECT_EQ(backend_->count_equal(view, w, key), oracle_->count_equal(view, w, key)) << ctx;
          for (const DigitLayout& d : digit_layout(w)) {
            const int high = d.shift + d.bits;
            const std::uint64_t prefix = high >= 64 ? 0 : key >> high;
            std::vector<std::uint64_t> got(std::size_t{1} << d.bits, 0), want(got);
            backend_->histogram(view, w, {d.shift, d.bits, prefix}, got.data());
            oracle_->histogram(view, w, {d.shift, d.bits, prefix}, want.data());
            EXPECT_EQ(got, want) << ctx << " digit shift=" << d.shift << " prefix=" << prefix;
          }
        }
      }
}

TEST_P(BackendParity, ApplyWithTieQuotaInPositionOrder) {
  for (DType t : kTypes)
    for (Kind k : {Kind::normal, Kind::ties, Kind::specials})
      for (std::size_t n : kSizes) {
        const auto data = make_data(t, n, k, k == Kind::specials, kSeed + 5 * n);  // NaN too: it adds nothing
        for (KeyWidth w : widths_for(t)) {
          const std::uint64_t K = n ? element_key(t, w, data.data(), (n * 7) / 10) : 1;
          const std::uint64_t ties = oracle_->count_equal(ConstTensor{t, data.data(), n}, w, K);
          for (std::uint64_t quota : {std::uint64_t{0}, std::uint64_t{1}, ties / 2, ties, kAllTies}) {
            const std::string ctx = where(t, n, k) + " w=" + std::to_string(int(w)) + " K=" + std::to_string(K) +
                                    " quota=" + std::to_string(quota);
            auto got = data, want = data;
            const ApplyResult a = backend_->apply(MutTensor{t, got.data(), n}, w, K, quota);
            const ApplyResult b = oracle_->apply(MutTensor{t, want.data(), n}, w, K, quota);
            EXPECT_EQ(got, want) << ctx;
            EXPECT_EQ(a.pruned, b.pruned) << ctx;
            EXPECT_EQ(a.ties, b.ties) << ctx;
            EXPECT_EQ(a.ties_pruned, b.ties_pruned) << ctx;
            EXPECT_EQ(std::memcmp(&a.kept_sum_sq, &b.kept_sum_sq, 8), 0) << ctx << " " << a.kept_sum_sq << " vs "
                                                                         << b.kept_sum_sq;
          }
        }
      }
}

// The whole exact selection, as the pipeline drives it, ends in the same bytes.
TEST_P(BackendParity, ExactSelectionEndToEnd) {
  for (DType t : kTypes)
    for (std::size_t n : kSizes) {
      if (n == 0) continue;
      auto got = make_data(t, n, Kind::ties, false, kSeed + 11 * n);
      auto want = got;
      for (Backend* be : {backend_.get(), oracle_.get()}) {
        auto& bytes = be == backend_.get() ? got : want;
        const KeyWidth w = native_key_width(t);
        RadixSelection sel(w, (n * 9) / 10);
        while (!sel.done()) {
          const DigitLayout d = sel.next_digit();
          std::vector<std::uint64_t> hist(std::size_t{1} << d.bits, 0);
          be->histogram(ConstTensor{t, bytes.data(), n}, w, {d.shift, d.bits, sel.prefix}, hist.data());
          sel.consume(hist);
        }
        be->apply(MutTensor{t, bytes.data(), n}, w, sel.key(), sel.tie_quota());
      }
      EXPECT_EQ(got, want) << where(t, n, Kind::ties);
    }
}

TEST_P(BackendParity, SurvivorCountsCompactionAndMasks) {
  for (DType t : kTypes)
    for (std::size_t n : kSizes) {
      auto data = make_data(t, n, Kind::specials, false, kSeed + 13 * n);
      const KeyWidth w = native_key_width(t);
      if (n) oracle_->apply(MutTensor{t, data.data(), n}, w, element_key(t, w, data.data(), n / 3), 0);
      const ConstTensor view{t, data.data(), n};
      const std::string ctx = where(t, n, Kind::specials);
      EXPECT_EQ(backend_->count_survivors(view, 0, 0, nullptr), oracle_->count_survivors(view, 0, 0, nullptr)) << ctx;
      for (std::size_t row_len : {std::size_t{1}, std::size_t{3}, std::size_t{256}, std::size_t{1000}, std::size_t{70000}}) {
        const std::size_t phase = row_len / 2;
        const std::size_t rows = (phase + n + row_len - 1) / row_len + 1;
        std::vector<std::uint64_t> got(rows, 5), want(rows, 5);
        EXPECT_EQ(backend_->count_survivors(view, row_len, phase, got.data()),
                  oracle_->count_survivors(view, row_len, phase, want.data())) << ctx << " row_len=" << row_len;
        EXPECT_EQ(got, want) << ctx << " row_len=" << row_len << " phase=" << phase;
      }
      const std::size_t esize = dtype_size(t);
      std::vector<unsigned char> gv(n * esize + 1), wv(gv);
      std::vector<std::uint64_t> gi(n + 1), wi(gi);
      EXPECT_EQ(backend_->compact(view, 1000, gv.data(), gi.data()), oracle_->compact(view, 1000, wv.data(), wi.data()))
          << ctx;
      EXPECT_EQ(gv, wv) << ctx;
      EXPECT_EQ(gi, wi) << ctx;
      for (unsigned offset = 0; offset < 8; ++offset) {
        std::vector<std::uint8_t> gb((offset + n + 7) / 8 + 1, 0xA5), wb(gb);
        backend_->survivor_mask(view, offset, gb.data());
        oracle_->survivor_mask(view, offset, wb.data());
        EXPECT_EQ(gb, wb) << ctx << " bit_offset=" << offset;
      }
    }
}

TEST_P(BackendParity, NmGroupsPositionsAndSums) {
  const unsigned groups[][2] = {{2, 4}, {1, 1}, {3, 7}, {1, 8}, {5, 256}};
  for (DType t : kTypes)
    for (const auto& g : groups)
      for (std::size_t stride : {std::size_t{1}, std::size_t{3}, std::size_t{64}})
      for (std::size_t size : kSizes) {
        const unsigned keep = g[0], m = g[1];
        const std::size_t n = size / (m * stride) * (m * stride);
        const auto data = make_data(t, n, Kind::ties, false, kSeed + 17 * n + m);
        const std::string ctx = where(t, n, Kind::ties) + " " + std::to_string(keep) + ":" + std::to_string(m) +
                                " stride " + std::to_string(stride);
        auto got = data, want = data;
        const std::size_t out = n / m * keep;
        std::vector<std::uint8_t> gp(out + 1, 9), wp(gp);
        std::vector<unsigned char> gk(out * dtype_size(t) + 1, 3), wk(gk);
        const NmResult a = backend_->nm_apply(MutTensor{t, got.data(), n}, keep, m, stride, gp.data(), gk.data());
        const NmResult b = oracle_->nm_apply(MutTensor{t, want.data(), n}, keep, m, stride, wp.data(), wk.data());
        EXPECT_EQ(got, want) << ctx;
        EXPECT_EQ(gp, wp) << ctx;
        EXPECT_EQ(gk, wk) << ctx;
        EXPECT_EQ(a.pruned, b.pruned) << ctx;
        EXPECT_EQ(a.zeros_after, b.zeros_after) << ctx;
        EXPECT_EQ(std::memcmp(&a.kept_sum_sq, &b.kept_sum_sq, 8), 0) << ctx << " " << a.kept_sum_sq << " vs " << b.kept_sum_sq;
      }
}

TEST_P(BackendParity, SweepKernels) {
  for (DType t : kTypes)
    for (std::size_t n : {std::size_t{257}, std::size_t{200003}}) {
      const auto data = make_data(t, n, Kind::ties, false, kSeed + 19 * n);
      const ConstTensor view{t, data.data(), n};
      const KeyWidth w = native_key_width(t);
      std::vector<std::uint64_t> bounds = {element_key(t, w, data.data(), 1), element_key(t, w, data.data(), n / 2),
                                           inf_key(w)};
      std::sort(bounds.begin(), bounds.end());
      bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());
      const std::size_t m = bounds.size();
      std::vector<std::uint64_t> gc(m + 1, 0), wc(gc), ge(m, 0), we(ge);
      std::vector<double> gs(m + 1, 0.0), ws(gs);
      backend_->tally(view, w, bounds, gc.data(), gs.data(), ge.data());
      oracle_->tally(view, w, bounds, wc.data(), ws.data(), we.data());
      EXPECT_EQ(gc, wc) << where(t, n, Kind::ties);
      EXPECT_EQ(gs, ws) << where(t, n, Kind::ties);
      EXPECT_EQ(ge, we) << where(t, n, Kind::ties);
      const DigitLayout d = digit_layout(w).back();
      const int high = d.shift + d.bits;
      std::vector<std::uint64_t> prefixes = {bounds[0] >> high, bounds[1 % m] >> high};
      std::sort(prefixes.begin(), prefixes.end());
      prefixes.erase(std::unique(prefixes.begin(), prefixes.end()), prefixes.end());
      std::vector<std::uint64_t> gh(prefixes.size() << d.bits, 0), wh(gh);
      backend_->histogram_multi(view, w, d.shift, d.bits, prefixes, gh.data());
      oracle_->histogram_multi(view, w, d.shift, d.bits, prefixes, wh.data());
      EXPECT_EQ(gh, wh) << where(t, n, Kind::ties);
    }
}

// Tensors the pipeline keeps in memory are retained: a device backend then works on its own
// device copy, and apply/nm_apply must still update the host bytes.
TEST_P(BackendParity, RetainedTensorsMatchTheOracle) {
  for (DType t : kTypes)
    for (std::size_t n : kSizes) {
      const std::string ctx = where(t, n, Kind::ties) + " retained";
      auto got = make_data(t, n, Kind::ties, false, kSeed + 23 * n);
      auto want = got;
      const KeyWidth w = native_key_width(t);
      std::vector<ApplyResult> results;
      std::vector<std::vector<std::uint64_t>> hists;
      for (Backend* be : {backend_.get(), oracle_.get()}) {
        auto& bytes = be == backend_.get() ? got : want;
        const ConstTensor view{t, bytes.data(), n};
        be->retain(view);
        const DigitLayout first = digit_layout(w).front();
        std::vector<std::uint64_t> hist(std::size_t{1} << first.bits, 0);
        be->scan_histogram(view, w, {first.shift, first.bits, 0}, hist.data());
        RadixSelection sel(w, (n * 3) / 4);
        if (n > 0) sel.consume(hist);
        while (n > 0 && !sel.done()) {
          const DigitLayout d = sel.next_digit();
          std::vector<std::uint64_t> h(std::size_t{1} << d.bits, 0);
          be->histogram(view, w, {d.shift, d.bits, sel.prefix}, h.data());
          sel.consume(h);
          hists.push_back(h);
        }
        const std::uint64_t K = n > 0 ? sel.key() : 0, quota = n > 0 ? sel.tie_quota() : 0;
        results.push_back(be->apply(MutTensor{t, bytes.data(), n}, w, K, quota));
        std::vector<std::uint64_t> rows(n / 3 + 2, 0), index(n + 1, 0);
        results.back().pruned += 1000000 * be->count_survivors(view, 3, 1, rows.data());
        be->compact(view, 0, nullptr, index.data());
        hists.push_back(rows);
        hists.push_back(index);
        be->release(bytes.data());
      }
      EXPECT_EQ(got, want) << ctx;
      ASSERT_EQ(results.size(), 2u);
      EXPECT_EQ(results[0].pruned, results[1].pruned) << ctx;
      EXPECT_EQ(results[0].ties_pruned, results[1].ties_pruned) << ctx;
      EXPECT_EQ(std::memcmp(&results[0].kept_sum_sq, &results[1].kept_sum_sq, 8), 0) << ctx;
      ASSERT_EQ(hists.size() % 2, 0u);
      const std::size_t half = hists.size() / 2;
      for (std::size_t i = 0; i < half; ++i) EXPECT_EQ(hists[i], hists[half + i]) << ctx << " result " << i;
    }
}

INSTANTIATE_TEST_SUITE_P(Backends, BackendParity, ::testing::Values("cpu2", "cuda", "cuda_small_chunks", "cuda_default"),
                         [](const auto& info) { return info.param; });

// Without a device, asking for CUDA is a usage error that says why (never a crash).
TEST(CudaBackend, RefusesClearlyWithoutDevice) {
  if (cuda_usable()) GTEST_SKIP() << "a CUDA device is present";
  try {
    make_cuda_backend({});
    FAIL() << "make_cuda_backend succeeded without a device";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("no usable CUDA device"), std::string::npos) << e.what();
  }
}

}  // namespace

// One call of every entry point on the device, at sizes that cross chunk and block edges: small
// enough for compute-sanitizer (memcheck, racecheck) to finish in seconds. benchmarks/gpu/check.sh
// runs the sanitizers on this test.
TEST(CudaSanitizerSmoke, EveryEntryPointOnce) {
  if (!cuda_usable()) GTEST_SKIP() << "no CUDA device (" << probe_cuda().reason << ")";
  auto gpu = make_cuda_backend({std::uint64_t{1} << 20, 0, 2});  // 128 KiB chunks, all on the device
  auto cpu = make_cpu_backend(1);
  for (DType t : kTypes) {
    const std::size_t n = 70004;  // a multiple of 4 for 2:4
    const KeyWidth w = native_key_width(t);
    const std::string ctx = where(t, n, Kind::specials) + " smoke";
    auto got = make_data(t, n, Kind::specials, false, kSeed + 29);
    auto want = got;
    const ConstTensor gv{t, got.data(), n}, wv{t, want.data(), n};
    expect_same_scan(gpu->scan(gv), cpu->scan(wv), ctx);
    const DigitLayout first = digit_layout(w).front(), last = digit_layout(w).back();
    std::vector<std::uint64_t> gh(std::size_t{1} << first.bits, 0), wh(gh);
    gpu->scan_histogram(gv, w, {first.shift, first.bits, 0}, gh.data());
    cpu->scan_histogram(wv, w, {first.shift, first.bits, 0}, wh.data());
    EXPECT_EQ(gh, wh) << ctx;
    const std::uint64_t K = element_key(t, w, want.data(), n / 2);
    const int high = last.shift + last.bits;
    std::vector<std::uint64_t> gl(std::size_t{1} << last.bits, 0), wl(gl);
    gpu->histogram(gv, w, {last.shift, last.bits, high >= 64 ? 0 : K >> high}, gl.data());
    cpu->histogram(wv, w, {last.shift, last.bits, high >= 64 ? 0 : K >> high}, wl.data());
    EXPECT_EQ(gl, wl) << ctx;
    const std::uint64_t ties = cpu->count_equal(wv, w, K);
    EXPECT_EQ(gpu->count_equal(gv, w, K), ties) << ctx;
    gpu->retain(gv);
    const ApplyResult a = gpu->apply(MutTensor{t, got.data(), n}, w, K, ties / 2);
    const ApplyResult b = cpu->apply(MutTensor{t, want.data(), n}, w, K, ties / 2);
    EXPECT_EQ(a.pruned, b.pruned) << ctx;
    EXPECT_EQ(std::memcmp(&a.kept_sum_sq, &b.kept_sum_sq, 8), 0) << ctx;
    std::vector<std::uint64_t> gr(n / 7 + 2, 0), wr(gr), gi(n, 0), wi(gi);
    EXPECT_EQ(gpu->count_survivors(gv, 7, 3, gr.data()), cpu->count_survivors(wv, 7, 3, wr.data())) << ctx;
    gpu->release(got.data());
    EXPECT_EQ(gr, wr) << ctx;
    EXPECT_EQ(gpu->compact(gv, 5, nullptr, gi.data()), cpu->compact(wv, 5, nullptr, wi.data())) << ctx;
    EXPECT_EQ(gi, wi) << ctx;
    std::vector<std::uint8_t> gb(n / 8 + 2, 0xFF), wb(gb);
    gpu->survivor_mask(gv, 3, gb.data());
    cpu->survivor_mask(wv, 3, wb.data());
    EXPECT_EQ(gb, wb) << ctx;
    std::vector<std::uint8_t> gp(n / 2, 0), wp(gp);
    gpu->nm_apply(MutTensor{t, got.data(), n}, 2, 4, 1, gp.data(), nullptr);
    cpu->nm_apply(MutTensor{t, want.data(), n}, 2, 4, 1, wp.data(), nullptr);
    EXPECT_EQ(gp, wp) << ctx;
    EXPECT_EQ(got, want) << ctx;
  }
}
