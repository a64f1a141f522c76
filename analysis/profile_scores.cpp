#include "analysis/profile_scores.h"

#include <cmath>
#include <map>

#include "core/error.h"

namespace hl {

std::vector<std::pair<std::string, double>> unit_metrics(const UnitScores& u, int64_t first_example) {
  std::vector<std::pair<std::string, double>> out;
  for (size_t e = 0; e < u.base.size(); ++e)
    out.emplace_back("base@" + std::to_string(first_example + static_cast<int64_t>(e)), u.base[e]);
  for (size_t h = 0; h < u.heads.size(); ++h)
    for (size_t e = 0; e < u.steered[h].size(); ++e)
      out.emplace_back(head_name(u.heads[h].layer, u.heads[h].head) + "@" +
                           std::to_string(first_example + static_cast<int64_t>(e)),
                       u.steered[h][e]);
  return out;
}

void add_metrics(TaskExampleScores& t, const std::vector<std::pair<std::string, double>>& metrics) {
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < t.heads.size(); ++i) index[head_name(t.heads[i].layer, t.heads[i].head)] = i;
  for (const auto& [name, value] : metrics) {
    const size_t at = name.find('@');
    int64_t ex = -1;
    try {
      if (at != std::string::npos) ex = std::stoll(name.substr(at + 1));
    } catch (const std::exception&) {
      ex = -1;
    }
    if (ex < 0 || ex >= static_cast<int64_t>(t.base.size()))
      throw Error("profile: stored metric \"" + name + "\" of task " + t.task + " names no example of the job");
    const std::string who = name.substr(0, at);
    if (who == "base") {
      t.base[static_cast<size_t>(ex)] = value;
      continue;
    }
    auto it = index.find(who);
    if (it == index.end()) throw Error("profile: stored metric \"" + name + "\" of task " + t.task + " names no candidate head");
    t.steered[it->second][static_cast<size_t>(ex)] = value;
  }
}

MeanSpread mean_spread(const std::vector<double>& v) {
  MeanSpread r;
  r.n = static_cast<int64_t>(v.size());
  if (v.empty()) return r;
  double s = 0;
  for (double x : v) s += x;
  r.mean = s / static_cast<double>(v.size());
  if (v.size() > 1) {
    double q = 0;
    for (double x : v) q += (x - r.mean) * (x - r.mean);
    r.std = std::sqrt(q / static_cast<double>(v.size() - 1));
  }
  return r;
}

nlohmann::ordered_json scores_json(const nlohmann::ordered_json& meta, const std::vector<TaskExampleScores>& tasks) {
  nlohmann::ordered_json j = meta;
  nlohmann::ordered_json tj = nlohmann::ordered_json::object();
  for (const auto& t : tasks) {
    const MeanSpread b = mean_spread(t.base);
    nlohmann::ordered_json heads = nlohmann::ordered_json::array();
    for (size_t h = 0; h < t.heads.size(); ++h) {
      const MeanSpread m = mean_spread(t.steered[h]);
      heads.push_back({{"layer", t.heads[h].layer},
                       {"head", t.heads[h].head},
                       {"mean", m.mean},
                       {"std", m.std},
                       {"delta", m.mean - b.mean}});
    }
    tj[t.task] = {{"scorer", t.scorer},
                  {"n", static_cast<int64_t>(t.base.size())},
                  {"baseline", {{"mean", b.mean}, {"std", b.std}}},
                  {"heads", heads}};
  }
  j["tasks"] = tj;
  return j;
}

std::vector<TaskHeadScores> task_scores_from_json(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object() || !j.contains("tasks") || !j["tasks"].is_object() || j["tasks"].empty())
    throw Error(where + ": field \"tasks\": expected an object of per-task scores (a scores.json from `profile`)");
  std::vector<TaskHeadScores> out;
  for (const auto& [name, t] : j["tasks"].items()) {
    const std::string ctx = where + ": field \"tasks." + name + ".heads\"";
    if (!t.is_object() || !t.contains("heads") || !t["heads"].is_array()) throw Error(ctx + ": expected a list");
    TaskHeadScores ts;
    ts.task = name;
    for (size_t i = 0; i < t["heads"].size(); ++i) {
      const auto& h = t["heads"][i];
      const std::string c = ctx + "[" + std::to_string(i) + "]";
      if (!h.is_object() || !h.contains("layer") || !h.contains("head") || !h.contains("mean") ||
          !h["layer"].is_number_integer() || !h["head"].is_number_integer() || !h["mean"].is_number())
        throw Error(c + ": expected {\"layer\": int, \"head\": int, \"mean\": number, ...}");
      const int64_t l = h["layer"].get<int64_t>(), hd = h["head"].get<int64_t>();
      if (l < 0 || hd < 0) throw Error(c + ": negative layer or head");
      ts.heads.push_back({l, hd});
      ts.scores.push_back(h["mean"].get<double>());
    }
    if (ts.heads.empty()) throw Error(ctx + ": no heads");
    out.push_back(std::move(ts));
  }
  return out;
}

}  // namespace hl
