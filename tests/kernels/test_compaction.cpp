// CPU compaction and N:M kernels against plain loops written here: survivor counts (per row
// with any phase), order-preserving compaction, bitmaps at every bit offset, N:M with ties;
// identical for 1 and 2 threads. Survivors are elements whose bits are not +0.0 (-0.0 counts).
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "kernels/backend.hpp"
#include "kernels/keys.hpp"

using namespace h5p;

namespace {

constexpr std::uint64_t kSeed = 20261127;
const std::size_t kSizes[] = {0, 1, 7, 8, 9, 255, 256, 257, 16384, 16385, 100003};
const DType kTypes[] = {DType::f16, DType::f32, DType::f64};

// Random bits: about 60% +0.0, some -0.0, the rest random non-zero patterns (Inf included).
std::vector<unsigned char> make_bits(DType t, std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  const std::size_t es = dtype_size(t);
  std::vector<unsigned char> bytes(n * es, 0);
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned r = rng() % 100;
    std::uint64_t v = 0;
    if (r < 60) v = 0;
    else if (r < 65) v = std::uint64_t{1} << (es * 8 - 1);  // -0.0
    else v = rng() | 1u;                                       // non-zero low bit: never +0.0
    std::memcpy(&bytes[i * es], &v, es);  // little-endian hosts: the low bytes
  }
  return bytes;
}

bool survives(DType t, const std::vector<unsigned char>& b, std::size_t i) {
  const std::size_t es = dtype_size(t);
  for (std::size_t k = 0; k < es; ++k)
    if (b[i * es + k]) return true;
  return false;
}

std::string ctx(DType t, std::size_t n, int threads) {
  return std::string(dtype_name(t)) + " n=" + std::to_string(n) + " threads=" + std::to_string(threads) +
         " seed=" + std::to_string(kSeed);
}

}  // namespace

TEST(Compaction, CountSurvivorsPerRowAnyPhase) {
  for (int threads : {1, 2})
    for (DType t : kTypes)
      for (std::size_t n : kSizes) {
        auto be = make_cpu_backend(threads);
        const auto bits = make_bits(t, n, kSeed + n);
        std::uint64_t expect_total = 0;
        for (std::size_t i = 0; i < n; ++i) expect_total += survives(t, bits, i);
        EXPECT_EQ(be->count_survivors({t, bits.data(), n}, 0, 0, nullptr), expect_total) << ctx(t, n, threads);
        for (std::size_t row_len : {std::size_t{1}, std::size_t{3}, std::size_t{64}, std::size_t{1000}}) {
          for (std::size_t phase : {std::size_t{0}, row_len / 2, row_len - 1}) {
            const std::size_t rows = (phase + n + row_len - 1) / row_len;
            std::vector<std::uint64_t> got(rows + 1, 5), want(rows + 1, 5);  // adds to what is there
            for (std::size_t i = 0; i < n; ++i) want[(phase + i) / row_len] += survives(t, bits, i);
            const std::uint64_t total = be->count_survivors({t, bits.data(), n}, row_len, phase, got.data());
            EXPECT_EQ(total, expect_total) << ctx(t, n, threads) << " row_len=" << row_len << " phase=" << phase;
            EXPECT_EQ(got, want) << ctx(t, n, threads) << " row_len=" << row_len << " phase=" << phase;
          }
        }
      }
}

TEST(Compaction, CompactKeepsOrderValuesAndIndices) {
  for (int threads : {1, 2})
    for (DType t : kTypes)
      for (std::size_t n : kSizes) {
        auto be = make_cpu_backend(threads);
        const auto bits = make_bits(t, n, kSeed * 3 + n);
        const std::size_t es = dtype_size(t);
        std::vector<unsigned char> want_vals;
        std::vector<std::uint64_t> want_idx;
        const std::uint64_t base = 1000000007ull;
        for (std::size_t i = 0; i < n; ++i)
          if (survives(t, bits, i)) {
            want_vals.insert(want_vals.end(), bits.begin() + i * es, bits.begin() + (i + 1) * es);
            want_idx.push_back(base + i);
          }
        std::vector<unsigned char> vals(n * es + 1, 0xAB);
        std::vector<std::uint64_t> idx(n + 1, 77);
        const std::uint64_t c = be->compact({t, bits.data(), n}, base, vals.data(), idx.data());
        ASSERT_EQ(c, want_idx.size()) << ctx(t, n, threads);
        EXPECT_TRUE(std::equal(want_vals.begin(), want_vals.end(), vals.begin())) << ctx(t, n, threads);
        EXPECT_TRUE(std::equal(want_idx.begin(), want_idx.end(), idx.begin())) << ctx(t, n, threads);
        EXPECT_EQ(vals[c * es], 0xAB) << "wrote past the survivors " << ctx(t, n, threads);
        EXPECT_EQ(idx[c], 77u) << "wrote past the survivors " << ctx(t, n, threads);
        // values only, indices only
        EXPECT_EQ(be->compact({t, bits.data(), n}, 0, vals.data(), nullptr), c) << ctx(t, n, threads);
        EXPECT_EQ(be->compact({t, bits.data(), n}, 0, nullptr, idx.data()), c) << ctx(t, n, threads);
        if (c) EXPECT_EQ(idx[c - 1], want_idx.back() - base) << ctx(t, n, threads);
      }
}

