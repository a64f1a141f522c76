// NIAH sweeps: one sweep per run and method; its cells (strength, context length, depth) are recorded
// once each, so an interrupted sweep resumes where it stopped.
#include <cmath>
#include <limits>

#include "core/error.h"
#include "storage/json_arrays.h"
#include "storage/store.h"

namespace hl::store {

int64_t Store::create_niah_sweep(int64_t run_id, const std::string& method, const std::string& config_json) {
  require_writable("create a NIAH sweep");
  const std::string canon = canonical_json(config_json, db_.path() + ": NIAH sweep config");
  Transaction tx(db_, Transaction::Write);
  Stmt st(db_, "INSERT INTO niah_sweeps (run_id, method, config_json) VALUES (?, ?, ?)");
  st.bind(1, run_id).bind(2, method).bind(3, canon);
  st.run();
  const int64_t id = db_.last_insert_id();
  tx.commit();
  return id;
}

std::vector<NiahSweep> Store::list_niah_sweeps(int64_t run_id) const {
  Stmt st(db_, "SELECT id, run_id, method, config_json FROM niah_sweeps WHERE run_id = ? ORDER BY id");
  st.bind(1, run_id);
  std::vector<NiahSweep> out;
  while (st.step()) {
    NiahSweep s;
    s.id = st.col_int(0);
    s.run_id = st.col_int(1);
    s.method = st.col_text(2);
    s.config_json = st.col_text(3);
    out.push_back(std::move(s));
  }
  return out;
}

bool Store::record_niah_cell(int64_t sweep_id, const NiahCell& c) {
  require_writable("record a NIAH cell");
  if (!std::isfinite(c.strength) || !std::isfinite(c.depth_percent))
    throw Error(db_.path() + ": NIAH cell with non-finite strength or depth");
  Transaction tx(db_, Transaction::Write);
  Stmt st(db_,
          "INSERT INTO niah_cells (sweep_id, strength, context_length, depth_percent, n_samples, mean_score, "
          "mean_influence, realised_depth, mean_rollout, answer, influence_by_layer, retrieval_copy_steps, "
          "retrieval_hits) "
          "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
          "ON CONFLICT (sweep_id, strength, context_length, depth_percent) DO NOTHING");
  st.bind(1, sweep_id).bind(2, c.strength).bind(3, c.context_length).bind(4, c.depth_percent).bind(5, c.n_samples);
  std::isnan(c.mean_score) ? st.bind_null(6) : st.bind(6, c.mean_score);
  (c.mean_influence && !std::isnan(*c.mean_influence)) ? st.bind(7, *c.mean_influence) : st.bind_null(7);
  (c.realised_depth && std::isfinite(*c.realised_depth)) ? st.bind(8, *c.realised_depth) : st.bind_null(8);
  (c.mean_rollout && !std::isnan(*c.mean_rollout)) ? st.bind(9, *c.mean_rollout) : st.bind_null(9);
  st.bind(10, c.answer);
  if (c.influence_by_layer.empty()) {
    st.bind_null(11);
  } else {
    st.bind(11, floats_to_json(std::vector<float>(c.influence_by_layer.begin(), c.influence_by_layer.end())));
  }
  if (c.retrieval_copy_steps) {
    if (*c.retrieval_copy_steps < 0) throw Error(db_.path() + ": NIAH cell with a negative retrieval copy-step count");
    for (int32_t h : c.retrieval_hits)
      if (h < 0 || h > *c.retrieval_copy_steps)
        throw Error(db_.path() + ": NIAH cell retrieval hits outside [0, copy steps]");
    st.bind(12, *c.retrieval_copy_steps).bind(13, ints_to_json(c.retrieval_hits));
  } else {
    st.bind_null(12).bind_null(13);
  }
  st.run();
  if (db_.changes() == 0) return false;
  tx.commit();
  return true;
}

bool Store::is_cell_recorded(int64_t sweep_id, double strength, int64_t context_length, double depth_percent) const {
  Stmt st(db_,
          "SELECT 1 FROM niah_cells WHERE sweep_id = ? AND strength = ? AND context_length = ? AND depth_percent = ?");
  st.bind(1, sweep_id).bind(2, strength).bind(3, context_length).bind(4, depth_percent);
  return st.step();
}

std::vector<NiahCell> Store::get_niah_cells(int64_t sweep_id) const {
  Stmt st(db_,
          "SELECT strength, context_length, depth_percent, n_samples, mean_score, mean_influence, realised_depth, "
          "mean_rollout, answer, influence_by_layer, retrieval_copy_steps, retrieval_hits FROM niah_cells "
          "WHERE sweep_id = ? ORDER BY strength, depth_percent, context_length");
  st.bind(1, sweep_id);
  std::vector<NiahCell> out;
  while (st.step()) {
    NiahCell c;
    c.strength = st.col_double(0);
    c.context_length = st.col_int(1);
    c.depth_percent = st.col_double(2);
    c.n_samples = st.col_int(3);
    c.mean_score = st.is_null(4) ? std::numeric_limits<double>::quiet_NaN() : st.col_double(4);
    if (!st.is_null(5)) c.mean_influence = st.col_double(5);
    if (!st.is_null(6)) c.realised_depth = st.col_double(6);
    if (!st.is_null(7)) c.mean_rollout = st.col_double(7);
    if (!st.is_null(8)) c.answer = st.col_text(8);
    if (!st.is_null(9)) {
      for (float v : json_to_floats(st.col_text(9), db_.path() + ": niah_cells.influence_by_layer"))
        c.influence_by_layer.push_back(v);
    }
    if (!st.is_null(10)) {
      c.retrieval_copy_steps = st.col_int(10);
      if (!st.is_null(11)) c.retrieval_hits = json_to_ints(st.col_text(11), db_.path() + ": niah_cells.retrieval_hits");
    }
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<RetrievalScore> Store::get_retrieval_scores(int64_t sweep_id, std::optional<double> strength) const {
  int64_t layers = 0, heads = 0;
  {
    Stmt st(db_,
            "SELECT m.n_layers, m.n_heads FROM niah_sweeps s JOIN runs r ON r.id = s.run_id "
            "JOIN models m ON m.id = r.model_id WHERE s.id = ?");
    st.bind(1, sweep_id);
    if (!st.step()) throw Error(db_.path() + ": no NIAH sweep " + std::to_string(sweep_id));
    layers = st.col_int(0);
    heads = st.col_int(1);
  }
  const auto n = static_cast<size_t>(layers * heads);
  std::vector<int64_t> hits(n, 0);
  int64_t copy_steps = 0;
  bool any = false;
  for (const NiahCell& c : get_niah_cells(sweep_id)) {
    if (!c.retrieval_copy_steps || (strength && c.strength != *strength)) continue;
    if (c.retrieval_hits.size() != n)
      throw Error(db_.path() + ": sweep " + std::to_string(sweep_id) + ": a cell's retrieval hits cover " +
                  std::to_string(c.retrieval_hits.size()) + " heads, the model has " + std::to_string(n));
    any = true;
    copy_steps += *c.retrieval_copy_steps;
    for (size_t i = 0; i < n; ++i) hits[i] += c.retrieval_hits[i];
  }
  std::vector<RetrievalScore> out;
  if (!any) return out;
  for (size_t i = 0; i < n; ++i) {
    RetrievalScore r;
    r.layer = static_cast<int32_t>(static_cast<int64_t>(i) / heads);
    r.head = static_cast<int32_t>(static_cast<int64_t>(i) % heads);
    r.hits = hits[i];
    r.copy_steps = copy_steps;
    r.score = copy_steps > 0 ? static_cast<double>(hits[i]) / static_cast<double>(copy_steps) : 0.0;
    out.push_back(r);
  }
  return out;
}

}  // namespace hl::store
