// Shared option parsing and validation for the subcommands.
#include "tools/options.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "common/errors.hpp"
#include "host/cpu_budget.hpp"
#include "host/memory_budget.hpp"
#include "host/rule.hpp"
#include "kernels/backend.hpp"
#include "tools/version.hpp"

namespace po = boost::program_options;

namespace h5p::cli {

po::variables_map parse_with_input(const std::vector<std::string>& args, const po::options_description& visible,
                                   const po::options_description& hidden) {
  po::options_description all;
  all.add(visible).add(hidden).add_options()("input", po::value<std::string>());
  po::positional_options_description pos;
  pos.add("input", 1);
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(all).positional(pos).run(), vm);
  return vm;
}

Selection selection_options(const po::variables_map& vm) {
  Selection s;
  if (vm.count("include")) s.include = vm["include"].as<std::string>();
  if (vm.count("exclude")) s.exclude = vm["exclude"].as<std::string>();
  s.min_ndim = vm["min-ndim"].as<int>();
  if (vm.count("include-optimizer")) s.include_optimizer = vm["include-optimizer"].as<bool>();
  if (s.min_ndim < 0) throw UsageError("invalid value for --min-ndim: must be >= 0");
  return s;
}

std::vector<GroupRule> group_rules_option(const po::variables_map& vm) {
  std::vector<GroupRule> out;
  if (vm.count("rule"))
    for (const std::string& r : vm["rule"].as<std::vector<std::string>>()) out.push_back(parse_rule_option(r));
  if (vm.count("rules"))
    for (GroupRule& g : read_rules_file(vm["rules"].as<std::string>())) out.push_back(std::move(g));
  return out;
}

int threads_option(const po::variables_map& vm) {
  if (!vm.count("threads")) return job_threads();
  const int threads = vm["threads"].as<int>();
  if (threads < 1) throw UsageError("invalid value for --threads: must be >= 1");
  // Each thread has its own stack and histograms; thousands of them only cost memory.
  const int cap = 4 * available_cpus();
  if (threads > cap) {
    std::fprintf(stderr, "h5prune: warning: --threads %d is more than 4 per core; using %d\n", threads, cap);
    return cap;
  }
  return threads;
}

std::uint64_t memory_limit_option(const po::variables_map& vm) {
  const std::uint64_t limit = memory_limit_from_text(vm["memory-limit"].as<std::string>(), "--memory-limit");
  if (limit < (64u << 10)) throw UsageError("--memory-limit must be at least 64K");
  return limit;
}

std::string metrics_dir_option(const po::variables_map& vm) {
  if (vm.count("metrics-dir")) return vm["metrics-dir"].as<std::string>();
  const char* env = std::getenv("H5PRUNE_METRICS_DIR");
  return env ? env : "";
}

RunMetrics start_run_metrics(const std::string& dir, const std::string& model, double start_time) {
  check_metrics_dir(dir);
  RunMetrics m;
  m.model = model;
  m.start_time = start_time;
  m.tool_version = std::string(H5PRUNE_VERSION) + "+" + H5PRUNE_GIT_REVISION;
  read_slurm_identity(m);
  return m;
}

}  // namespace h5p::cli
