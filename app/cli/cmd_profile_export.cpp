// profile-export: a PASTA head config from a profile's scores.json, for any K and strategy, with no recomputation.
// heads.json is PASTA's format ({"layer": [heads]}, string keys, heads in rank order), which the official
// pastalib `load_head_config` reads unchanged; heads.scores.json (the sidecar) keeps the scores, K, strategy,
// suites and model. A steering spec's "heads" may name either file.
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "analysis/profile_scores.h"
#include "analysis/profile_select.h"
#include "app/cli/commands.h"
#include "app/cli/profile_files.h"
#include "core/error.h"
#include "core/file_read.h"
#include "core/json_limits.h"
#include "storage/store.h"

namespace hl::cli {
namespace {

namespace fs = std::filesystem;

// heads.json -> heads.scores.json
fs::path sidecar_path(const fs::path& out) {
  fs::path p = out;
  return p.replace_extension(".scores.json");
}

// The store's names for the strategies (storage/SCHEMA.md, exported_profiles).
const char* stored_strategy(SelectStrategy s) {
  switch (s) {
    case SelectStrategy::Task: return "task_specific";
    case SelectStrategy::LeaveOneOut: return "task_agnostic";
    default: return select_strategy_name(s);
  }
}

int cmd_profile_export(const Args& a) {
  const std::string scores_path = a.get("scores");
  const nlohmann::json scores = parse_json_bounded(read_file_bounded(scores_path, int64_t(1) << 30, "scores file"),
                                                   scores_path);
  const std::vector<TaskHeadScores> tasks = task_scores_from_json(scores, scores_path);
  const SelectStrategy strategy = parse_select_strategy(a.get("strategy"));
  const int64_t k = a.get_int("k", 0);
  const std::string task = a.get("task", "");
  if (!task.empty() && strategy != SelectStrategy::Task && strategy != SelectStrategy::LeaveOneOut)
    throw Error("--task applies to the task and loo strategies only");
  const HeadSelection sel = select_heads(tasks, strategy, k, task);
  if (sel.ranked.empty())
    throw Error(std::string("no head is in the top ") + std::to_string(k) + " of " +
                (strategy == SelectStrategy::Union ? "any" : "every") + " task taken; raise --k");

  const fs::path out = a.get("out");
  const std::string config = head_set_to_pasta_json(sel.set);
  // Per selected head, its mean score in every task (and its rank there), for the record.
  std::map<std::string, std::map<std::pair<int64_t, int64_t>, std::pair<double, int64_t>>> by_task;
  for (const auto& t : tasks) {
    const auto ranked = rank_heads(t);
    std::map<std::pair<int64_t, int64_t>, int64_t> rank;
    for (size_t i = 0; i < ranked.size(); ++i) rank[{ranked[i].layer, ranked[i].head}] = static_cast<int64_t>(i + 1);
    for (size_t i = 0; i < t.heads.size(); ++i)
      by_task[t.task][{t.heads[i].layer, t.heads[i].head}] = {t.scores[i], rank[{t.heads[i].layer, t.heads[i].head}]};
  }
  nlohmann::ordered_json heads = nlohmann::ordered_json::array();
  for (size_t i = 0; i < sel.ranked.size(); ++i) {
    const HeadRef& h = sel.ranked[i];
    nlohmann::ordered_json per = nlohmann::ordered_json::object();
    for (const auto& [name, m] : by_task) {
      const auto& [score, rank] = m.at({h.layer, h.head});
      per[name] = {{"mean", score}, {"rank", rank}};
    }
    heads.push_back({{"name", head_name(h.layer, h.head)}, {"layer", h.layer}, {"head", h.head},
                     {"rank", static_cast<int64_t>(i + 1)}, {"scores", per}});
  }
  nlohmann::ordered_json side;
  side["format"] = "headlight-head-profile/1";
  side["head_config"] = nlohmann::ordered_json::parse(config);
  side["strategy"] = select_strategy_name(strategy);
  if (!task.empty()) side["task"] = task;
  side["k"] = k;
  side["n_heads"] = static_cast<int64_t>(sel.ranked.size());
  side["scores_file"] = fs::weakly_canonical(fs::absolute(scores_path)).string();
  for (const char* f : {"job", "model", "alpha", "scale_position", "suites", "date"})
    if (scores.contains(f)) side[f] = scores[f];
  side["heads"] = heads;
  write_file_atomic(out, config + "\n");
  write_file_atomic(sidecar_path(out), side.dump(1) + "\n");

  // With --db, the export is also kept with the job that computed the scores.
  if (a.has("db") && scores.contains("job") && scores["job"].is_string()) {
    store::Store st = store::Store::open(a.get("db"));
    for (const store::ProfilingJob& j : st.list_profiling_jobs()) {
      const nlohmann::json t = nlohmann::json::parse(j.tasks_json, nullptr, false);
      if (t.is_object() && t.contains("job") && t["job"].is_object() &&
          t["job"].value("fingerprint", "") == scores["job"].get<std::string>()) {
        st.record_exported_profile({0, j.id, stored_strategy(strategy), k, config, ""});
        break;
      }
    }
  }
  std::vector<std::string> ranked_names;  // rank order (heads.json groups them by layer, as PASTA's format does)
  for (const HeadRef& h : sel.ranked) ranked_names.push_back(head_name(h.layer, h.head));
  std::printf("%s\n", nlohmann::json({{"out", out.string()},
                                      {"sidecar", sidecar_path(out).string()},
                                      {"strategy", select_strategy_name(strategy)},
                                      {"k", k},
                                      {"n_heads", static_cast<int64_t>(sel.ranked.size())},
                                      {"ranked", ranked_names}})
                          .dump()
                          .c_str());
  return 0;
}

RegisterCommand reg(
    "profile-export", "a PASTA head config (and a scores sidecar) from profile scores, for any K",
    {text("scores", "scores.json", "the profile's scores file (required)"),
     text("strategy", "NAME", "intersection, union, task, loo (required)"),
     text("task", "NAME", "the task for the task and loo strategies"),
     integer("k", "K", "top-K heads per task (required)", 1),
     text("out", "heads.json", "the head config (required); heads.scores.json is written beside it"),
     text("db", "FILE", "record the export with its profiling job in this store")},
    cmd_profile_export);

}  // namespace
}  // namespace hl::cli
