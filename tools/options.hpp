// Command-line pieces several subcommands share: the positional input file, the tensor
// selection options, --threads and --memory-limit, each validated the same way everywhere.
#pragma once
#include <boost/program_options.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "host/group_rules.hpp"
#include "host/metrics.hpp"
#include "host/plan.hpp"

namespace h5p::cli {

// Parses args against `visible` plus the hidden options in `hidden` and one positional
// "input". Does not notify: callers print --help first.
boost::program_options::variables_map parse_with_input(const std::vector<std::string>& args,
                                                       const boost::program_options::options_description& visible,
                                                       const boost::program_options::options_description& hidden = {});

// --include, --exclude, --min-ndim (>= 0) and --include-optimizer (when the command has it).
Selection selection_options(const boost::program_options::variables_map& vm);

// --rule REGEX=SPEC (each, in order) then the entries of --rules FILE.
std::vector<GroupRule> group_rules_option(const boost::program_options::variables_map& vm);

// --threads (>= 1, at most 4 per available CPU), or job_threads() when absent.
int threads_option(const boost::program_options::variables_map& vm);

// --memory-limit, at least 64K.
std::uint64_t memory_limit_option(const boost::program_options::variables_map& vm);

// --metrics-dir DIR, else $H5PRUNE_METRICS_DIR; "" for none.
std::string metrics_dir_option(const boost::program_options::variables_map& vm);

// The identity of a run whose metrics go to `dir` (checked: an existing writable directory):
// the model, Slurm ids from the environment, the tool version and the start time.
RunMetrics start_run_metrics(const std::string& dir, const std::string& model, double start_time);

}  // namespace h5p::cli
