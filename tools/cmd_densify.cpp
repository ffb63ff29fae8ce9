// `h5prune densify`: restore the dense pruned file from a file with sparse layouts.
#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "common/errors.hpp"
#include "formats/json_names.hpp"
#include "host/densify.hpp"
#include "host/memory_budget.hpp"
#include "tools/commands.hpp"
#include "tools/options.hpp"
#include "tools/format.hpp"

namespace po = boost::program_options;
using nlohmann::json;

namespace h5p::cli {

int cmd_densify(const std::vector<std::string>& args) {
  po::options_description visible(
      "usage: h5prune densify SPARSE.h5 -o OUT.h5 [options]\n\n"
      "Copies SPARSE.h5 (written by 'h5prune prune --format csr|coo|bitmask|nm') with every sparse\n"
      "layout group turned back into the dense dataset it replaced: the result is byte-identical\n"
      "to the --format dense output of the same rule. Everything else is copied unchanged.\n\noptions");
  visible.add_options()
      ("help,h", "this help")
      ("output,o", po::value<std::string>(), "output file (written as a temporary, then renamed)")
      ("memory-limit", po::value<std::string>()->default_value("auto"),
       "bound on weight bytes held in memory; use the prune run's value for a byte-identical result")
      ("json", po::bool_switch(), "print the summary as one JSON object on stdout")
      ("force", po::bool_switch(), "replace an existing output file");
  po::variables_map vm = parse_with_input(args, visible);
  if (vm.count("help")) {
    std::cout << visible << "\nexit codes: 0 ok, 2 usage, 3 input, 5 output, 128+N interrupted by signal N.\n"
              << "See docs/FORMATS.md.\n";
    return 0;
  }
  po::notify(vm);
  DensifyOptions o;
  if (!vm.count("input")) throw UsageError("missing input file (usage: h5prune densify SPARSE.h5 -o OUT.h5)");
  o.input = vm["input"].as<std::string>();
  if (!vm.count("output")) throw UsageError("missing --output (-o) for densify");
  o.output = vm["output"].as<std::string>();
  o.memory_limit = memory_limit_from_text(vm["memory-limit"].as<std::string>(), "--memory-limit");
  o.force = vm["force"].as<bool>();

  const DensifyResult r = run_densify(o);
  if (vm["json"].as<bool>()) {
    json j;
    j["command"] = "densify";
    j["input"] = {{"path", o.input}, {"sha256", r.input_sha256}, {"bytes", r.input_bytes}};
    j["output"] = {{"path", o.output}, {"sha256", r.output_sha256}, {"bytes", r.output_bytes}};
    j["tensors"] = json::array();
    for (const auto& t : r.tensors)
      j["tensors"].push_back({{"path", t.path}, {"format", sparse::format_name(t.format)},
                              {"dtype", std::string(dtype_name(t.dtype))}, {"shape", t.shape}, {"n", t.n},
                              {"stored", t.stored}});
    j["seconds"] = r.seconds;
    std::cout << json_safe(j).dump(2) << std::endl;
    return 0;
  }
  std::vector<std::vector<std::string>> rows{{"tensor", "format", "shape", "dtype", "n", "stored"}};
  for (const auto& t : r.tensors)
    rows.push_back({t.path, sparse::format_name(t.format), shape_text(t.shape), std::string(dtype_name(t.dtype)),
                    std::to_string(t.n), std::to_string(t.stored)});
  print_table(rows);
  std::printf("\ndensified %zu tensor%s; wrote %s (%s, sha256 %s) in %.2f s\n", r.tensors.size(),
              r.tensors.size() == 1 ? "" : "s", o.output.c_str(), human_bytes(static_cast<double>(r.output_bytes)).c_str(),
              r.output_sha256.c_str(), r.seconds);
  return 0;
}

}  // namespace h5p::cli
