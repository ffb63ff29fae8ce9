// Tests of the Prometheus exposition writer: escaping, UTF-8 repair, values, rendering,
// reading a value back, and the atomic write.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>

#include "tests/support/temp_files.hpp"
#include "common/errors.hpp"
#include "formats/prometheus.hpp"

namespace fs = std::filesystem;
using namespace h5p::prom;

namespace {

using h5p::testing::read_all;
using h5p::testing::TempDir;

}  // namespace

TEST(Prometheus, EscapesLabelValues) {
  EXPECT_EQ(escape_label_value("plain"), "plain");
  EXPECT_EQ(escape_label_value("a\"b"), "a\\\"b");
  EXPECT_EQ(escape_label_value("a\\b"), "a\\\\b");
  EXPECT_EQ(escape_label_value("a\nb"), "a\\nb");
  EXPECT_EQ(escape_label_value("\\\"\n"), "\\\\\\\"\\n");
  EXPECT_EQ(escape_label_value("caf\xC3\xA9 {x}"), "caf\xC3\xA9 {x}");  // non-ASCII and braces as they are
  EXPECT_EQ(escape_label_value(""), "");
}

TEST(Prometheus, EscapesHelpButNotQuotes) {
  EXPECT_EQ(escape_help("a \"b\" c\\d\ne"), "a \"b\" c\\\\d\\ne");
}

