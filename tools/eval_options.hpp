// --eval CMD and --eval-timeout DURATION, shared by prune, sweep, eval and search, and how an
// evaluation is printed (text and JSON).
#pragma once
#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "formats/evaluation.hpp"
#include "host/eval/evaluate.hpp"

namespace h5p::cli {

void add_eval_options(boost::program_options::options_description& o);

// nullopt without --eval; UsageError for an empty command or a bad timeout.
std::optional<EvalSettings> eval_settings(const boost::program_options::variables_map& vm);

// {"ok", "metrics", "failure", "exit_status", "signal", "timed_out", "seconds", "id",
//  "baseline": {metric: value} | null, "drop": {metric: baseline - value} | null}
nlohmann::json evaluation_json(const Evaluation& e, const std::optional<Evaluation>& baseline);

// "accuracy 0.973 (baseline 0.981, drop 0.008), loss 0.112" or "failed: why".
std::string evaluation_text(const Evaluation& e, const std::optional<Evaluation>& baseline);

}  // namespace h5p::cli
