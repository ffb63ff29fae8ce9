// `h5prune stats`: per-tensor counts and magnitudes, and whether prune would select each.
#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "common/errors.hpp"
#include "formats/json_names.hpp"
#include "host/pipeline.hpp"
#include "host/stats.hpp"
#include "tools/commands.hpp"
#include "tools/options.hpp"
#include "tools/format.hpp"

namespace po = boost::program_options;
using nlohmann::json;

namespace h5p::cli {

int cmd_stats(const std::vector<std::string>& args) {
  po::options_description visible(
      "usage: h5prune stats MODEL.h5 [options]\n\n"
      "One row per float dataset: dtype, shape, n, zeros, sparsity, NaN count, min/max/mean |w|,\n"
      "L2 norm, and whether 'prune' would select it with the same selection options.\n\noptions");
  visible.add_options()
      ("help,h", "this help")
      ("json", po::bool_switch(), "print one JSON object on stdout")
      ("include", po::value<std::string>(), "selection regex, as for prune")
      ("exclude", po::value<std::string>(), "exclusion regex, as for prune")
      ("min-ndim", po::value<int>()->default_value(2), "minimum rank of a selected tensor, as for prune")
      ("include-optimizer", po::bool_switch(), "optimizer state may be selected, as for prune")
      ("memory-limit", po::value<std::string>()->default_value("auto"), "bound on weight bytes held in memory: auto (half of what this process may use; docs/CLI.md Memory) or a size")
      ("threads", po::value<int>(), "OpenMP threads (default: OMP_NUM_THREADS, else the CPUs this job may use: affinity and cgroup CPU quota)");
  po::variables_map vm = parse_with_input(args, visible);
  if (vm.count("help")) {
    std::cout << visible << "\nexit codes: 0 ok, 2 usage, 3 input. See docs/CLI.md.\n";
    return 0;
  }
  po::notify(vm);
  if (!vm.count("input")) throw UsageError("missing input file (usage: h5prune stats MODEL.h5)");
  const std::string input = vm["input"].as<std::string>();
  const Selection sel = selection_options(vm);
  const std::uint64_t limit = memory_limit_option(vm);
  const int threads = threads_option(vm);

  const StatsResult r = run_stats(input, sel, limit, threads);
  const double total_sparsity = r.total_n ? static_cast<double>(r.total_zeros) / static_cast<double>(r.total_n) : 0.0;
  if (vm["json"].as<bool>()) {
    json j;
    j["command"] = "stats";
    j["path"] = input;
    j["tensors"] = json::array();
    for (const auto& t : r.tensors)
      j["tensors"].push_back({{"path", t.path}, {"dtype", std::string(dtype_name(t.dtype))}, {"shape", t.shape},
                              {"n", t.n}, {"zeros", t.zeros}, {"sparsity", t.sparsity()}, {"nan", t.nan},
                              {"min_abs", t.min_abs}, {"max_abs", t.max_abs}, {"mean_abs", t.mean_abs},
                              {"l2", t.l2}, {"selected", t.selected}, {"reason", reason_code(t.reason)},
                              {"reason_text", t.reason_text}, {"format", t.format}});
    for (std::size_t i = 0; i < r.tensors.size(); ++i)
      if (r.tensors[i].format != "dense") j["tensors"][i]["stored"] = r.tensors[i].stored;
    j["total"] = {{"n", r.total_n}, {"zeros", r.total_zeros}, {"sparsity", total_sparsity}};
    j["other_datasets"] = r.other_datasets;
    j["others"] = json::array();
    for (const auto& d : r.others)
      j["others"].push_back({{"path", d.path}, {"type", d.type_name}, {"shape", d.shape}, {"selected", false},
                             {"reason", reason_code(SelectReason::dtype)}});
    j["framework"] = framework_name(r.layout.framework);
    j["optimizer_prefix"] = r.layout.optimizer_prefix.empty() ? json(nullptr) : json(r.layout.optimizer_prefix);
    std::cout << json_safe(j).dump(2) << std::endl;
    return 0;
  }
  std::vector<std::vector<std::string>> rows{
      {"tensor", "shape", "dtype", "n", "zeros", "sparsity", "nan", "min|w|", "max|w|", "mean|w|", "L2", "selected",
       "format"}};
  std::uint64_t selected = 0;
  for (const auto& t : r.tensors) {
    selected += t.selected;
    rows.push_back({t.path, shape_text(t.shape), std::string(dtype_name(t.dtype)), std::to_string(t.n),
                    std::to_string(t.zeros), fmt("%.4f", t.sparsity()), std::to_string(t.nan), fmt("%.4g", t.min_abs),
                    fmt("%.4g", t.max_abs), fmt("%.4g", t.mean_abs), fmt("%.4g", t.l2), t.selected ? "yes" : "no: " + t.reason_text, t.format});
  }
  print_table(rows);
  std::printf("\n%zu float tensors (%llu selected by this selection), %llu weights, %.2f%% zeros; %llu other datasets\n",
              r.tensors.size(), static_cast<unsigned long long>(selected), static_cast<unsigned long long>(r.total_n),
              100.0 * total_sparsity, static_cast<unsigned long long>(r.other_datasets));
  std::printf("layout: %s%s\n", framework_name(r.layout.framework),
              r.layout.optimizer_prefix.empty()
                  ? ""
                  : (", optimizer state under " + r.layout.optimizer_prefix + " (not selected without --include-optimizer)").c_str());
  return 0;
}

}  // namespace h5p::cli
