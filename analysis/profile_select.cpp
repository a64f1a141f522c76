#include "analysis/profile_select.h"

#include <algorithm>
#include <map>
#include <numeric>

#include "core/error.h"

namespace hl {
namespace {

using Key = std::pair<int64_t, int64_t>;
Key key(const HeadRef& h) { return {h.layer, h.head}; }

}  // namespace

const char* select_strategy_name(SelectStrategy s) {
  switch (s) {
    case SelectStrategy::Intersection: return "intersection";
    case SelectStrategy::Union: return "union";
    case SelectStrategy::Task: return "task";
    case SelectStrategy::LeaveOneOut: return "loo";
  }
  return "?";
}

SelectStrategy parse_select_strategy(const std::string& name) {
  for (SelectStrategy s : {SelectStrategy::Intersection, SelectStrategy::Union, SelectStrategy::Task,
                           SelectStrategy::LeaveOneOut})
    if (name == select_strategy_name(s)) return s;
  throw Error("--strategy " + name + ": expected intersection, union, task or loo");
}

std::vector<HeadRef> rank_heads(const TaskHeadScores& t) {
  if (t.heads.size() != t.scores.size()) throw Error("task " + t.task + ": heads and scores differ in length");
  std::vector<size_t> order(t.heads.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (t.scores[a] != t.scores[b]) return t.scores[a] > t.scores[b];
    return key(t.heads[a]) < key(t.heads[b]);
  });
  std::vector<HeadRef> out;
  for (size_t i : order) out.push_back(t.heads[i]);
  return out;
}

HeadSelection select_heads(const std::vector<TaskHeadScores>& tasks, SelectStrategy strategy, int64_t k,
                           const std::string& task) {
  if (k < 1) throw Error("--k must be >= 1");
  if (tasks.empty()) throw Error("no task scores to select heads from");
  std::vector<const TaskHeadScores*> taken;
  const TaskHeadScores* named = nullptr;
  for (const auto& t : tasks)
    if (t.task == task) named = &t;
  if ((strategy == SelectStrategy::Task || strategy == SelectStrategy::LeaveOneOut) && !named) {
    std::string names;
    for (const auto& t : tasks) names += (names.empty() ? "" : ", ") + t.task;
    throw Error(std::string("strategy ") + select_strategy_name(strategy) + " needs --task, one of: " + names +
                (task.empty() ? "" : " (got \"" + task + "\")"));
  }
  for (const auto& t : tasks) {
    if (strategy == SelectStrategy::Task && &t != named) continue;
    if (strategy == SelectStrategy::LeaveOneOut && &t == named) continue;
    taken.push_back(&t);
  }
  if (taken.empty()) throw Error("strategy loo leaves no task: it needs at least two tasks");
  std::vector<Key> all;
  for (const auto& h : tasks.front().heads) all.push_back(key(h));
  std::sort(all.begin(), all.end());
  for (const auto& t : tasks) {
    std::vector<Key> mine;
    for (const auto& h : t.heads) mine.push_back(key(h));
    std::sort(mine.begin(), mine.end());
    if (mine != all) throw Error("tasks " + tasks.front().task + " and " + t.task + " scored different heads");
  }

  // Rank (0-based) of every head in every task taken.
  std::map<Key, std::vector<int64_t>> ranks;
  for (const TaskHeadScores* t : taken) {
    const auto r = rank_heads(*t);
    for (size_t i = 0; i < r.size(); ++i) ranks[key(r[i])].push_back(static_cast<int64_t>(i));
  }
  struct Cand {
    Key k;
    int64_t sum, best;
  };
  std::vector<Cand> chosen;
  for (const auto& [hk, rs] : ranks) {
    const bool in_all = std::all_of(rs.begin(), rs.end(), [&](int64_t r) { return r < k; });
    const bool in_any = std::any_of(rs.begin(), rs.end(), [&](int64_t r) { return r < k; });
    const bool keep = strategy == SelectStrategy::Union ? in_any : in_all;
    if (keep)
      chosen.push_back({hk, std::accumulate(rs.begin(), rs.end(), int64_t{0}), *std::min_element(rs.begin(), rs.end())});
  }
  std::sort(chosen.begin(), chosen.end(), [](const Cand& a, const Cand& b) {
    if (a.sum != b.sum) return a.sum < b.sum;
    if (a.best != b.best) return a.best < b.best;
    return a.k < b.k;
  });
  HeadSelection out;
  for (const Cand& c : chosen) {
    out.ranked.push_back({c.k.first, c.k.second});
    out.set.add(c.k.first, c.k.second, "selection");
  }
  return out;
}

}  // namespace hl
