// Registry building blocks: names and references, canonical rules, manifest round trip and
// damage, lock-free publish under contention (threads), aliases, blob store, verify and gc.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "common/errors.hpp"
#include "formats/manifest.hpp"
#include "formats/sha256.hpp"
#include "host/canonical_rule.hpp"
#include "host/registry/aliases.hpp"
#include "host/registry/blob_store.hpp"
#include "host/registry/fs_ops.hpp"
#include "host/registry/layout.hpp"
#include "host/registry/maintenance.hpp"
#include "host/registry/version_query.hpp"
#include "host/registry/versions.hpp"

namespace h5p::registry {
namespace {

// A fresh registry in a temporary directory, removed afterwards.
class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/h5p_registry_test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  Layout layout() { return Layout::create(dir_ + "/reg"); }

  // Writes `content` as a blob and returns its sha256.
  std::string put_blob(const Layout& l, const std::string& content) {
    const std::string staged = l.staging() + "/blob." + unique_token();
    std::ofstream(staged, std::ios::binary) << content;
    const std::string sha = sha256_bytes(content.data(), content.size());
    store_blob(l, staged, sha, content.size());
    ::unlink(staged.c_str());
    return sha;
  }

  Manifest manifest(const std::string& model, const std::string& key, const std::string& sha, std::uint64_t bytes) {
    Manifest m;
    m.model = model;
    m.key = key;
    m.publish_id = unique_token();
    m.created = m.finished = iso8601_utc(now_seconds());
    m.output_sha256 = sha;
    m.output_bytes = bytes;
    m.parent_sha256 = std::string(64, 'a');
    m.parent_bytes = 10;
    m.parent_path = "in.h5";
    m.rule = {{"mode", "sparsity"}, {"sparsity", "0.5"}};
    TensorResult t;
    t.path = "/w";
    t.dtype = DType::f32;
    t.shape = {2, 3};
    t.n = 6;
    t.pruned = 3;
    t.requested_sparsity = 0.5;
    t.threshold = 0.25;
    t.sum_sq_before = 4;
    t.sum_sq_after = 1;
    m.tensors.push_back(t);
    m.total.n = 6;
    m.total.pruned = 3;
    m.total.sum_sq_before = 4;
    m.total.sum_sq_after = 1;
    m.tool_version = "0.1.0";
    m.tool_git = "abc";
    m.backend = m.device = "cpu";
    m.threads = 1;
    m.host = "h";
    m.user = "u";
    m.slurm_array_task_id = "7";
    m.command = {"h5prune", "prune"};
    return m;
  }

  Published publish(const Layout& l, const Manifest& m) {
    return publish_version(l, m, l.staging() + "/" + unique_token());
  }

