// Option values checked by fixed patterns: RE2 gives the same answers as the documented
// forms, and a 60,000-character value is refused or accepted without overflowing the stack
// (std::regex recursed once per character). Registry values: tests/host/test_registry.cpp.
#include <gtest/gtest.h>

#include <string>

#include "common/errors.hpp"
#include "host/fixed_regex.hpp"
#include "host/group_rules.hpp"
#include "host/rule.hpp"
#include "host/sbatch_script.hpp"

using namespace h5p;

namespace {
const std::string kLong(60000, '1');
const std::string kLongName(60000, 'a');
}  // namespace

TEST(FixedRegex, GroupsThatTookNoPartAreEmpty) {
  const FixedRegex re("(a)?(b+)(c)?");
  const auto m = re.match("bb");
  ASSERT_TRUE(m);
  ASSERT_EQ(m->size(), 3u);
  EXPECT_FALSE((*m)[0]);
  EXPECT_EQ((*m)[1].value(), "bb");
  EXPECT_FALSE((*m)[2]);
  EXPECT_FALSE(re.match("bbx")) << "the whole text must match";
  EXPECT_TRUE(re.matches_prefix("bbx"));
  EXPECT_FALSE(re.matches("xbb"));
  const auto empty = FixedRegex("(x*)").match("");
  ASSERT_TRUE(empty);
  EXPECT_EQ((*empty)[0].value(), "") << "an empty group that matched is not 'no part'";
}

TEST(FixedRegex, SixtyThousandCharacterValues) {
  EXPECT_THROW(parse_size(kLong + "G", "--memory-limit"), UsageError);
  EXPECT_THROW(parse_size(std::string(60000, 'x'), "--memory-limit"), UsageError);
  EXPECT_THROW(parse_decimal(kLong, "--sparsity"), UsageError);
  EXPECT_THROW(slurm_time_seconds(kLong), UsageError);
  Rule r;
  EXPECT_THROW(parse_nm(kLong + ":" + kLong, r), UsageError);
  EXPECT_THROW(parse_nm_axis(kLong), UsageError);
  EXPECT_THROW(parse_structured_axis(kLong), UsageError);
  const GroupRule g = parse_rule_option(kLongName + "=0.5");
  EXPECT_EQ(g.match.size(), 60000u);
}

TEST(FixedRegex, SixtyThousandCharacterSbatchValues) {
  SbatchSpec s;
  s.h5prune = "/opt/h5prune/bin/h5prune";
  s.input = "/data/model.h5";
  s.list_option = "--sparsity";
  s.list = "0.5";
  s.values = {"0.5"};
  s.log_dir = "/shared/logs";
  s.chdir = "/home/u";
  s.partition = kLongName;
  EXPECT_NO_THROW(validate_sbatch_spec(s));
  s.partition = kLongName + "$";
  EXPECT_THROW(validate_sbatch_spec(s), UsageError);
  s.partition.reset();
  s.gres = kLongName + ":1";
  EXPECT_NO_THROW(validate_sbatch_spec(s));
  s.gres.reset();
  s.sbatch_options = {"--comment=" + kLongName};
  EXPECT_NO_THROW(validate_sbatch_spec(s));
  s.sbatch_options = {"--" + kLongName + "!"};
  EXPECT_THROW(validate_sbatch_spec(s), UsageError);
}
