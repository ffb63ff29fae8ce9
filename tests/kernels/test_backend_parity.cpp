// Every Backend entry point against the 1-thread CPU backend (the oracle), exactly: the CPU
// backend with 2 threads, and the CUDA backend with every size on the device, with small
// chunks (tensors cross chunk boundaries), with few histogram blocks (many tiles each), with
// per-block-row histograms, and with its defaults (sizes above its host cut-over). CUDA cases
// skip when no device is usable. Sizes include 0, 1, 255-257, block edges and a large odd n;
// data include ties, -0.0, subnormals, Inf and NaN. A wrong backend must make the harness fail
// (ParityHarness.CatchesEveryPlantedFault).
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <algorithm>
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
#include "tests/kernels/test_data.hpp"

using namespace h5p;
using h5p::testing::Kind;
using h5p::testing::kind_name;
using h5p::testing::make_data;

namespace {

constexpr std::uint64_t kSeed = 20261127;
using Sizes = std::vector<std::size_t>;
const Sizes kSizes = {0, 1, 255, 256, 257, 16383, 16384, 16385, 3 * 16384 + 7, 200003};
// The default CUDA backend keeps tensors under 65536 weights on the host: its sizes start
// above that (by more than the largest N:M group), or it would compare the CPU with itself.
const Sizes kDeviceSizes = {65536 + 256, 2 * 65536 + 1, 200003};

bool cuda_usable() { return probe_cuda().devices > 0; }

std::unique_ptr<Backend> make_backend(const std::string& name) {
  if (name == "cpu2") return make_cpu_backend(2);
  // host_below 0: every size runs on the device, so the kernels see 0, 1, 255, ... too.
  if (name == "cuda") return make_cuda_backend({0, 0, 2});
  // 1 MiB limit: chunks of 256 KiB (the smallest), so the large sizes cross chunk boundaries.
  if (name == "cuda_small_chunks") return make_cuda_backend({std::uint64_t{1} << 20, 0, 2});
  // Two histogram blocks: every block counts several tiles (flush, re-zero, barrier).
  if (name == "cuda_capped_blocks") return make_cuda_backend({0, 0, 2, 2, false});
  // The per-block-row histogram that cards without 128 KiB of shared memory per block use.
  if (name == "cuda_row_histograms") return make_cuda_backend({0, 0, 2, 3, true});
  return make_cuda_backend({});  // defaults: small tensors on the host
}

const Sizes& sizes_for(const std::string& name) { return name == "cuda_default" ? kDeviceSizes : kSizes; }

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

void check_scan_and_first_digit(Backend& backend, Backend& oracle, const Sizes& sizes) {
  for (DType t : kTypes)
    for (Kind k : {Kind::normal, Kind::ties, Kind::specials})
      for (std::size_t n : sizes) {
        const auto data = make_data(t, n, k, true, kSeed + n);
        const std::string ctx = where(t, n, k);
        const ConstTensor view{t, data.data(), n};
        expect_same_scan(backend.scan(view), oracle.scan(view), ctx + " scan");
        for (KeyWidth w : widths_for(t)) {
          const DigitLayout d = digit_layout(w).front();
          std::vector<std::uint64_t> got(std::size_t{1} << d.bits, 7), want(got);  // adds to what is there
          const TensorScan a = backend.scan_histogram(view, w, {d.shift, d.bits, 0}, got.data());
          const TensorScan b = oracle.scan_histogram(view, w, {d.shift, d.bits, 0}, want.data());
          expect_same_scan(a, b, ctx + " scan_histogram w=" + std::to_string(int(w)));
          EXPECT_EQ(got, want) << ctx << " first digit w=" << int(w);
        }
      }
}

void check_later_digits_and_count_equal(Backend& backend, Backend& oracle, const Sizes& sizes) {
  for (DType t : kTypes)
    for (Kind k : {Kind::normal, Kind::ties})
      for (std::size_t n : sizes) {
        if (n == 0) continue;
        const auto data = make_data(t, n, k, false, kSeed + 3 * n);
        const ConstTensor view{t, data.data(), n};
        for (KeyWidth w : widths_for(t)) {
          const std::uint64_t key = element_key(t, w, data.data(), n / 2);
          const std::string ctx = where(t, n, k) + " w=" + std::to_string(int(w)) + " key=" + std::to_string(key);
          EXPECT_EQ(backend.count_equal(view, w, key), oracle.count_equal(view, w, key)) << ctx;
          for (const DigitLayout& d : digit_layout(w)) {
            const int high = d.shift + d.bits;
            const std::uint64_t prefix = high >= 64 ? 0 : key >> high;
            std::vector<std::uint64_t> got(std::size_t{1} << d.bits, 0), want(got);
            backend.histogram(view, w, {d.shift, d.bits, prefix}, got.data());
            oracle.histogram(view, w, {d.shift, d.bits, prefix}, want.data());
            EXPECT_EQ(got, want) << ctx << " digit shift=" << d.shift << " prefix=" << prefix;
          }
        }
      }
}

void check_apply_with_tie_quota(Backend& backend, Backend& oracle, const Sizes& sizes) {
  for (DType t : kTypes)
    for (Kind k : {Kind::normal, Kind::ties, Kind::specials})
      for (std::size_t n : sizes) {
        const auto data = make_data(t, n, k, k == Kind::specials, kSeed + 5 * n);  // NaN too: it adds nothing
        for (KeyWidth w : widths_for(t)) {
          const std::uint64_t K = n ? element_key(t, w, data.data(), (n * 7) / 10) : 1;
          const std::uint64_t ties = oracle.count_equal(ConstTensor{t, data.data(), n}, w, K);
          for (std::uint64_t quota : {std::uint64_t{0}, std::uint64_t{1}, ties / 2, ties, kAllTies}) {
            const std::string ctx = where(t, n, k) + " w=" + std::to_string(int(w)) + " K=" + std::to_string(K) +
                                    " quota=" + std::to_string(quota);
            auto got = data, want = data;
            const ApplyResult a = backend.apply(MutTensor{t, got.data(), n}, w, K, quota);
            const ApplyResult b = oracle.apply(MutTensor{t, want.data(), n}, w, K, quota);
            EXPECT_EQ(got, want) << ctx;
            EXPECT_EQ(a.pruned, b.pruned) << ctx;
            EXPECT_EQ(a.ties, b.ties) << ctx;
            EXPECT_EQ(a.ties_pruned, b.ties_pruned) << ctx;
            EXPECT_EQ(std::memcmp(&a.kept_sum_sq, &b.kept_sum_sq, 8), 0) << ctx << " " << a.kept_sum_sq << " vs "
                                                                         << b.kept_sum_sq;
            // Out of place (a read-only mapping pruned into a write buffer): the same bytes and
            // counts in `out`, every byte of it written, and the input left as it was.
            std::vector<unsigned char> out(data.size(), 0xA5);
            const auto in = data;
            const ApplyResult c = backend.apply(ConstTensor{t, in.data(), n}, out.data(), w, K, quota);
            EXPECT_EQ(in, data) << ctx << " out of place changed its input";
            EXPECT_EQ(out, want) << ctx << " out of place";
            EXPECT_EQ(c.pruned, b.pruned) << ctx << " out of place";
            EXPECT_EQ(c.ties, b.ties) << ctx << " out of place";
            EXPECT_EQ(c.ties_pruned, b.ties_pruned) << ctx << " out of place";
            EXPECT_EQ(std::memcmp(&c.kept_sum_sq, &b.kept_sum_sq, 8), 0) << ctx << " out of place";
          }
        }
      }
}

// The whole exact selection, as the pipeline drives it, ends in the same bytes.
void check_exact_selection(Backend& backend, Backend& oracle, const Sizes& sizes) {
  for (DType t : kTypes)
    for (std::size_t n : sizes) {
      if (n == 0) continue;
      auto got = make_data(t, n, Kind::ties, false, kSeed + 11 * n);
      auto want = got;
      for (Backend* be : {&backend, &oracle}) {
        auto& bytes = be == &backend ? got : want;
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

void check_compaction_and_masks(Backend& backend, Backend& oracle, const Sizes& sizes) {
  for (DType t : kTypes)
    for (std::size_t n : sizes) {
      auto data = make_data(t, n, Kind::specials, false, kSeed + 13 * n);
      const KeyWidth w = native_key_width(t);
      if (n) oracle.apply(MutTensor{t, data.data(), n}, w, element_key(t, w, data.data(), n / 3), 0);
      const ConstTensor view{t, data.data(), n};
      const std::string ctx = where(t, n, Kind::specials);
      EXPECT_EQ(backend.count_survivors(view, 0, 0, nullptr), oracle.count_survivors(view, 0, 0, nullptr)) << ctx;
      for (std::size_t row_len : {std::size_t{1}, std::size_t{3}, std::size_t{256}, std::size_t{1000}, std::size_t{70000}}) {
        const std::size_t phase = row_len / 2;
        const std::size_t rows = (phase + n + row_len - 1) / row_len + 1;
        std::vector<std::uint64_t> got(rows, 5), want(rows, 5);
        EXPECT_EQ(backend.count_survivors(view, row_len, phase, got.data()),
                  oracle.count_survivors(view, row_len, phase, want.data())) << ctx << " row_len=" << row_len;
        EXPECT_EQ(got, want) << ctx << " row_len=" << row_len << " phase=" << phase;
      }
      const std::size_t esize = dtype_size(t);
      std::vector<unsigned char> gv(n * esize + 1), wv(gv);
      std::vector<std::uint64_t> gi(n + 1), wi(gi);
      EXPECT_EQ(backend.compact(view, 1000, gv.data(), gi.data()), oracle.compact(view, 1000, wv.data(), wi.data()))
          << ctx;
      EXPECT_EQ(gv, wv) << ctx;
      EXPECT_EQ(gi, wi) << ctx;
      for (unsigned offset = 0; offset < 8; ++offset) {
        std::vector<std::uint8_t> gb((offset + n + 7) / 8 + 1, 0xA5), wb(gb);
        backend.survivor_mask(view, offset, gb.data());
        oracle.survivor_mask(view, offset, wb.data());
        EXPECT_EQ(gb, wb) << ctx << " bit_offset=" << offset;
      }
    }
}

void check_nm_groups(Backend& backend, Backend& oracle, const Sizes& sizes) {
  const unsigned groups[][2] = {{2, 4}, {1, 1}, {3, 7}, {1, 8}, {5, 256}};
  for (DType t : kTypes)
    for (const auto& g : groups)
      for (std::size_t stride : {std::size_t{1}, std::size_t{3}, std::size_t{64}})
      for (std::size_t size : sizes) {
        const unsigned keep = g[0], m = g[1];
        const std::size_t n = size / (m * stride) * (m * stride);
        const auto data = make_data(t, n, Kind::ties, false, kSeed + 17 * n + m);
        const std::string ctx = where(t, n, Kind::ties) + " " + std::to_string(keep) + ":" + std::to_string(m) +
                                " stride " + std::to_string(stride);
        auto got = data, want = data;
        const std::size_t out = n / m * keep;
        std::vector<std::uint8_t> gp(out + 1, 9), wp(gp);
        std::vector<unsigned char> gk(out * dtype_size(t) + 1, 3), wk(gk);
        const NmResult a = backend.nm_apply(MutTensor{t, got.data(), n}, keep, m, stride, gp.data(), gk.data());
        const NmResult b = oracle.nm_apply(MutTensor{t, want.data(), n}, keep, m, stride, wp.data(), wk.data());
        EXPECT_EQ(got, want) << ctx;
        EXPECT_EQ(gp, wp) << ctx;
        EXPECT_EQ(gk, wk) << ctx;
        EXPECT_EQ(a.pruned, b.pruned) << ctx;
        EXPECT_EQ(a.zeros_after, b.zeros_after) << ctx;
        EXPECT_EQ(std::memcmp(&a.kept_sum_sq, &b.kept_sum_sq, 8), 0) << ctx << " " << a.kept_sum_sq << " vs " << b.kept_sum_sq;
      }
}

// Structured: slabs that start mid-slice, several geometries; the norms must order the slices
// alike (compared pairwise with the oracle's) and zero_slices must give the same bytes and sums.
// A retained tensor's host bytes must change too.
void check_structured(Backend& backend, Backend& oracle, const Sizes& sizes) {
  const SliceAxis axes[] = {{7, 1}, {3, 5}, {64, 3}, {1, 16}};
  for (DType t : kTypes)
    for (const SliceAxis& a : axes)
      for (std::size_t n : sizes)
        for (int p : {1, 2}) {
          const std::uint64_t begin = n % 11;
          const std::string ctx = where(t, n, Kind::ties) + " slices " + std::to_string(a.slices) + " inner " +
                                  std::to_string(a.inner) + " L" + std::to_string(p);
          // Ties and specials (Inf, subnormals, -0.0); no NaN: the pipeline rejects it first.
          auto got = make_data(t, n, p == 1 ? Kind::ties : Kind::specials, false, kSeed + 29 * n + a.slices);
          auto want = got;
          SliceNorms gn(t, p, a.slices), wn(t, p, a.slices);
          backend.slice_norms(ConstTensor{t, got.data(), n}, begin, a, gn);
          oracle.slice_norms(ConstTensor{t, want.data(), n}, begin, a, wn);
          std::vector<std::uint8_t> drop(a.slices, 0);
          for (std::size_t i = 0; i < a.slices; ++i) {
            for (std::size_t j = 0; j < a.slices; ++j) EXPECT_EQ(gn.compare(i, j), wn.compare(i, j)) << ctx;
            drop[i] = wn.compare(i, 0) <= 0;  // some slices go, the rest stay
          }
          backend.retain(ConstTensor{t, got.data(), n});
          const NmResult x = backend.zero_slices(MutTensor{t, got.data(), n}, begin, a, drop.data());
          backend.release(got.data());
          const NmResult y = oracle.zero_slices(MutTensor{t, want.data(), n}, begin, a, drop.data());
          EXPECT_EQ(got, want) << ctx;
          EXPECT_EQ(x.pruned, y.pruned) << ctx;
          EXPECT_EQ(x.zeros_after, y.zeros_after) << ctx;
          EXPECT_EQ(std::memcmp(&x.kept_sum_sq, &y.kept_sum_sq, 8), 0) << ctx;
        }
}

void check_sweep_kernels(Backend& backend, Backend& oracle) {
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
      backend.tally(view, w, bounds, gc.data(), gs.data(), ge.data());
      oracle.tally(view, w, bounds, wc.data(), ws.data(), we.data());
      EXPECT_EQ(gc, wc) << where(t, n, Kind::ties);
      EXPECT_EQ(gs, ws) << where(t, n, Kind::ties);
      EXPECT_EQ(ge, we) << where(t, n, Kind::ties);
      const DigitLayout d = digit_layout(w).back();
      const int high = d.shift + d.bits;
      std::vector<std::uint64_t> prefixes = {bounds[0] >> high, bounds[1 % m] >> high};
      std::sort(prefixes.begin(), prefixes.end());
      prefixes.erase(std::unique(prefixes.begin(), prefixes.end()), prefixes.end());
      std::vector<std::uint64_t> gh(prefixes.size() << d.bits, 0), wh(gh);
      backend.histogram_multi(view, w, d.shift, d.bits, prefixes, gh.data());
      oracle.histogram_multi(view, w, d.shift, d.bits, prefixes, wh.data());
      EXPECT_EQ(gh, wh) << where(t, n, Kind::ties);
    }
}

// Tensors the pipeline keeps in memory are retained: a device backend then works on its own
// device copy, and apply/nm_apply must still update the host bytes.
void check_retained_tensors(Backend& backend, Backend& oracle, const Sizes& sizes) {
  for (DType t : kTypes)
    for (std::size_t n : sizes) {
      const std::string ctx = where(t, n, Kind::ties) + " retained";
      auto got = make_data(t, n, Kind::ties, false, kSeed + 23 * n);
      auto want = got;
      const KeyWidth w = native_key_width(t);
      std::vector<ApplyResult> results;
      std::vector<std::vector<std::uint64_t>> hists;
      for (Backend* be : {&backend, &oracle}) {
        auto& bytes = be == &backend ? got : want;
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

// Buffers from the backend's allocate_host (page-locked for CUDA up to 8 MiB, pageable above):
// uploads, the apply's write-back and the compaction and N:M outputs go straight from and to them.
void check_pinned_buffers(Backend& backend, Backend& oracle, const Sizes& sizes) {
  for (DType t : kTypes)
    for (std::size_t size : sizes) {
      const std::size_t n = size / 4 * 4, esize = dtype_size(t);
      const std::string ctx = where(t, n, Kind::ties) + " pinned";
      const auto data = make_data(t, n, Kind::ties, false, kSeed + 29 * n);
      const HostBuffer host = backend.allocate_host(n * esize);
      if (n) std::memcpy(host.get(), data.data(), n * esize);
      auto want = data;
      const KeyWidth w = native_key_width(t);
      const ConstTensor view{t, host.get(), n}, wview{t, want.data(), n};
      expect_same_scan(backend.scan(view), oracle.scan(wview), ctx + " scan");
      const std::uint64_t K = n ? element_key(t, w, data.data(), n / 2) : 1;
      const std::uint64_t ties = oracle.count_equal(wview, w, K);
      EXPECT_EQ(backend.count_equal(view, w, K), ties) << ctx;
      const ApplyResult a = backend.apply(MutTensor{t, host.get(), n}, w, K, ties / 2);
      const ApplyResult b = oracle.apply(MutTensor{t, want.data(), n}, w, K, ties / 2);
      EXPECT_EQ(a.pruned, b.pruned) << ctx;
      EXPECT_EQ(a.ties_pruned, b.ties_pruned) << ctx;
      EXPECT_EQ(n ? std::memcmp(host.get(), want.data(), n * esize) : 0, 0) << ctx << " apply's write-back";
      const HostBuffer values = backend.allocate_host(n * esize), index = backend.allocate_host(n * 8);
      std::vector<unsigned char> wv(n * esize + 1);
      std::vector<std::uint64_t> wi(n + 1);
      const std::uint64_t m = backend.compact(view, 7, values.get(), reinterpret_cast<std::uint64_t*>(index.get()));
      ASSERT_EQ(m, oracle.compact(wview, 7, wv.data(), wi.data())) << ctx;
      EXPECT_EQ(m ? std::memcmp(values.get(), wv.data(), m * esize) : 0, 0) << ctx << " compacted values";
      EXPECT_EQ(m ? std::memcmp(index.get(), wi.data(), m * 8) : 0, 0) << ctx << " compacted indices";
      const HostBuffer positions = backend.allocate_host(n / 2), kept = backend.allocate_host(n / 2 * esize);
      std::vector<std::uint8_t> wp(n / 2 + 1);
      std::vector<unsigned char> wk(n / 2 * esize + 1);
      backend.nm_apply(MutTensor{t, host.get(), n}, 2, 4, 1, positions.get(), kept.get());
      oracle.nm_apply(MutTensor{t, want.data(), n}, 2, 4, 1, wp.data(), wk.data());
      EXPECT_EQ(n ? std::memcmp(host.get(), want.data(), n * esize) : 0, 0) << ctx << " 2:4";
      EXPECT_EQ(n ? std::memcmp(positions.get(), wp.data(), n / 2) : 0, 0) << ctx << " 2:4 positions";
      EXPECT_EQ(n ? std::memcmp(kept.get(), wk.data(), n / 2 * esize) : 0, 0) << ctx << " 2:4 kept";
    }
}

// The whole harness: every entry point that the backends must agree on. A check that throws
// (a wrong histogram can make the selection inconsistent) counts as one failure.
void run_harness(Backend& backend, Backend& oracle, const Sizes& sizes) {
  using Check = void (*)(Backend&, Backend&, const Sizes&);
  for (Check check : {check_scan_and_first_digit, check_later_digits_and_count_equal, check_apply_with_tie_quota,
                      check_exact_selection, check_compaction_and_masks, check_nm_groups, check_retained_tensors,
                      check_pinned_buffers, check_structured}) {
    try {
      check(backend, oracle, sizes);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "threw: " << e.what();
    }
  }
}

class BackendParity : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() != "cpu2" && !cuda_usable()) GTEST_SKIP() << "no CUDA device (" << probe_cuda().reason << ")";
    backend_ = make_backend(GetParam());
    oracle_ = make_cpu_backend(1);
  }
  const Sizes& sizes() const { return sizes_for(GetParam()); }
  std::unique_ptr<Backend> backend_, oracle_;
};

TEST_P(BackendParity, ScanAndFirstDigitHistogram) { check_scan_and_first_digit(*backend_, *oracle_, sizes()); }
TEST_P(BackendParity, LaterDigitsAndCountEqual) { check_later_digits_and_count_equal(*backend_, *oracle_, sizes()); }
TEST_P(BackendParity, ApplyWithTieQuotaInPositionOrder) { check_apply_with_tie_quota(*backend_, *oracle_, sizes()); }
TEST_P(BackendParity, ExactSelectionEndToEnd) { check_exact_selection(*backend_, *oracle_, sizes()); }
TEST_P(BackendParity, SurvivorCountsCompactionAndMasks) { check_compaction_and_masks(*backend_, *oracle_, sizes()); }
TEST_P(BackendParity, NmGroupsPositionsAndSums) { check_nm_groups(*backend_, *oracle_, sizes()); }
TEST_P(BackendParity, StructuredNormsAndZeroedSlices) { check_structured(*backend_, *oracle_, sizes()); }
TEST_P(BackendParity, RetainedTensorsMatchTheOracle) { check_retained_tensors(*backend_, *oracle_, sizes()); }
TEST_P(BackendParity, PinnedHostBuffers) { check_pinned_buffers(*backend_, *oracle_, sizes()); }

INSTANTIATE_TEST_SUITE_P(Backends, BackendParity,
                         ::testing::Values("cpu2", "cuda", "cuda_small_chunks", "cuda_capped_blocks",
                                           "cuda_row_histograms", "cuda_default"),
                         [](const auto& info) { return info.param; });

// The sweeps' kernels (histogram_multi, tally) exist on the CPU only: the CUDA backend hands
// them to its CPU backend, so a CUDA case here would compare the CPU with itself.
TEST(CpuParity, SweepKernels) {
  auto two_threads = make_cpu_backend(2);
  auto oracle = make_cpu_backend(1);
  check_sweep_kernels(*two_threads, *oracle);
}

// ---- The harness must be able to fail: a CPU backend with one planted fault at a time.

enum class Fault { none, scan_sum, histogram_count, count_equal, apply_extra_tie, survivor_count, compact_index,
                   mask_bit, nm_sum, slice_zero };
const char* fault_name(Fault f) {
  switch (f) {
    case Fault::none: return "none";
    case Fault::scan_sum: return "scan_sum";
    case Fault::histogram_count: return "histogram_count";
    case Fault::count_equal: return "count_equal";
    case Fault::apply_extra_tie: return "apply_extra_tie";
    case Fault::survivor_count: return "survivor_count";
    case Fault::compact_index: return "compact_index";
    case Fault::mask_bit: return "mask_bit";
    case Fault::slice_zero: return "slice_zero";
    case Fault::nm_sum: return "nm_sum";
  }
  return "?";
}

// The 1-thread CPU backend, wrong in one place (each fault is a bug a kernel could have).
class FaultyBackend final : public Backend {
 public:
  explicit FaultyBackend(Fault f) : fault_(f), cpu_(make_cpu_backend(1)) {}
  std::string name() const override { return "faulty"; }
  std::string device() const override { return "host"; }
  TensorScan scan(ConstTensor t) override {
    TensorScan s = cpu_->scan(t);
    if (fault_ == Fault::scan_sum && t.n > 0) s.sum_sq = std::nextafter(s.sum_sq, INFINITY);  // one ulp
    return s;
  }
  TensorScan scan_histogram(ConstTensor t, KeyWidth w, DigitPass pass, std::uint64_t* hist,
                            double sum_from) override {
    const TensorScan s = cpu_->scan_histogram(t, w, pass, hist, sum_from);
    if (fault_ == Fault::histogram_count && t.n > 0) ++hist[0];  // one element counted twice
    return s;
  }
  void histogram(ConstTensor t, KeyWidth w, DigitPass pass, std::uint64_t* hist) override {
    cpu_->histogram(t, w, pass, hist);
    if (fault_ == Fault::histogram_count && t.n > 0) ++hist[(std::size_t{1} << pass.bits) - 1];
  }
  std::uint64_t count_equal(ConstTensor t, KeyWidth w, std::uint64_t key) override {
    return cpu_->count_equal(t, w, key) + (fault_ == Fault::count_equal && t.n > 0);
  }
  using Backend::apply;
  ApplyResult apply(ConstTensor t, void* out, KeyWidth w, std::uint64_t K, std::uint64_t tie_quota,
                    double sum_from) override {
    // One tie too many (the off-by-one of a quota shared out across blocks).
    if (fault_ == Fault::apply_extra_tie && tie_quota != kAllTies) ++tie_quota;
    return cpu_->apply(t, out, w, K, tie_quota, sum_from);
  }
  void histogram_multi(ConstTensor t, KeyWidth w, int shift, int bits, const std::vector<std::uint64_t>& prefixes,
                       std::uint64_t* hists) override {
    cpu_->histogram_multi(t, w, shift, bits, prefixes, hists);
  }
  void tally(ConstTensor t, KeyWidth w, const std::vector<std::uint64_t>& bounds, std::uint64_t* bucket_count,
             double* bucket_sum_sq, std::uint64_t* equal) override {
    cpu_->tally(t, w, bounds, bucket_count, bucket_sum_sq, equal);
  }
  void slice_norms(ConstTensor t, std::uint64_t begin, SliceAxis axis, SliceNorms& norms) override {
    cpu_->slice_norms(t, begin, axis, norms);
  }
  NmResult zero_slices(MutTensor t, std::uint64_t begin, SliceAxis axis, const std::uint8_t* drop) override {
    // The last element's slice taken for its neighbour's (an off-by-one in the slice walk).
    NmResult r = cpu_->zero_slices(t, begin, axis, drop);
    if (fault_ == Fault::slice_zero && t.n > 0 && axis.slices > 1) {
      const std::size_t s = ((begin + t.n - 1) / axis.inner + 1) % axis.slices;
      if (drop[s]) std::memset(static_cast<unsigned char*>(t.data) + (t.n - 1) * dtype_size(t.dtype), 0, dtype_size(t.dtype));
    }
    return r;
  }
  std::uint64_t count_survivors(ConstTensor t, std::size_t row_len, std::size_t phase,
                                std::uint64_t* row_counts) override {
    const std::uint64_t c = cpu_->count_survivors(t, row_len, phase, row_counts);
    if (fault_ == Fault::survivor_count && row_counts && t.n > 0) ++row_counts[0];
    return c;
  }
  std::uint64_t compact(ConstTensor t, std::uint64_t base, void* values, std::uint64_t* index) override {
    const std::uint64_t c = cpu_->compact(t, base, values, index);
    if (fault_ == Fault::compact_index && index && c > 0) ++index[c - 1];
    return c;
  }
  void survivor_mask(ConstTensor t, unsigned bit_offset, std::uint8_t* bits) override {
    cpu_->survivor_mask(t, bit_offset, bits);
    if (fault_ == Fault::mask_bit && t.n > 0) bits[(bit_offset + t.n - 1) / 8] ^= std::uint8_t(1u << ((bit_offset + t.n - 1) % 8));
  }
  NmResult nm_apply(MutTensor t, unsigned keep, unsigned m, std::size_t stride, std::uint8_t* positions,
                    void* kept) override {
    NmResult r = cpu_->nm_apply(t, keep, m, stride, positions, kept);
    if (fault_ == Fault::nm_sum && t.n > 0) r.kept_sum_sq = std::nextafter(r.kept_sum_sq, INFINITY);
    return r;
  }

 private:
  Fault fault_;
  std::unique_ptr<Backend> cpu_;
};

// Runs the whole harness against the oracle, collecting its failures instead of reporting them.
std::size_t harness_failures(Backend& backend, const Sizes& sizes) {
  auto oracle = make_cpu_backend(1);
  ::testing::TestPartResultArray failures;
  {
    ::testing::ScopedFakeTestPartResultReporter intercept(
        ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &failures);
    run_harness(backend, *oracle, sizes);
  }
  return static_cast<std::size_t>(failures.size());
}

// The mutation check of the parity suite: every planted fault is caught, and the wrapper with
// no fault passes (so the failures come from the faults, not from the wrapper).
TEST(ParityHarness, CatchesEveryPlantedFault) {
  const Sizes sizes = {1, 257, 16385};
  FaultyBackend exact(Fault::none);
  EXPECT_EQ(harness_failures(exact, sizes), 0u) << "the fault-free wrapper must pass";
  for (Fault f : {Fault::scan_sum, Fault::histogram_count, Fault::count_equal, Fault::apply_extra_tie,
                  Fault::survivor_count, Fault::compact_index, Fault::mask_bit, Fault::nm_sum, Fault::slice_zero}) {
    FaultyBackend faulty(f);
    EXPECT_GT(harness_failures(faulty, sizes), 0u) << "the parity harness missed the planted fault " << fault_name(f);
  }
}
// Without a device, asking for CUDA is a usage error that says why (never a crash): no usable
// device, or (a CPU-only build) no CUDA backend at all.
TEST(CudaBackend, RefusesClearlyWithoutDevice) {
  if (cuda_usable()) GTEST_SKIP() << "a CUDA device is present";
  const std::string why = probe_cuda().compiled ? "no usable CUDA device" : "has no CUDA backend";
  try {
    make_cuda_backend({});
    FAIL() << "make_cuda_backend succeeded without a device";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
  }
}

}  // namespace

// One call of every entry point on the device, at sizes that cross chunk and block edges: small
// enough for compute-sanitizer (memcheck, racecheck) to finish in seconds. benchmarks/gpu/check.sh
// runs the sanitizers on this test.
TEST(CudaSanitizerSmoke, EveryEntryPointOnce) {
  if (!cuda_usable()) GTEST_SKIP() << "no CUDA device (" << probe_cuda().reason << ")";
  auto gpu = make_cuda_backend({std::uint64_t{1} << 20, 0, 2});  // 256 KiB chunks, all on the device
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
