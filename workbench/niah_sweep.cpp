#include "workbench/niah_sweep.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "analysis/fingerprint.h"
#include "analysis/run/niah_run.h"
#include "core/error.h"
#include "workbench/model_identity.h"
#include "workbench/profiling.h"
#include "workbench/prompt_setup.h"

namespace hl::wb {

SteeringSpec niah_steering(const Model& m, const NiahSweepRequest& req) {
  const ModelConfig& mc = m.config();
  SteeringSpec s = req.steering ? *req.steering : NiahRunOptions::default_niah_steering();
  if (s.method == SteeringMethod::None) throw Error("steering: method none steers nothing to sweep");
  s = with_query_heads(s, mc.n_layers, mc.n_heads, mc.n_kv_heads);
  validate_steering_spec(s, mc.n_layers, mc.n_heads);
  return s;
}

NiahSweepOutcome run_niah(const Model& m, const NiahSweepRequest& req, RunRecorder* rec, const CancelToken* cancel,
                          const ProgressFn& progress, const NiahCellFn& on_cell) {
  if (req.journal_path.empty()) throw Error("niah: the sweep needs a results CSV (its resume journal)");
  if (req.max_new_tokens < 1) throw Error("max_new_tokens: a NIAH answer needs at least 1 token");
  if (req.last_k < 1) throw Error("last_k must be >= 1");
  const ModelConfig& mc = m.config();
  NiahRunOptions ro;
  ro.steering = niah_steering(m, req);
  ro.max_new_tokens = req.max_new_tokens;
  ro.last_k = req.last_k;
  ro.add_bos = req.add_bos.value_or(default_add_bos(m));
  ro.retrieval_scores = req.retrieval_scores;
  const std::string hay_dir =
      req.haystack_dir.empty() ? (suite_sources().shared_dir / kDefaultHaystackSubdir).string() : req.haystack_dir;
  const std::string haystack = load_haystack(hay_dir);
  const NiahGrid& grid = req.grid;
  // Everything that determines a cell's result except the cell itself (length, depth, strength): a journal written
  // under another fingerprint is refused, never merged.
  const nlohmann::json fingerprint = {
      {"format", 2},
      {"model", model_identity(m)},
      {"steering", nlohmann::json::parse(steering_spec_to_json(with_strength(ro.steering, 1.0), -1))},
      {"haystack", bytes_fingerprint(haystack)},
      {"needle", req.texts.needle},
      {"question", req.texts.question},
      {"answer", req.texts.answer},
      {"max_new", ro.max_new_tokens},
      {"last_k", ro.last_k},
      {"add_bos", ro.add_bos},
      {"dtype", req.dtype},
      {"retrieval_scores", ro.retrieval_scores}};
  NiahBuilder builder(haystack, req.texts, NiahTemplate{}, model_encoder(m, ro.add_bos));
  NiahJournal journal(req.journal_path, fingerprint.dump());
  NiahCellRunner runner = make_niah_runner(m, builder, ro);
  NiahSweepOutcome out;
  bool finished = false;  // the store already holds this sweep, finished
  if (rec) {
    // One store run per sweep; cells are recorded as they finish (the store skips ones already there).
    nlohmann::json cfg = {{"lengths", grid.lengths}, {"depths", grid.depths}, {"strengths", grid.deltas},
                          {"haystack", hay_dir}, {"csv", std::filesystem::absolute(req.journal_path).string()},
                          {"fingerprint", fingerprint}};
    if (ro.retrieval_scores) cfg["retrieval_scores"] = true;
    // The same sweep (same grid, same CSV, same fingerprint) continues its store run, finished or not: a rerun of
    // a finished sweep adds no empty run. Another fingerprint is another experiment: a new run.
    int64_t sweep = 0;
    store::RunFilter f;
    f.kind = "niah";
    for (const auto& r : rec->store().list_runs(f)) {
      for (const auto& sw : rec->store().list_niah_sweeps(r.run.id))
        if (nlohmann::json::parse(sw.config_json, nullptr, false) == cfg)
          sweep = sw.id, finished = r.run.status == "done", rec->resume(r.run.id);
      if (sweep) break;
    }
    if (!sweep) {
      PromptSetup ps;
      ps.text = req.texts.needle;
      ps.spec_json = steering_spec_to_json(ro.steering, -1);
      rec->start("niah", m, ps, {0, 1, 0, ro.max_new_tokens}, 0);
      sweep = rec->store().create_niah_sweep(rec->run_id(), to_string(ro.steering.method), cfg.dump());
    }
    out.run_id = rec->run_id();
    runner = [inner = runner, rec, sweep](const NiahCell& cell) {
      NiahResult r = inner(cell);
      store::NiahCell sc;
      sc.strength = r.delta;
      sc.context_length = r.length;
      sc.depth_percent = r.depth;
      sc.n_samples = 1;
      sc.mean_score = r.score;
      sc.mean_influence = r.influence_lastk;
      sc.realised_depth = r.realised_depth;
      sc.mean_rollout = r.rollout_lastk;
      sc.answer = r.answer;
      sc.influence_by_layer = r.influence_by_layer;
      if (r.retrieval.layers > 0) {
        sc.retrieval_copy_steps = r.retrieval.copy_steps;
        sc.retrieval_hits.assign(r.retrieval.hits.begin(), r.retrieval.hits.end());
      }
      rec->store().record_niah_cell(sweep, sc);
      return r;
    };
  }
  // Retrieval scores over the cells this call runs (the store keeps every cell's tally across resumes).
  out.retrieval = RetrievalTally(mc.n_layers, mc.n_heads);
  runner = [inner = runner, &out, &on_cell, retrieval = ro.retrieval_scores](const NiahCell& cell) {
    NiahResult r = inner(cell);
    r.length = cell.length;
    r.depth = cell.depth;
    r.delta = cell.delta;
    if (retrieval) out.retrieval.merge(r.retrieval);
    if (on_cell) on_cell(r, false);
    return r;
  };
  if (on_cell)
    for (const NiahResult& r : journal.results()) on_cell(r, true);
  try {
    out.summary = run_niah_sweep(grid, runner, &journal, progress, cancel);
  } catch (const Cancelled&) {
    if (rec && !finished) rec->finish("cancelled");
    throw;
  }
  if (rec && !finished) rec->finish();
  return out;
}

}  // namespace hl::wb
