// Tests of what a run records for Prometheus: file names per identity, failure mapping,
// families on success and failure, and the last success carried over a failed run.
#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "tests/support/temp_files.hpp"
#include "common/errors.hpp"
#include "host/metrics.hpp"

namespace fs = std::filesystem;
using namespace h5p;

namespace {

using h5p::testing::read_all;
using h5p::testing::TempDir;

const prom::Family* find(const std::vector<prom::Family>& fs, const std::string& name) {
  for (const auto& f : fs)
    if (f.name == name) return &f;
  return nullptr;
}

std::size_t samples(const std::vector<prom::Family>& fs, const std::string& name) {
  const prom::Family* f = find(fs, name);
  return f ? f->samples.size() : 0;
}

RunMetrics finished_run() {
  RunMetrics m;
  m.model = "resnet \"50\"";
  m.start_time = 1000.25;
  m.end_time = 1010.75;
  m.requested_sparsity = 0.9;
  m.success = true;
  m.output_written = true;
  m.failure = {FailureReason::none, 0};
  m.backend = "cpu";
  m.device = "cpu (2 threads)";
  m.seconds.read = 1;
  m.seconds.compute = 2;
  m.seconds.write = 3;
  m.seconds.publish = 4;
  m.tensors = 2;
  m.parameters = 1000;
  m.pruned = 900;
  m.retained_l2 = 0.25;
  m.tensor_results = {{"/a/kernel:0", 600, 540, 500, 0.1}, {"/b/kernel:0", 400, 360, 360, 0.2}};
  return m;
}

}  // namespace

TEST(MetricsFileName, ReadableNamesStayAsTheyAre) {
  EXPECT_EQ(metrics_file_name("resnet50", ""), "h5prune_resnet50.prom");
  EXPECT_EQ(metrics_file_name("bert-base.v2", "17"), "h5prune_bert-base.v2_17.prom");
  EXPECT_EQ(metrics_file_name("m", "3"), "h5prune_m_3.prom");
}

TEST(MetricsFileName, ChangedOrAmbiguousNamesGetAHash) {
  // Expected hashes: the first 8 hex digits of sha256 of the exact name (python hashlib).
  EXPECT_EQ(metrics_file_name("a b", ""), "h5prune_a_b-c8687a08.prom");
  EXPECT_EQ(metrics_file_name("m_3", ""), "h5prune_m_3-e622a434.prom");  // not model "m", task 3
  EXPECT_EQ(metrics_file_name("caf\xC3\xA9 \"q\"\\x", "5"), "h5prune_caf_q_x-1f1dddb6_5.prom");
  EXPECT_NE(metrics_file_name("a b", ""), metrics_file_name("a/b", ""));
  EXPECT_NE(metrics_file_name("a_b", ""), metrics_file_name("a b", ""));
}

TEST(MetricsFileName, LongNamesAreBounded) {
  const std::string name(1000, 'x');
  const std::string file = metrics_file_name(name, "123456");
  EXPECT_LE(file.size(), 255u) << file;
  EXPECT_NE(file, metrics_file_name(name + "y", "123456"));
}

TEST(Metrics, ClassifiesFailuresLikeTheCli) {
  const auto c = [](auto e) { return classify_failure(std::make_exception_ptr(e)); };
  EXPECT_EQ(c(Interrupted(SIGTERM)).reason, FailureReason::sigterm);
  EXPECT_EQ(c(Interrupted(SIGTERM)).exit_code, 143);
  EXPECT_EQ(c(Interrupted(SIGINT)).exit_code, 130);
  EXPECT_EQ(c(Interrupted(SIGUSR1)).reason, FailureReason::sigusr1);
  EXPECT_EQ(c(UsageError("u")).reason, FailureReason::usage);
  EXPECT_EQ(c(InputError("i")).exit_code, 3);
  EXPECT_EQ(c(DataError("nan")).reason, FailureReason::data);
  EXPECT_EQ(c(DataError("nan")).exit_code, 4);
  EXPECT_EQ(c(OutputError("o")).reason, FailureReason::output);
  EXPECT_EQ(c(std::runtime_error("x")).reason, FailureReason::internal);
  EXPECT_EQ(c(std::runtime_error("x")).exit_code, 1);
  EXPECT_STREQ(failure_reason_name(FailureReason::sigterm), "sigterm");
}

