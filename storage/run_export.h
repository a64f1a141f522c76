// Exports of one run for people and other tools: JSON (everything about the run, blobs listed by id and
// shape but not inlined), CSV (one table with a header row), PNG (an attention map or a NIAH panel).
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "storage/store.h"

namespace hl::store {

// Throws hl::Error if the run does not exist.
nlohmann::json run_to_json(const Store& store, int64_t run_id);
// The summary rows `runs list` prints.
nlohmann::json run_list_to_json(const std::vector<RunSummary>& runs);

// CSV tables: "head_stats", "generations" (one row per step), "head_scores", "niah_cells", "retrieval_scores".
// default_csv_table picks the one the run's kind produces.
std::string default_csv_table(const Store& store, int64_t run_id);
std::string run_to_csv(const Store& store, int64_t run_id, const std::string& table);

struct PngChoice {
  std::optional<int64_t> map_id;      // an attention map of the run; default: its first map
  std::optional<double> strength;     // NIAH panel; default: the first strength
  bool influence = false;             // NIAH: mean influence instead of mean score
  bool log_scale = false;
  // Layer x head grids, titled and labelled: one head statistic of the run (head_stats.stat), one metric of its
  // profiling head scores (e.g. scan-heads' "loss_increase"), or its NIAH sweep's retrieval scores (of `strength`
  // when given). At most one of the three.
  std::string head_stat;
  std::string head_score;
  bool retrieval = false;
};
// A layer x head grid of a run as a titled, labelled heatmap (rows = layers, columns = heads); NaN for heads with
// no value. What export_run_png draws for head_stat / head_score / retrieval.
FloatMatrix head_grid(const Store& store, int64_t run_id, const PngChoice& choice, std::string* title);
// NIAH runs render their grid; other runs render an attention map.
void export_run_png(const Store& store, int64_t run_id, const PngChoice& choice, const std::string& out_path);

// Writes text to a file, with an hl::Error naming the path on failure.
void write_text_file(const std::string& path, const std::string& text);

}  // namespace hl::store