TEST(Compaction, SurvivorMaskEveryOffsetLsbFirst) {
  for (int threads : {1, 2})
    for (DType t : kTypes)
      for (std::size_t n : kSizes) {
        auto be = make_cpu_backend(threads);
        const auto bits = make_bits(t, n, kSeed * 5 + n);
        for (unsigned off = 0; off < 8; ++off) {
          const std::size_t bytes = (off + n + 7) / 8;
          std::vector<std::uint8_t> got(bytes + 1, 0xFF);
          got[0] = 0xFF;  // bits below off must survive
          std::vector<std::uint8_t> want(bytes + 1, 0);
          want[bytes] = 0xFF;
          if (n == 0) want[0] = 0xFF;
          else want[0] = static_cast<std::uint8_t>(0xFFu & ((1u << off) - 1u));
          for (std::size_t i = 0; i < n; ++i)
            if (survives(t, bits, i)) want[(off + i) / 8] |= static_cast<std::uint8_t>(1u << ((off + i) % 8));
          be->survivor_mask({t, bits.data(), n}, off, got.data());
          EXPECT_EQ(got, want) << ctx(t, n, threads) << " bit_offset=" << off;
        }
      }
}

namespace {

// N:M reference: element j of a group is kept iff fewer than N group members rank above it,
// where a member ranks above j when its magnitude is larger, or equal with a lower index.
void nm_reference(DType t, std::vector<unsigned char>& bytes, std::size_t n, unsigned keep, unsigned m,
                  std::vector<std::uint8_t>& positions, std::vector<unsigned char>& kept) {
  const std::size_t es = dtype_size(t);
  const KeyWidth w = native_key_width(t);
  std::vector<unsigned char> out = bytes;
  for (std::size_t g = 0; g < n / m; ++g) {
    for (unsigned j = 0; j < m; ++j) {
      const std::uint64_t kj = element_key(t, w, bytes.data(), g * m + j);
      unsigned above = 0;
      for (unsigned q = 0; q < m; ++q) {
        const std::uint64_t kq = element_key(t, w, bytes.data(), g * m + q);
        above += kq > kj || (kq == kj && q < j);
      }
      if (above < keep) {
        positions.push_back(static_cast<std::uint8_t>(j));
        kept.insert(kept.end(), bytes.begin() + (g * m + j) * es, bytes.begin() + (g * m + j + 1) * es);
      } else {
        std::memset(&out[(g * m + j) * es], 0, es);
      }
    }
  }
  bytes = out;
}

}  // namespace

TEST(Compaction, NmMatchesRankReferenceWithTies) {
  struct Case { unsigned keep, m; };
  for (int threads : {1, 2})
    for (DType t : kTypes)
      for (Case c : {Case{2, 4}, Case{1, 4}, Case{4, 8}, Case{3, 3}, Case{1, 1}, Case{5, 16}, Case{100, 256}})
        for (std::size_t groups : {std::size_t{0}, std::size_t{1}, std::size_t{63}, std::size_t{4097}}) {
          if (groups * c.m * c.m > 20000000u) continue;  // the O(M^2) reference would dominate the run
          const std::size_t n = groups * c.m;
          std::mt19937_64 rng(kSeed + n + c.m);
          const std::size_t es = dtype_size(t);
          std::vector<unsigned char> bytes(n * es);
          for (std::size_t i = 0; i < n; ++i) {
            // few distinct magnitudes with both signs and -0.0: many ties inside groups
            const double vals[] = {0.0, -0.0, 0.5, -0.5, 1.0, -1.0, 0.25, INFINITY};
            const double v = vals[rng() % 8];
            if (t == DType::f64) std::memcpy(&bytes[i * 8], &v, 8);
            else if (t == DType::f32) {
              const float f = static_cast<float>(v);
              std::memcpy(&bytes[i * 4], &f, 4);
            } else {
              const std::uint16_t h[] = {0x0000, 0x8000, 0x3800, 0xB800, 0x3C00, 0xBC00, 0x3400, 0x7C00};
              std::memcpy(&bytes[i * 2], &h[rng() % 8], 2);
            }
          }
          std::vector<unsigned char> want = bytes;
          std::vector<std::uint8_t> want_pos;
          std::vector<unsigned char> want_kept;
          nm_reference(t, want, n, c.keep, c.m, want_pos, want_kept);
          auto be = make_cpu_backend(threads);
          std::vector<std::uint8_t> pos(n / c.m * c.keep);
          std::vector<unsigned char> kept(pos.size() * es);
          const NmResult r = be->nm_apply({t, bytes.data(), n}, c.keep, c.m, 1, pos.data(), kept.data());
          const std::string where = ctx(t, n, threads) + " N:M=" + std::to_string(c.keep) + ":" + std::to_string(c.m);
          EXPECT_EQ(bytes, want) << where;
          EXPECT_EQ(pos, want_pos) << where;
          EXPECT_EQ(kept, want_kept) << where;
          EXPECT_EQ(r.pruned, groups * (c.m - c.keep)) << where;
          // Selecting again on the pruned tensor keeps the same positions and changes nothing.
          std::vector<std::uint8_t> pos2(pos.size());
          be->nm_apply({t, bytes.data(), n}, c.keep, c.m, 1, pos2.data(), nullptr);
          EXPECT_EQ(pos2, pos) << where << " (second pass)";
          EXPECT_EQ(bytes, want) << where << " (second pass)";
        }
}