TEST(Metrics, SuccessfulRunFamilies) {
  RunMetrics m = finished_run();
  auto fs = run_families(m, std::nullopt);
  std::set<std::string> names;
  for (const auto& f : fs) {
    EXPECT_TRUE(names.insert(f.name).second) << f.name;
    EXPECT_EQ(f.type, "gauge") << f.name;
    EXPECT_FALSE(f.help.empty()) << f.name;
    for (const auto& s : f.samples) {
      ASSERT_GE(s.labels.size(), 2u) << f.name;
      EXPECT_EQ(s.labels[0], (std::pair<std::string, std::string>{"model", "resnet \"50\""})) << f.name;
      EXPECT_EQ(s.labels[1].first, "array_task") << f.name;
    }
  }
  EXPECT_EQ(find(fs, "h5prune_last_run_success")->samples.at(0).value, 1);
  EXPECT_EQ(find(fs, "h5prune_last_success_timestamp_seconds")->samples.at(0).value, 1010.75);
  EXPECT_EQ(find(fs, "h5prune_last_run_sparsity_ratio")->samples.at(0).value, 0.9);
  EXPECT_EQ(find(fs, "h5prune_last_run_retained_l2_ratio")->samples.at(0).value, 0.25);
  EXPECT_EQ(samples(fs, "h5prune_expected_interval_seconds"), 0u) << "a one-off run makes no promise";
  for (const auto& f : fs)
    if (f.name.find("sparsity") != std::string::npos || f.name.find("l2") != std::string::npos)
      EXPECT_EQ(f.name.substr(f.name.size() - 6), "_ratio") << f.name << ": ratios are named _ratio";
  EXPECT_EQ(samples(fs, "h5prune_last_run_failure_info"), 0u);
  EXPECT_EQ(samples(fs, "h5prune_last_run_threshold"), 0u);
  EXPECT_EQ(samples(fs, "h5prune_last_run_registry_version"), 0u);
  EXPECT_EQ(samples(fs, "h5prune_last_run_tensor_sparsity_ratio"), 0u) << "per-tensor series without the flag";
  std::map<std::string, double> stages;
  for (const auto& s : find(fs, "h5prune_last_run_duration_seconds")->samples) stages[s.labels.at(2).second] = s.value;
  EXPECT_EQ(stages, (std::map<std::string, double>{
                        {"read", 1}, {"compute", 2}, {"write", 3}, {"publish", 4}, {"total", 10.5}}));

  m.per_tensor = true;
  m.registry_version = 7;
  m.expected_interval_seconds = 93600;
  fs = run_families(m, std::nullopt);
  EXPECT_EQ(find(fs, "h5prune_expected_interval_seconds")->samples.at(0).value, 93600);
  EXPECT_EQ(samples(fs, "h5prune_last_run_tensor_sparsity_ratio"), 2u);
  EXPECT_EQ(find(fs, "h5prune_last_run_tensor_sparsity_ratio")->samples.at(1).value, 0.9);
  EXPECT_EQ(find(fs, "h5prune_last_run_tensor_threshold")->samples.at(0).labels.at(2),
            (std::pair<std::string, std::string>{"tensor", "/a/kernel:0"}));
  EXPECT_EQ(find(fs, "h5prune_last_run_registry_version")->samples.at(0).value, 7);
}

TEST(Metrics, FailedRunFamilies) {
  RunMetrics m;
  m.model = "m";
  m.array_task = "4";
  m.start_time = 50;
  m.end_time = 52;
  m.threshold = 0.01;
  m.failure = {FailureReason::data, 4};
  m.per_tensor = true;
  auto fs = run_families(m, 40.0);
  EXPECT_EQ(find(fs, "h5prune_last_run_success")->samples.at(0).value, 0);
  EXPECT_EQ(find(fs, "h5prune_last_run_exit_code")->samples.at(0).value, 4);
  EXPECT_EQ(find(fs, "h5prune_last_success_timestamp_seconds")->samples.at(0).value, 40.0);
  const auto& reason = find(fs, "h5prune_last_run_failure_info")->samples.at(0).labels;
  EXPECT_EQ(reason.at(2), (std::pair<std::string, std::string>{"reason", "data"}));
  EXPECT_EQ(find(fs, "h5prune_last_run_threshold")->samples.at(0).value, 0.01);
  for (const char* absent : {"h5prune_last_run_sparsity_ratio", "h5prune_last_run_parameters", "h5prune_last_run_read_bytes",
                             "h5prune_last_run_tensor_sparsity_ratio", "h5prune_last_run_requested_sparsity_ratio"})
    EXPECT_EQ(samples(fs, absent), 0u) << absent;
  EXPECT_EQ(samples(fs, "h5prune_last_run_duration_seconds"), 1u);  // total only
  EXPECT_EQ(samples(run_families(m, std::nullopt), "h5prune_last_success_timestamp_seconds"), 0u);
}

