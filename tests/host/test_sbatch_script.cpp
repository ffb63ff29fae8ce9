// The sweep's sbatch script without the CLI: every value checked or quoted for its context.
#include <gtest/gtest.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/errors.hpp"
#include "host/sbatch_script.hpp"

using namespace h5p;

namespace {

SbatchSpec base() {
  SbatchSpec s;
  s.h5prune = "/opt/h5prune/bin/h5prune";
  s.input = "/data/model.h5";
  s.list_option = "--sparsity";
  s.list = "0.5:0.9:0.1";
  s.values = {"0.5", "0.6", "0.7", "0.8", "0.9"};
  s.registry = "/shared/registry";
  s.model = "bert";
  s.log_dir = "/shared/logs";
  s.chdir = "/home/u";
  s.generated_by = "h5prune test";
  return s;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

bool has_line(const std::string& text, const std::string& line) {
  for (const auto& l : lines(text))
    if (l == line) return true;
  return false;
}

// What bash makes of a word: the independent check of shell_word.
std::string through_sh(const std::string& word) {
  const std::string cmd = "/bin/sh -c " + shell_word("printf %s " + word);
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[256];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  ::pclose(p);
  return out;
}

}  // namespace

TEST(SbatchScript, RendersTheArrayAndTheDirectives) {
  SbatchSpec s = base();
  s.partition = "gpu";
  s.account = "proj-1";
  s.qos = "high";
  s.constraint = "a100&ib";
  s.gpus_per_task = "1";
  s.gres = "gpu:a100:1";
  s.mem = "16G";
  s.max_parallel = 2;
  const std::string t = render_sbatch(s);
  for (const char* l : {"#!/bin/bash", "#SBATCH --job-name=h5prune-sweep", "#SBATCH --array=0-4%2",
                        "#SBATCH --output=/shared/logs/h5prune-sweep_%A_%a.log", "#SBATCH --signal=B:USR1@120",
                        "#SBATCH --time=00:30:00", "#SBATCH --chdir=/home/u", "#SBATCH --partition=gpu",
                        "#SBATCH --account=proj-1", "#SBATCH --qos=high", "#SBATCH --constraint=\"a100&ib\"",
                        "#SBATCH --gpus-per-task=1", "#SBATCH --gres=gpu:a100:1", "#SBATCH --mem=16G"})
    EXPECT_TRUE(has_line(t, l)) << "missing line: " << l << "\n" << t;
  EXPECT_NE(t.find("'/opt/h5prune/bin/h5prune' sweep '/data/model.h5' --sparsity '0.5:0.9:0.1' --threads 2 "
                   "--array-task auto --materialize --registry '/shared/registry' --model 'bert' &"),
            std::string::npos)
      << t;
}

TEST(SbatchScript, PathsWithSpacesAndPercentAreQuotedForSbatch) {
  SbatchSpec s = base();
  s.log_dir = "/x/my logs/100%";
  s.chdir = "/x/work dir";
  const std::string t = render_sbatch(s);
  // sbatch reads "..." with \ escapes on #SBATCH lines; Slurm reads %% as a literal %.
  EXPECT_TRUE(has_line(t, "#SBATCH --output=\"/x/my logs/100%%/h5prune-sweep_%A_%a.log\"")) << t;
  EXPECT_TRUE(has_line(t, "#SBATCH --chdir=\"/x/work dir\"")) << t;
  s.log_dir = "/x/back\\slash";
  EXPECT_THROW(render_sbatch(s), UsageError) << "a backslash turns Slurm's %A_%a expansion off";
}

TEST(SbatchScript, SbatchWordQuotesAndEscapes) {
  EXPECT_EQ(sbatch_word("gpu", "--x"), "gpu");
  EXPECT_EQ(sbatch_word("a b", "--x"), "\"a b\"");
  EXPECT_EQ(sbatch_word("say \"hi\" \\o/", "--x"), "\"say \\\"hi\\\" \\\\o/\"");
  EXPECT_EQ(sbatch_word("#notacomment", "--x"), "\"#notacomment\"");
  EXPECT_EQ(sbatch_word("", "--x"), "\"\"");
  EXPECT_THROW(sbatch_word("a\nb", "--x"), UsageError);
}

TEST(SbatchScript, NoValueCanCarryANewline) {
  const std::string evil = "x\necho INJECTED";
  const auto refuses = [&](const char* what, auto change) {
    SbatchSpec s = base();
    change(s);
    try {
      render_sbatch(s);
      ADD_FAILURE() << what << " with a newline was accepted";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("newline"), std::string::npos) << what << ": " << e.what();
    }
  };
  refuses("--job-name", [&](SbatchSpec& s) { s.job_name = evil; });
  refuses("--partition", [&](SbatchSpec& s) { s.partition = evil; });
  refuses("--account", [&](SbatchSpec& s) { s.account = evil; });
  refuses("--qos", [&](SbatchSpec& s) { s.qos = evil; });
  refuses("--constraint", [&](SbatchSpec& s) { s.constraint = evil; });
  refuses("--time", [&](SbatchSpec& s) { s.time = "01:00:00\necho INJECTED"; });
  refuses("--mem", [&](SbatchSpec& s) { s.mem = evil; });
  refuses("--gres", [&](SbatchSpec& s) { s.gres = evil; });
  refuses("--gpus", [&](SbatchSpec& s) { s.gpus = evil; });
  refuses("--gpus-per-task", [&](SbatchSpec& s) { s.gpus_per_task = evil; });
  refuses("--log-dir", [&](SbatchSpec& s) { s.log_dir = "/x/" + evil; });
  refuses("--chdir", [&](SbatchSpec& s) { s.chdir = "/x/" + evil; });
  refuses("--sbatch-option", [&](SbatchSpec& s) { s.sbatch_options = {"--comment=" + evil}; });
  refuses("--setup", [&](SbatchSpec& s) { s.setup = {"module load cuda\nrm -rf /"}; });
  refuses("--model", [&](SbatchSpec& s) { s.model = evil; });
  refuses("--include", [&](SbatchSpec& s) { s.include = evil; });
}