  std::string dir_;
};

TEST(RegistryNames, ValidAndInvalid) {
  for (const char* ok : {"m", "resnet50", "bert-base_v1.2", "A.b-c_d", "7"}) EXPECT_TRUE(valid_name(ok)) << ok;
  for (const char* bad : {"", ".", "..", "../x", "a/b", "a..b", ".hidden", "-x", "a b", "a\\b", "x\n", "é"})
    EXPECT_FALSE(valid_name(bad)) << bad;
  EXPECT_TRUE(valid_name(std::string(128, 'a')));
  EXPECT_FALSE(valid_name(std::string(129, 'a')));
  EXPECT_THROW(check_model_name("../etc"), RegistryError);
  EXPECT_THROW(check_alias_name("12"), RegistryError);
  EXPECT_THROW(check_alias_name("latest"), RegistryError);
  EXPECT_NO_THROW(check_alias_name("production"));
}

TEST(RegistryNames, ParseRef) {
  const VersionRef a = parse_ref("bert@7");
  EXPECT_EQ(a.model, "bert");
  EXPECT_EQ(a.ref, "7");
  EXPECT_EQ(parse_ref("bert").ref, "latest");
  EXPECT_EQ(parse_ref("bert@production").ref, "production");
  EXPECT_THROW(parse_ref("bert@"), RegistryError);
  EXPECT_THROW(parse_ref("../x@1"), RegistryError);
  EXPECT_THROW(parse_ref("@1"), RegistryError);
}

TEST(CanonicalRule, NormalizedDecimal) {
  const std::pair<const char*, const char*> cases[] = {
      {"0.9", "0.9"},  {"0.90", "0.9"},    {".9", "0.9"},  {"9e-1", "0.9"}, {"90E-2", "0.9"}, {"1", "1"},
      {"1.000", "1"},  {"0", "0"},         {"0.000", "0"}, {"5e-3", "0.005"}, {"0.35", "0.35"},
      {"0.0000000000000000000001", "0.0000000000000000000001"}};
  for (const auto& [in, want] : cases) EXPECT_EQ(normalized_decimal(parse_decimal(in, "--sparsity")), want) << in;
}

TEST(CanonicalRule, KeyDependsOnEveryPart) {
  const nlohmann::json r1 = {{"mode", "sparsity"}, {"sparsity", "0.90"}, {"scope", "tensor"}, {"include", nullptr}};
  nlohmann::json r2 = r1;
  r2["sparsity"] = "9e-1";
  EXPECT_EQ(canonical_rule_text(r1), canonical_rule_text(r2));
  nlohmann::json r3 = r1;
  r3["sparsity"] = "0.8";
  EXPECT_NE(canonical_rule_text(r1), canonical_rule_text(r3));
  nlohmann::json r4 = r1;
  r4["include"] = "kernel";
  EXPECT_NE(canonical_rule_text(r1), canonical_rule_text(r4));
  const std::string in(64, 'a'), in2(64, 'b');
  const std::string k = idempotency_key(in, canonical_rule_text(r1), "0.1.0");
  EXPECT_EQ(k.size(), 64u);
  EXPECT_EQ(k, idempotency_key(in, canonical_rule_text(r2), "0.1.0"));
  EXPECT_NE(k, idempotency_key(in2, canonical_rule_text(r1), "0.1.0"));
  EXPECT_NE(k, idempotency_key(in, canonical_rule_text(r1), "0.2.0"));
  EXPECT_NE(k, idempotency_key(in, canonical_rule_text(r3), "0.1.0"));
}

TEST_F(RegistryTest, ManifestRoundTripAndDamage) {
  Manifest m = manifest("bert", "k", std::string(64, 'c'), 42);
  m.version = 3;
  m.parent_model = "base";
  m.parent_version = 2;
  const Manifest back = manifest_from_json(manifest_to_json(m), "x");
  EXPECT_EQ(manifest_to_json(back), manifest_to_json(m));
  EXPECT_EQ(back.parent_version, 2);
  EXPECT_EQ(back.slurm_array_task_id, "7");
  EXPECT_FALSE(back.slurm_job_id.has_value());
  EXPECT_DOUBLE_EQ(back.tensors.at(0).retained_l2(), 0.5);

  for (const char* field : {"model", "version", "output", "tensors", "rule", "command", "schema"}) {
    nlohmann::json j = manifest_to_json(m);
    j.erase(field);
    EXPECT_THROW(manifest_from_json(j, "x"), RegistryError) << field;
  }
  nlohmann::json j = manifest_to_json(m);
  j["output"]["bytes"] = "42";
  EXPECT_THROW(manifest_from_json(j, "x"), RegistryError);
  j = manifest_to_json(m);
  j["output"]["sha256"] = "zz";
  EXPECT_THROW(manifest_from_json(j, "x"), RegistryError);
  // The manifest's tensors are the pipeline's TensorResult: the dtype must name one it knows.
  j = manifest_to_json(m);
  j["tensors"][0]["dtype"] = "int8";
  EXPECT_THROW(manifest_from_json(j, "x"), RegistryError);
  j["tensors"][0]["dtype"] = "float16";
  EXPECT_EQ(manifest_from_json(j, "x").tensors.at(0).dtype, DType::f16);

  const std::string path = dir_ + "/m.json";
  std::ofstream(path) << manifest_to_json(m).dump().substr(0, 50);
  EXPECT_THROW(read_manifest_file(path), RegistryError);
  EXPECT_THROW(read_manifest_file(dir_ + "/missing.json"), RegistryError);
}

// A structured tensor's removed slices come back as written; a list a user could not shrink
// a layer with (unsorted, out of range, kept count off) is damage.
TEST_F(RegistryTest, ManifestStructuredSlices) {
  Manifest m = manifest("bert", "k", std::string(64, 'c'), 42);
  TensorResult& t = m.tensors.at(0);
  t.norm_p = 2;
  t.axis = 1;
  t.slices = 8;
  t.removed_slices = {0, 3, 7};
  m.version = 1;
  const Manifest back = manifest_from_json(manifest_to_json(m), "x");
  EXPECT_EQ(back.tensors.at(0).removed_slices, t.removed_slices);
  EXPECT_EQ(back.tensors.at(0).norm_p, 2);
  EXPECT_EQ(manifest_to_json(back), manifest_to_json(m));
  EXPECT_EQ(manifest_from_text(manifest_text(m), "x").tensors.at(0).removed_slices, t.removed_slices);
  EXPECT_EQ(manifest_to_json(m)["tensors"][0]["structured"]["kept"], 5);
  for (const char* text : {"[3, 0]", "[0, 8]", "[3, 3]", "[-1]", "[1.5]"}) {
    const nlohmann::json bad = nlohmann::json::parse(text);  // as read from a file: unsigned numbers
    nlohmann::json j = manifest_to_json(m);
    j["tensors"][0]["structured"]["removed"] = bad;
    j["tensors"][0]["structured"]["kept"] = 8 - bad.size();
    EXPECT_THROW(manifest_from_json(j, "x"), RegistryError) << bad.dump();
  }
  nlohmann::json j = manifest_to_json(m);
  j["tensors"][0]["structured"]["kept"] = 4;
  EXPECT_THROW(manifest_from_json(j, "x"), RegistryError);
  j = manifest_to_json(m);
  j["tensors"][0]["structured"]["norm"] = "l3";
  EXPECT_THROW(manifest_from_json(j, "x"), RegistryError);
}

TEST_F(RegistryTest, OpenNeedsARegistry) {
  EXPECT_THROW(Layout::open(dir_ + "/nothing"), RegistryError);
  EXPECT_THROW(Layout::open(dir_), RegistryError);  // exists, but no marker
  layout();
  EXPECT_NO_THROW(Layout::open(dir_ + "/reg"));
  EXPECT_NO_THROW(Layout::create(dir_ + "/reg"));  // again: it is a registry
  std::ofstream(dir_ + "/notes.txt") << "mine";
  EXPECT_THROW(Layout::create(dir_), RegistryError);  // holds other files
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/objects"));
}

TEST_F(RegistryTest, PublishNumbersAndIdempotency) {
  const Layout l = layout();
  const std::string sha = put_blob(l, "hello");
  const Published p1 = publish(l, manifest("bert", "k1", sha, 5));
  EXPECT_EQ(p1.version, 1);
  EXPECT_FALSE(p1.already);
  const Published p2 = publish(l, manifest("bert", "k2", sha, 5));
  EXPECT_EQ(p2.version, 2);
  const Published again = publish(l, manifest("bert", "k1", sha, 5));
  EXPECT_EQ(again.version, 1);
  EXPECT_TRUE(again.already);
  EXPECT_EQ(list_versions(l, "bert"), (std::vector<int>{1, 2}));
  EXPECT_EQ(load_manifest(l, "bert", 2).key, "k2");
  EXPECT_EQ(find_by_key(l, "bert", "k2"), 2);
  EXPECT_FALSE(find_by_key(l, "bert", "k3").has_value());
  // No staging left behind by a successful publish.
  EXPECT_TRUE(list_dir(l, l.staging()).empty());
}

TEST_F(RegistryTest, KeyFileMatchesManifestAndIsChecked) {
  const Layout l = layout();
  const std::string sha = put_blob(l, "x");
  const std::string key(64, 'e');
  ASSERT_EQ(publish(l, manifest("m", key, sha, 1)).version, 1);
  EXPECT_EQ(read_small_file(l, l.key_path("m", 1)), key + "\n");
  EXPECT_EQ(find_by_key(l, "m", key), 1);
  EXPECT_TRUE(verify_registry(l, std::nullopt).damage.empty());
  ::chmod(l.key_path("m", 1).c_str(), 0644);
  std::ofstream(l.key_path("m", 1), std::ios::trunc) << std::string(64, 'd') << "\n";
  EXPECT_EQ(verify_registry(l, std::string("m")).damage.size(), 1u);
}

TEST_F(RegistryTest, ConcurrentPublishersGetDistinctNumbers) {
  const Layout l = layout();
  const std::string sha = put_blob(l, "content");
  constexpr int kThreads = 12;
  std::vector<int> got(kThreads, 0);
  std::vector<std::thread> threads;
  std::atomic<bool> go{false};
  for (int i = 0; i < kThreads; ++i)
    threads.emplace_back([&, i] {
      while (!go) std::this_thread::yield();
      got[i] = publish(l, manifest("m", "key" + std::to_string(i), sha, 7)).version;
    });
  go = true;
  for (auto& t : threads) t.join();
  const std::set<int> distinct(got.begin(), got.end());
  EXPECT_EQ(distinct.size(), static_cast<std::size_t>(kThreads));
  EXPECT_EQ(*distinct.begin(), 1);
  EXPECT_EQ(*distinct.rbegin(), kThreads);
  const std::vector<int> versions = list_versions(l, "m");
  ASSERT_EQ(versions.size(), static_cast<std::size_t>(kThreads));
  std::set<std::string> keys;
  for (int v : versions) keys.insert(load_manifest(l, "m", v).key);
  EXPECT_EQ(keys.size(), static_cast<std::size_t>(kThreads));
}

TEST_F(RegistryTest, ConcurrentSameKeyGivesOneVersion) {
  const Layout l = layout();
  const std::string sha = put_blob(l, "content");
  constexpr int kThreads = 8;
  std::vector<Published> got(kThreads);
  std::vector<std::thread> threads;
  std::atomic<bool> go{false};
  for (int i = 0; i < kThreads; ++i)
    threads.emplace_back([&, i] {
      while (!go) std::this_thread::yield();
      got[i] = publish(l, manifest("m", "same", sha, 7));
    });
  go = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(list_versions(l, "m"), std::vector<int>{1});
  int fresh = 0;
  for (const auto& p : got) {
    EXPECT_EQ(p.version, 1);
    fresh += p.already ? 0 : 1;
  }
  EXPECT_EQ(fresh, 1);
}

TEST_F(RegistryTest, ResolveAndAliases) {
  const Layout l = layout();
  const std::string a = put_blob(l, "aaa"), b = put_blob(l, "bbb");
  publish(l, manifest("m", "k1", a, 3));
  publish(l, manifest("m", "k2", b, 3));
  publish(l, manifest("m", "k3", b, 3));  // same output as 2: a prefix of b is ambiguous
  EXPECT_EQ(resolve(l, parse_ref("m@latest")), 3);
  EXPECT_EQ(resolve(l, parse_ref("m")), 3);
  EXPECT_EQ(resolve(l, parse_ref("m@2")), 2);
  EXPECT_EQ(resolve(l, parse_ref("m@" + a.substr(0, 8))), 1);
  EXPECT_EQ(resolve(l, parse_ref("m@sha256:" + a.substr(0, 2))), 1);
  EXPECT_THROW(resolve(l, parse_ref("m@" + b.substr(0, 8))), RegistryError);
  EXPECT_THROW(resolve(l, parse_ref("m@9")), RegistryError);
  EXPECT_THROW(resolve(l, parse_ref("other@1")), RegistryError);
  EXPECT_THROW(resolve(l, parse_ref("m@nosuchalias")), RegistryError);

  set_alias(l, "m", "production", 2);
  EXPECT_EQ(resolve(l, parse_ref("m@production")), 2);
  set_alias(l, "m", "production", 1);
  EXPECT_EQ(read_alias(l, "m", "production"), 1);
  set_alias(l, "m", "staging", 3);
  EXPECT_EQ(list_aliases(l, "m"), (std::map<std::string, int>{{"production", 1}, {"staging", 3}}));
  EXPECT_THROW(set_alias(l, "m", "production", 9), RegistryError);
  delete_alias(l, "m", "production");
  EXPECT_FALSE(read_alias(l, "m", "production").has_value());
  EXPECT_THROW(delete_alias(l, "m", "production"), RegistryError);
}

TEST_F(RegistryTest, BlobsAreDeduplicatedReadOnlyAndChecked) {
  const Layout l = layout();
  const std::string sha = put_blob(l, "payload");
  EXPECT_EQ(put_blob(l, "payload"), sha);
  struct stat st {};
  ASSERT_EQ(::stat(l.blob_path(sha).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0222, 0u) << "blobs are read-only";
  EXPECT_EQ(l.blob_path(sha), l.objects() + "/" + sha.substr(0, 2) + "/" + sha.substr(2));

  const std::string out = dir_ + "/copy";
  copy_blob_verified(l, sha, 7, out);
  EXPECT_EQ(sha256_file(out), sha);
  EXPECT_EQ(check_blob(l, sha, 7), "");
  EXPECT_NE(check_blob(l, sha, 8), "");

  ::chmod(l.blob_path(sha).c_str(), 0644);
  {
    std::fstream f(l.blob_path(sha), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(3);
    f.put('X');
  }
  EXPECT_THROW(copy_blob_verified(l, sha, 7, out + "2"), RegistryError);
  EXPECT_NE(check_blob(l, sha, 7), "");
  EXPECT_EQ(check_blob(l, std::string(64, 'f'), 1), "missing");
  // Storing the same content again replaces the damaged copy.
  EXPECT_EQ(put_blob(l, "payload"), sha);
  EXPECT_EQ(check_blob(l, sha, 7), "");
}

TEST_F(RegistryTest, VerifyFindsDamageAndGcKeepsReferences) {
  const Layout l = layout();
  const std::string used = put_blob(l, "used"), unused = put_blob(l, "unused");
  publish(l, manifest("m", "k1", used, 4));
  set_alias(l, "m", "prod", 1);
  VerifyReport r = verify_registry(l, std::nullopt);
  EXPECT_TRUE(r.damage.empty());
  EXPECT_EQ(r.versions, 1);
  EXPECT_EQ(r.blobs, 2);
  EXPECT_EQ(r.leftovers.size(), 1u);  // the unreferenced blob

  // Young garbage survives the grace period; with grace 0 it goes, references stay.
  GcReport g = collect_garbage(l, 3600, false);
  EXPECT_TRUE(g.removed.empty());
  EXPECT_TRUE(exists(l, l.blob_path(unused)));
  make_dir(l, l.staging() + "/abandoned");
  g = collect_garbage(l, 0, /*dry_run=*/true);
  EXPECT_EQ(g.removed.size(), 2u);
  EXPECT_TRUE(exists(l, l.blob_path(unused)));
  g = collect_garbage(l, 0, false);
  EXPECT_EQ(g.removed.size(), 2u);
  EXPECT_FALSE(exists(l, l.blob_path(unused)));
  EXPECT_FALSE(exists(l, l.staging() + "/abandoned"));
  EXPECT_TRUE(exists(l, l.blob_path(used)));
  EXPECT_TRUE(verify_registry(l, std::nullopt).damage.empty());

  // A manifest that does not parse is damage, and then gc removes no blob at all.
  const std::string orphan = put_blob(l, "orphan");
  const std::string mpath = l.manifest_path("m", 1);
  ::chmod(mpath.c_str(), 0644);
  std::ofstream(mpath, std::ios::trunc) << "{";
  r = verify_registry(l, std::string("m"));
  ASSERT_EQ(r.damage.size(), 1u);
  EXPECT_EQ(r.damage[0].path, mpath);
  g = collect_garbage(l, 0, false);
  EXPECT_TRUE(g.blobs_skipped);
  EXPECT_TRUE(exists(l, l.blob_path(orphan)));
}

// Links planted in a shared registry are never followed: listing, reading, writing and
// removing stop at them, and gc keeps them (and their targets) as they are.
TEST_F(RegistryTest, PlantedLinksAreNeverFollowed) {
  const Layout l = layout();
  const std::string victim = dir_ + "/victim";
  ::mkdir(victim.c_str(), 0755);
  std::ofstream(victim + "/notes.txt") << "mine";
  const std::string sha = put_blob(l, "x");
  publish(l, manifest("m", std::string(64, 'e'), sha, 1));

  // A link in place of a two-digit blob directory, of a blob, of a staging area.
  ASSERT_EQ(::symlink(victim.c_str(), (l.objects() + "/ab").c_str()), 0);
  const std::string fake_blob = l.blob_dir(sha) + "/" + std::string(62, 'c');
  ASSERT_EQ(::symlink((victim + "/notes.txt").c_str(), fake_blob.c_str()), 0);
  ASSERT_EQ(::symlink(victim.c_str(), (l.staging() + "/evil").c_str()), 0);
  EXPECT_EQ(entry_kind(l, l.objects() + "/ab"), EntryKind::symlink);
  EXPECT_EQ(entry_kind(l, l.objects() + "/ab/notes.txt"), EntryKind::blocked);
  EXPECT_THROW(list_dir(l, l.objects() + "/ab"), RegistryError);
  EXPECT_THROW(read_small_file(l, fake_blob), RegistryError);
  EXPECT_THROW(remove_entry(l, fake_blob), RegistryError);
  EXPECT_THROW(remove_entry(l, l.objects() + "/ab/notes.txt"), RegistryError);

  const GcReport g = collect_garbage(l, 0, false);
  for (const auto& r : g.removed) EXPECT_EQ(r.path.find("evil"), std::string::npos) << r.path;
  EXPECT_TRUE(std::filesystem::exists(victim + "/notes.txt"));
  EXPECT_TRUE(std::filesystem::is_symlink(l.objects() + "/ab"));
  EXPECT_TRUE(std::filesystem::is_symlink(fake_blob));
  EXPECT_TRUE(std::filesystem::is_symlink(l.staging() + "/evil"));
  EXPECT_EQ(g.left_alone.size(), 3u);
  // verify reports them as damage.
  EXPECT_GE(verify_registry(l, std::nullopt).damage.size(), 3u);

  // A link in place of a model's aliases directory: alias writes and deletes refuse it.
  ASSERT_EQ(::rmdir(l.aliases_dir("m").c_str()), 0);
  ASSERT_EQ(::symlink(victim.c_str(), l.aliases_dir("m").c_str()), 0);
  EXPECT_THROW(set_alias(l, "m", "notes.txt", 1), RegistryError);
  EXPECT_THROW(delete_alias(l, "m", "notes.txt"), RegistryError);
  EXPECT_EQ(std::filesystem::file_size(victim + "/notes.txt"), 4u);
}

TEST_F(RegistryTest, OnlyAFreshOrMarkedDirectoryBecomesARegistry) {
  const std::string d = dir_ + "/looks_like_one";
  std::filesystem::create_directories(d + "/staging");
  std::ofstream(d + "/staging/notes.txt") << "mine";
  EXPECT_THROW(Layout::create(d), RegistryError);
  EXPECT_TRUE(std::filesystem::exists(d + "/staging/notes.txt"));
  EXPECT_FALSE(std::filesystem::exists(d + "/h5prune-registry.json"));
  // What concurrent creators leave before the marker appears is adopted.
  const std::string e = dir_ + "/half_made";
  std::filesystem::create_directories(e + "/objects/sha256");
  std::filesystem::create_directories(e + "/models");
  EXPECT_NO_THROW(Layout::create(e));
  EXPECT_NO_THROW(Layout::open(e));
  // A marker with other contents is not this format.
  const std::string f = dir_ + "/other_format";
  Layout::create(f);
  ::chmod((f + "/h5prune-registry.json").c_str(), 0644);
  std::ofstream(f + "/h5prune-registry.json", std::ios::trunc) << "{\"format\": \"h5prune-registry\", \"layout\": 2}\n";
  EXPECT_THROW(Layout::open(f), RegistryError);
  // The marker as a link is refused too.
  const std::string g = dir_ + "/linked_marker";
  std::filesystem::create_directories(g);
  ASSERT_EQ(::symlink((e + "/h5prune-registry.json").c_str(), (g + "/h5prune-registry.json").c_str()), 0);
  EXPECT_THROW(Layout::open(g), RegistryError);
}

TEST_F(RegistryTest, ReadingAFifoDoesNotBlock) {
  const Layout l = layout();
  const std::string fifo = l.models() + "/fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  EXPECT_THROW(read_small_file(l, fifo), RegistryError);
  EXPECT_EQ(entry_kind(l, fifo), EntryKind::other);
}

TEST(RegistryDurations, Parse) {
  EXPECT_EQ(parse_duration("0", "--grace"), 0);
  EXPECT_EQ(parse_duration("90s", "--grace"), 90);
  EXPECT_EQ(parse_duration("15m", "--grace"), 900);
  EXPECT_EQ(parse_duration("2h", "--grace"), 7200);
  EXPECT_EQ(parse_duration("7d", "--grace"), 7 * 86400);
  EXPECT_THROW(parse_duration("-1", "--grace"), UsageError);
  EXPECT_THROW(parse_duration("1w", "--grace"), UsageError);
  // 60,000 characters: a usage error (not std::stod's out_of_range), and no stack overflow.
  const std::string digits(60000, '1');
  EXPECT_THROW(parse_duration(digits + "s", "--grace"), UsageError);
  EXPECT_THROW(parse_duration(digits + "x", "--grace"), UsageError);
  EXPECT_THROW(parse_duration("1e400", "--grace"), UsageError);
}

TEST(RegistryMetricConditions, SixtyThousandCharacterMetricName) {
  const std::string name(60000, 'a');
  EXPECT_EQ(parse_metric_condition(name + ">=0.5").metric.size(), 60000u);
  EXPECT_THROW(parse_metric_condition(name + ">=x"), UsageError);
  EXPECT_THROW(parse_metric_condition(name + "?0.5"), UsageError);
}

}  // namespace
}  // namespace h5p::registry