TEST(Metrics, FailedRunKeepsThePreviousLastSuccess) {
  TempDir d;
  RunMetrics ok = finished_run();
  ok.model = "keep";
  const std::string path = write_run_metrics(d.path.string(), ok);
  EXPECT_EQ(path, (d.path / "h5prune_keep.prom").string());
  EXPECT_EQ(prom::first_sample_value(read_all(path), "h5prune_last_success_timestamp_seconds"), 1010.75);

  RunMetrics bad;
  bad.model = "keep";
  bad.start_time = 2000;
  bad.end_time = 2001;
  bad.failure = {FailureReason::sigterm, 143};
  for (int i = 0; i < 2; ++i) {  // and again after a failure
    write_run_metrics(d.path.string(), bad);
    const std::string text = read_all(path);
    EXPECT_EQ(prom::first_sample_value(text, "h5prune_last_success_timestamp_seconds"), 1010.75) << text;
    EXPECT_EQ(prom::first_sample_value(text, "h5prune_last_run_success"), 0.0) << text;
    EXPECT_NE(text.find("reason=\"sigterm\""), std::string::npos) << text;
  }
  // Another identity in the same directory has its own file and no success yet.
  bad.model = "other";
  const std::string other = write_run_metrics(d.path.string(), bad);
  EXPECT_EQ(prom::first_sample_value(read_all(other), "h5prune_last_success_timestamp_seconds"), std::nullopt);
}

TEST(Metrics, MetricsDirectoryChecks) {
  TempDir d;
  EXPECT_NO_THROW(check_metrics_dir(d.path.string()));
  EXPECT_THROW(check_metrics_dir((d.path / "missing").string()), OutputError);
  std::ofstream((d.path / "file").string()) << "x";
  EXPECT_THROW(check_metrics_dir((d.path / "file").string()), OutputError);
  EXPECT_THROW(check_metrics_dir(""), OutputError);
}

// --eval: the evaluation families, and an evaluation failure that keeps the output's families.
TEST(Metrics, EvaluationFamilies) {
  RunMetrics m = finished_run();
  EXPECT_EQ(find(run_families(m, std::nullopt), "h5prune_eval_value"), nullptr) << "no --eval, no eval families";
  m.registry_version = 4;
  m.output_written = true;
  m.eval = RunMetrics::Eval{true, 2.5, {{"accuracy", 0.97}, {"loss", 0.1}}, {{"accuracy", 0.98}}};
  auto fs = run_families(m, std::nullopt);
  EXPECT_EQ(find(fs, "h5prune_eval_success")->samples.at(0).value, 1);
  EXPECT_EQ(find(fs, "h5prune_eval_duration_seconds")->samples.at(0).value, 2.5);
  const auto& v = find(fs, "h5prune_eval_value")->samples;
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].labels.at(2), (std::pair<std::string, std::string>{"version", "4"}));
  EXPECT_EQ(v[0].labels.at(3), (std::pair<std::string, std::string>{"metric", "accuracy"}));
  EXPECT_EQ(v[0].value, 0.97);
  EXPECT_EQ(find(fs, "h5prune_eval_baseline_value")->samples.at(0).value, 0.98);

  m.eval = RunMetrics::Eval{false, 1.0, {}, {{"accuracy", 0.98}}};
  record_eval_failure(m);
  fs = run_families(m, std::nullopt);
  EXPECT_EQ(find(fs, "h5prune_last_run_success")->samples.at(0).value, 0);
  EXPECT_EQ(find(fs, "h5prune_last_run_exit_code")->samples.at(0).value, 8);
  EXPECT_EQ(find(fs, "h5prune_last_run_failure_info")->samples.at(0).labels.at(2).second, "evaluation");
  EXPECT_EQ(find(fs, "h5prune_eval_success")->samples.at(0).value, 0);
  EXPECT_EQ(samples(fs, "h5prune_eval_value"), 0u);
  EXPECT_EQ(find(fs, "h5prune_last_run_sparsity_ratio")->samples.at(0).value, 0.9) << "the output was written";
}
