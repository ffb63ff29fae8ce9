// One file per alias event; listing sorts them by their time-prefixed names.
#include "host/registry/alias_history.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "common/errors.hpp"
#include "host/registry/fs_ops.hpp"

namespace h5p::registry {

namespace {
std::string history_dir(const Layout& l, const std::string& model) { return l.model_dir(model) + "/alias-history"; }
}  // namespace

void record_alias_event(const Layout& l, const std::string& model, const AliasEvent& e) {
  const std::string dir = history_dir(l, model);
  make_dir(l, dir);
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  char stamp[32];
  std::snprintf(stamp, sizeof stamp, "%020lld", static_cast<long long>(ns));
  const nlohmann::json j = {{"alias", e.alias},
                            {"action", e.action},
                            {"from", e.from ? nlohmann::json(*e.from) : nlohmann::json(nullptr)},
                            {"to", e.to ? nlohmann::json(*e.to) : nlohmann::json(nullptr)},
                            {"time", e.time},
                            {"user", e.user},
                            {"host", e.host}};
  write_file_atomic(l, dir + "/" + stamp + "." + unique_token() + ".json", j.dump() + "\n", /*replace=*/false);
}

std::vector<AliasEvent> alias_history(const Layout& l, const std::string& model, const std::string& alias) {
  const std::string dir = history_dir(l, model);
  std::vector<std::string> names;
  for (const auto& n : list_dir(l, dir))
    if (!n.empty() && n[0] != '.' && n.size() > 5 && n.substr(n.size() - 5) == ".json") names.push_back(n);
  std::sort(names.begin(), names.end());
  std::vector<AliasEvent> out;
  for (const auto& n : names) {
    const auto text = read_small_file(l, dir + "/" + n);
    if (!text) continue;
    try {
      const auto j = nlohmann::json::parse(*text);
      AliasEvent e;
      e.alias = j.at("alias").get<std::string>();
      if (!alias.empty() && e.alias != alias) continue;
      e.action = j.at("action").get<std::string>();
      if (!j.at("from").is_null()) e.from = j["from"].get<int>();
      if (!j.at("to").is_null()) e.to = j["to"].get<int>();
      e.time = j.at("time").get<std::string>();
      e.user = j.value("user", "");
      e.host = j.value("host", "");
      out.push_back(std::move(e));
    } catch (const nlohmann::json::exception& ex) {
      throw RegistryError("damaged alias history file '" + dir + "/" + n + "': " + ex.what());
    }
  }
  return out;
}

}  // namespace h5p::registry