TEST(SbatchScript, SlurmNamesAreChecked) {
  SbatchSpec s = base();
  s.partition = "gpu debug";
  EXPECT_THROW(render_sbatch(s), UsageError);
  s.partition = "gpu,debug";
  EXPECT_NO_THROW(render_sbatch(s));
  s.account = "a;b";
  EXPECT_THROW(render_sbatch(s), UsageError);
  s = base();
  s.mem = "16 G";
  EXPECT_THROW(render_sbatch(s), UsageError);
  s = base();
  s.gpus = "-1";
  EXPECT_THROW(render_sbatch(s), UsageError);
  s.gpus = "h100:2";
  EXPECT_NO_THROW(render_sbatch(s));
}

TEST(SbatchScript, TimeMustExceedTheSignalLead) {
  EXPECT_EQ(slurm_time_seconds("30"), 1800);
  EXPECT_EQ(slurm_time_seconds("30:15"), 1815);
  EXPECT_EQ(slurm_time_seconds("1:00:00"), 3600);
  EXPECT_EQ(slurm_time_seconds("00:01:00"), 60);
  EXPECT_EQ(slurm_time_seconds("2-0"), 172800);
  EXPECT_EQ(slurm_time_seconds("1-2:3"), 93780);
  EXPECT_EQ(slurm_time_seconds("1-2:3:4"), 93784);
  EXPECT_EQ(slurm_time_seconds("UNLIMITED"), std::nullopt);
  for (const char* bad : {"", "1:2:3:4", "abc", "1h", "-1", "1-", "1-2-3", " 10"})
    EXPECT_THROW(slurm_time_seconds(bad), UsageError) << bad;
  SbatchSpec s = base();
  s.time = "00:01:00";  // the example: USR1@120 before a 60 s limit
  EXPECT_THROW(render_sbatch(s), UsageError);
  s.time = "00:02:00";
  EXPECT_THROW(render_sbatch(s), UsageError) << "equal to the lead";
  s.time = "00:02:01";
  EXPECT_NO_THROW(render_sbatch(s));
  s.time = "00:01:00";
  s.signal_lead_seconds = 30;
  EXPECT_TRUE(has_line(render_sbatch(s), "#SBATCH --signal=B:USR1@30"));
}

TEST(SbatchScript, PassthroughOptionsCannotOverrideTheScriptsOwn) {
  SbatchSpec s = base();
  s.sbatch_options = {"--exclusive", "--comment=two words", "--mail-type=END"};
  const std::string t = render_sbatch(s);
  EXPECT_TRUE(has_line(t, "#SBATCH --exclusive")) << t;
  EXPECT_TRUE(has_line(t, "#SBATCH --comment=\"two words\"")) << t;
  EXPECT_TRUE(has_line(t, "#SBATCH --mail-type=END")) << t;
  for (const char* owned : {"--array=0-3", "--output=/tmp/x", "--signal=B:USR1@5", "--time=1", "--wrap=ls", "-p debug",
                            "partition=x", "--chdir=/"}) {
    s.sbatch_options = {owned};
    EXPECT_THROW(render_sbatch(s), UsageError) << owned;
  }
}

TEST(SbatchScript, SetupLinesRunBeforeSetUAndBeforeH5prune) {
  SbatchSpec s = base();
  s.setup = {"module load cuda/12.4", "export X=1"};
  const auto ls = lines(render_sbatch(s));
  std::size_t module = 0, x = 0, setu = 0, run = 0;
  for (std::size_t i = 0; i < ls.size(); ++i) {
    if (ls[i] == "module load cuda/12.4") module = i;
    if (ls[i] == "export X=1") x = i;
    if (ls[i] == "set -u") setu = i;
    if (ls[i].rfind("'/opt/h5prune/bin/h5prune' sweep", 0) == 0) run = i;
  }
  EXPECT_TRUE(module && x && setu && run);
  EXPECT_LT(module, x);
  EXPECT_LT(x, setu);
  EXPECT_LT(setu, run);
}

TEST(SbatchScript, ShellWordsSurviveBash) {
  for (const std::string w : {"plain", "two words", "it's", "$(touch /tmp/pwned)", "a\"b", "`id`", "x;y|z&", "\\n", "*"})
    EXPECT_EQ(through_sh(shell_word(w)), w);
}

TEST(SbatchScript, PlanLineCarriesThePoints) {
  SbatchSpec s = base();
  s.include = "dense.*kernel";
  s.max_parallel = 3;
  std::string plan;
  for (const auto& l : lines(render_sbatch(s)))
    if (l.rfind("# h5prune-plan: ", 0) == 0) plan = l.substr(16);
  ASSERT_FALSE(plan.empty());
  const auto j = nlohmann::json::parse(plan);
  EXPECT_EQ(j["values"], nlohmann::json(s.values));
  EXPECT_EQ(j["include"], "dense.*kernel");
  EXPECT_EQ(j["registry"], "/shared/registry");
  EXPECT_EQ(j["max_parallel"], 3);
  EXPECT_TRUE(j["exclude"].is_null());
}

TEST(SbatchScript, RelativePathsAreRefused) {
  SbatchSpec s = base();
  s.log_dir = "logs";
  EXPECT_THROW(render_sbatch(s), UsageError);
  s = base();
  s.input = "model.h5";
  EXPECT_THROW(render_sbatch(s), UsageError);
}