TEST(Prometheus, RepairsInvalidUtf8) {
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(valid_utf8("abc"), "abc");
  EXPECT_EQ(valid_utf8("\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"), "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
  EXPECT_EQ(valid_utf8("a\xFF" "b"), "a" + fffd + "b");
  EXPECT_EQ(valid_utf8("\xC0\xAF"), fffd + fffd);                // overlong '/'
  EXPECT_EQ(valid_utf8("\xED\xA0\x80"), fffd + fffd + fffd);     // UTF-16 surrogate
  EXPECT_EQ(valid_utf8("\xF4\x90\x80\x80"), fffd + fffd + fffd + fffd);  // above U+10FFFF
  EXPECT_EQ(valid_utf8("x\xE2\x82"), "x" + fffd + fffd);         // truncated at the end
}

TEST(Prometheus, FormatsValues) {
  EXPECT_EQ(format_value(0.0), "0");
  EXPECT_EQ(format_value(1.0), "1");
  EXPECT_EQ(format_value(0.1), "0.1");
  EXPECT_EQ(format_value(-2.5), "-2.5");
  EXPECT_EQ(format_value(143.0), "143");
  EXPECT_EQ(format_value(std::nan("")), "NaN");
  EXPECT_EQ(format_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_value(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(format_value(1764238723.125), "1764238723.125");
}

TEST(Prometheus, FormattedValuesReadBackExactly) {
  const unsigned seed = 20261127;
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::uint64_t> bits;
  for (int i = 0; i < 100000; ++i) {
    std::uint64_t b = bits(rng);
    double v;
    std::memcpy(&v, &b, sizeof v);
    if (!std::isfinite(v)) continue;
    const std::string text = format_value(v);
    const double back = std::strtod(text.c_str(), nullptr);
    ASSERT_EQ(std::memcmp(&back, &v, sizeof v), 0) << "seed " << seed << " i " << i << " bits " << b << " text " << text;
  }
}

TEST(Prometheus, RendersHelpTypeAndSamples) {
  std::vector<Family> fs{
      {"h5p_a_seconds", "First \\ family\nline two.", "gauge",
       {{{{"model", "q\"uote"}, {"array_task", ""}}, 1.5}, {{{"model", "b\\s"}, {"array_task", "3"}}, 2}}},
      {"h5p_empty", "No samples, left out.", "gauge", {}},
      {"h5p_plain", "No labels.", "gauge", {{{}, 7}}},
  };
  EXPECT_EQ(render(fs),
            "# HELP h5p_a_seconds First \\\\ family\\nline two.\n"
            "# TYPE h5p_a_seconds gauge\n"
            "h5p_a_seconds{model=\"q\\\"uote\",array_task=\"\"} 1.5\n"
            "h5p_a_seconds{model=\"b\\\\s\",array_task=\"3\"} 2\n"
            "# HELP h5p_plain No labels.\n"
            "# TYPE h5p_plain gauge\n"
            "h5p_plain 7\n");
}

TEST(Prometheus, RenderRepairsLabelUtf8) {
  std::vector<Family> fs{{"m", "h", "gauge", {{{{"model", "a\xFFz"}}, 1}}}};
  EXPECT_EQ(render(fs), "# HELP m h\n# TYPE m gauge\nm{model=\"a\xEF\xBF\xBDz\"} 1\n");
}

TEST(Prometheus, RenderRejectsBadNamesAndDuplicates) {
  EXPECT_THROW(render({{"1abc", "h", "gauge", {{{}, 1}}}}), std::invalid_argument);
  EXPECT_THROW(render({{"a-b", "h", "gauge", {{{}, 1}}}}), std::invalid_argument);
  EXPECT_THROW(render({{"ok", "h", "gauge", {{{{"bad-label", "v"}}, 1}}}}), std::invalid_argument);
  EXPECT_THROW(render({{"ok", "h", "gauge", {{{{"__reserved", "v"}}, 1}}}}), std::invalid_argument);
  EXPECT_THROW(render({{"ok", "h", "gauge", {{{}, 1}}}, {"ok", "h", "gauge", {{{}, 2}}}}), std::invalid_argument);
  EXPECT_NO_THROW(render({{"ns:rule_name", "h", "gauge", {{{}, 1}}}}));
}

TEST(Prometheus, ReadsFirstSampleValueBack) {
  const std::string text =
      "# HELP x_y_z other\n"
      "# TYPE x_y_z gauge\n"
      "x_y_z{model=\"m\"} 5\n"
      "# HELP x_y doc\n"
      "# TYPE x_y gauge\n"
      "x_y{model=\"tricky} 9 \\\" {\",array_task=\"\"} 1764238723.5\n"
      "x_y{model=\"second\"} 3\n"
      "plain 42\n";
  EXPECT_EQ(first_sample_value(text, "x_y"), 1764238723.5);
  EXPECT_EQ(first_sample_value(text, "x_y_z"), 5.0);
  EXPECT_EQ(first_sample_value(text, "plain"), 42.0);
  EXPECT_EQ(first_sample_value(text, "x"), std::nullopt);
  EXPECT_EQ(first_sample_value(text, "missing"), std::nullopt);
  EXPECT_EQ(first_sample_value("cut{model=\"no end", "cut"), std::nullopt);
  EXPECT_EQ(first_sample_value("bad{a=\"b\"} notanumber\n", "bad"), std::nullopt);
  EXPECT_EQ(first_sample_value("", "x"), std::nullopt);
}

TEST(Prometheus, WritesAtomicallyAndReplaces) {
  TempDir d;
  const fs::path p = d.path / "h5prune_m.prom";
  write_file_atomically(p.string(), "a 1\n");
  EXPECT_EQ(read_all(p), "a 1\n");
  write_file_atomically(p.string(), "a 2\n");
  EXPECT_EQ(read_all(p), "a 2\n");
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(d.path)) names.push_back(e.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"h5prune_m.prom"}) << "a temporary was left behind";
}

TEST(Prometheus, WriteToMissingDirectoryIsAnOutputError) {
  TempDir d;
  const fs::path p = d.path / "no" / "such" / "h5prune_m.prom";
  try {
    write_file_atomically(p.string(), "a 1\n");
    FAIL() << "no error for " << p;
  } catch (const h5p::OutputError& e) {
    EXPECT_NE(std::string(e.what()).find((d.path / "no" / "such").string()), std::string::npos) << e.what();
    EXPECT_EQ(e.exit_code(), 5);
  }
}
