// One entry point per subcommand; each parses its own options and returns an exit code.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "host/pipeline.hpp"

namespace h5p::cli {

int cmd_prune(const std::vector<std::string>& args);
int cmd_stats(const std::vector<std::string>& args);

// Registry commands (log, show, diff, get, alias, verify, gc), tools/cmd_registry.cpp.
bool is_registry_command(const std::string& command);
int cmd_registry(const std::string& command, const std::vector<std::string>& args);
int cmd_densify(const std::vector<std::string>& args);
// Sweeps (tools/cmd_sweep.cpp) and the sbatch script generator (tools/cmd_slurm.cpp).
int cmd_sweep(const std::vector<std::string>& args);
int cmd_slurm(const std::vector<std::string>& args);
// Evaluation of a file or version (tools/cmd_eval.cpp) and the sparsity search (tools/cmd_search.cpp).
int cmd_eval(const std::vector<std::string>& args);
int cmd_search(const std::vector<std::string>& args);

// "0.1.0 (git abc1234, CUDA yes)" style build description.
std::string build_description();
bool built_with_cuda();

}  // namespace h5p::cli
