// What a profiling job produces and how it is kept: per-example scores of units (task x head block x example
// block), their encoding as store metrics, and scores.json (per task, per head: mean score over the examples,
// its spread, the baseline, n, alpha, model identity, suites, date). Torch-free.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/profile_select.h"
#include "core/steering/head_config.h"

namespace hl {

// One unit's results: for each example of its block (in order) the unsteered score and every head's score.
struct UnitScores {
  std::vector<HeadRef> heads;                 // the unit's head block
  std::vector<double> base;                   // [example]
  std::vector<std::vector<double>> steered;   // [head][example]
};

// Store metrics of a unit: "base@i" and "L{l}H{h}@i", i the example's index in the task. Doubles round-trip.
std::vector<std::pair<std::string, double>> unit_metrics(const UnitScores& u, int64_t first_example);

// Every example's scores of one task, assembled from stored metrics of all its units.
struct TaskExampleScores {
  std::string task;
  std::string scorer;
  std::vector<HeadRef> heads;                 // every candidate head, layer-major
  std::vector<double> base;                   // [example]
  std::vector<std::vector<double>> steered;   // [head][example]
};
// Adds stored metrics (as unit_metrics wrote them) into `t`, whose heads and example count are set and whose
// vectors are sized. Throws hl::Error on a metric naming a head or example outside them.
void add_metrics(TaskExampleScores& t, const std::vector<std::pair<std::string, double>>& metrics);

struct MeanSpread {
  double mean = 0, std = 0;  // std: sample standard deviation over the examples (0 for one example)
  int64_t n = 0;
};
MeanSpread mean_spread(const std::vector<double>& v);

// scores.json. `meta` carries model, suites, alpha, scale_position, date and the rest as given; "tasks" is added:
// {"<task>": {"scorer", "n", "baseline": {mean, std}, "heads": [{"layer", "head", "mean", "std", "delta"}]}}.
nlohmann::ordered_json scores_json(const nlohmann::ordered_json& meta, const std::vector<TaskExampleScores>& tasks);

// Reads the per-task mean scores back from a scores.json document (for export). Throws hl::Error naming
// `where` and the field on a malformed document.
std::vector<TaskHeadScores> task_scores_from_json(const nlohmann::json& j, const std::string& where);

}  // namespace hl