TEST(Compaction, NmRejectsBadGroups) {
  auto be = make_cpu_backend(1);
  std::vector<float> x(12, 1.0f);
  EXPECT_THROW(be->nm_apply({DType::f32, x.data(), 10}, 2, 4, 1, nullptr, nullptr), std::invalid_argument);
  EXPECT_THROW(be->nm_apply({DType::f32, x.data(), 12}, 5, 4, 1, nullptr, nullptr), std::invalid_argument);
  EXPECT_THROW(be->nm_apply({DType::f32, x.data(), 12}, 0, 4, 1, nullptr, nullptr), std::invalid_argument);
  EXPECT_THROW(be->nm_apply({DType::f32, x.data(), 0}, 1, 257, 1, nullptr, nullptr), std::invalid_argument);
  EXPECT_THROW(be->nm_apply({DType::f32, x.data(), 12}, 2, 4, 0, nullptr, nullptr), std::invalid_argument);
  EXPECT_THROW(be->nm_apply({DType::f32, x.data(), 12}, 2, 4, 2, nullptr, nullptr), std::invalid_argument);  // 12 % 8
}

// Strided groups (an axis other than the last): gather each run's groups into consecutive
// order, run the consecutive reference, scatter back; positions and kept come out group by group.
TEST(Compaction, NmStridedMatchesGatheredReference) {
  struct Case { unsigned keep, m; std::size_t stride, runs; };
  for (int threads : {1, 2})
    for (DType t : kTypes)
      for (Case c : {Case{2, 4, 3, 5}, Case{1, 4, 64, 70}, Case{3, 8, 7, 1}, Case{2, 4, 16384, 3}, Case{1, 2, 1, 9},
                     Case{2, 4, 5, 0}}) {
        const std::size_t es = dtype_size(t), run = c.m * c.stride, n = run * c.runs;
        std::mt19937_64 rng(kSeed + n + c.stride);
        std::vector<unsigned char> bytes(n * es);
        const std::uint16_t h[] = {0x0000, 0x8000, 0x3800, 0xB800, 0x3C00, 0xBC00, 0x3400, 0x7C00};
        const double vals[] = {0.0, -0.0, 0.5, -0.5, 1.0, -1.0, 0.25, INFINITY};
        for (std::size_t i = 0; i < n; ++i) {
          const unsigned pick = static_cast<unsigned>(rng() % 8);
          if (t == DType::f64) std::memcpy(&bytes[i * 8], &vals[pick], 8);
          else if (t == DType::f32) {
            const float f = static_cast<float>(vals[pick]);
            std::memcpy(&bytes[i * 4], &f, 4);
          } else {
            std::memcpy(&bytes[i * 2], &h[pick], 2);
          }
        }
        // element (r, j, i) of the run layout -> consecutive group r * stride + i, member j
        auto gathered_index = [&](std::size_t e) {
          const std::size_t r = e / run, j = e % run / c.stride, i = e % c.stride;
          return (r * c.stride + i) * c.m + j;
        };
        std::vector<unsigned char> gathered(n * es);
        for (std::size_t e = 0; e < n; ++e) std::memcpy(&gathered[gathered_index(e) * es], &bytes[e * es], es);
        std::vector<std::uint8_t> want_pos;
        std::vector<unsigned char> want_kept;
        nm_reference(t, gathered, n, c.keep, c.m, want_pos, want_kept);
        std::vector<unsigned char> want(n * es);
        for (std::size_t e = 0; e < n; ++e) std::memcpy(&want[e * es], &gathered[gathered_index(e) * es], es);
        auto be = make_cpu_backend(threads);
        std::vector<std::uint8_t> pos(n / c.m * c.keep);
        std::vector<unsigned char> kept(pos.size() * es);
        const NmResult r = be->nm_apply({t, bytes.data(), n}, c.keep, c.m, c.stride, pos.data(), kept.data());
        const std::string where = ctx(t, n, threads) + " N:M=" + std::to_string(c.keep) + ":" + std::to_string(c.m) +
                                  " stride=" + std::to_string(c.stride);
        EXPECT_EQ(bytes, want) << where;
        EXPECT_EQ(pos, want_pos) << where;
        EXPECT_EQ(kept, want_kept) << where;
        std::uint64_t zeros = 0;
        for (std::size_t e = 0; e < n; ++e) zeros += element_key(t, native_key_width(t), want.data(), e) == 0;
        EXPECT_EQ(r.zeros_after, zeros) << where;
        EXPECT_EQ(r.pruned, n / c.m * (c.m - c.keep)) << where;
      }
}
