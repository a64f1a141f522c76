// niah: a needle-in-a-haystack sweep over context lengths x depths x GUIDE deltas, resumable (the CSV is the
// journal: rerunning skips finished cells), with a progress line on stderr. --retrieval-scores also tallies every
// head's retrieval score (analysis/retrieval_score.h) into the store and the summary.
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "analysis/run/niah_run.h"
#include "app/cli/commands.h"
#include "app/cli/prompt_setup.h"
#include "app/cli/model_args.h"
#include "core/head_config.h"

namespace hl::cli {
namespace {

int cmd_niah(const Args& a) {
  a.allow_only(concat(kModelFlags, {"lengths", "depths", "deltas", "out", "haystack", "needle", "question", "answer",
                                    "max-new", "last-k", "apply-at", "db", "method", "heads", "head-index", "alphas",
                                    "retrieval-scores"}));
  auto m = load_model(a);
  NiahGrid grid;
  if (a.has("lengths")) {
    grid.lengths.clear();
    for (auto v : a.get_int_list("lengths")) {
      if (v <= 0) throw Error("--lengths: lengths must be > 0");
      grid.lengths.push_back(v);
    }
  }
  if (a.has("depths")) {
    grid.depths = a.get_double_list("depths");
    for (double d : grid.depths)
      if (d < 0 || d > 100) throw Error("--depths: depths are percentages in [0, 100]");
  }
  const std::string method = a.get("method", "guide");
  NiahRunOptions ro;
  if (method == "pasta") {
    // PASTA: --heads (a head-config file or L{l}H{h} names) and --alphas (the strengths, in the delta column).
    ro.method = NiahSteering::Pasta;
    const std::string hs = a.get("heads");
    HeadSet heads = std::filesystem::exists(hs) ? load_head_config(hs) : parse_head_set_text(hs, "--heads");
    const ModelConfig& mc = m->config();
    const std::string index = a.get("head-index", "query");
    if (index == "kv") heads = kv_heads_to_query_heads(heads, mc.n_layers, mc.n_heads, mc.n_kv_heads, "--heads");
    else if (index != "query") throw Error("--head-index: expected query or kv, got \"" + index + "\"");
    heads.validate(mc.n_layers, mc.n_heads, "--heads");
    for (const auto& r : heads.expand(mc.n_layers, mc.n_heads)) ro.pasta_heads.emplace_back(r.layer, r.head);
    grid.deltas = a.has("alphas") ? a.get_double_list("alphas") : std::vector<double>{1.0, 0.01};
    for (double al : grid.deltas)
      if (!(al > 0)) throw Error("--alphas: alpha must be > 0");
    if (a.has("deltas")) throw Error("--deltas is for --method guide; PASTA takes --alphas");
  } else if (method == "guide") {
    if (a.has("deltas")) grid.deltas = a.get_double_list("deltas");
    if (a.has("heads") || a.has("head-index") || a.has("alphas"))
      throw Error("--heads/--head-index/--alphas are for --method pasta");
  } else {
    throw Error("--method: expected guide or pasta, got \"" + method + "\"");
  }
  NiahTexts texts;
  if (a.has("needle")) texts.needle = a.get("needle");
  if (a.has("question")) texts.question = a.get("question");
  if (a.has("answer")) texts.answer = a.get("answer");
  const std::string hay_dir = a.get("haystack", std::string(HEADLIGHT_DEFAULT_SHARED) + "/" + kDefaultHaystackSubdir);
  ro.max_new_tokens = a.get_int("max-new", 30);
  ro.last_k = a.get_int("last-k", 5);
  ro.add_bos = default_add_bos(*m);
  ro.retrieval_scores = a.has("retrieval-scores");
  const std::string when = a.get("apply-at", "prefill");
  if (when == "all") ro.apply_at = ApplyAt::All;
  else if (when != "prefill") throw Error("--apply-at: expected prefill or all");
  NiahBuilder builder(load_haystack(hay_dir), texts, NiahTemplate{}, model_encoder(*m, ro.add_bos));
  NiahJournal journal(a.get("out"));
  NiahCellRunner runner = make_niah_runner(*m, builder, ro);
  auto rec = open_recorder(a);
  if (rec) {
    // One store run per sweep; cells are recorded as they finish (the store skips ones already there).
    nlohmann::json cfg = {{"lengths", grid.lengths}, {"depths", grid.depths}, {"deltas", grid.deltas},
                          {"haystack", hay_dir}, {"csv", std::filesystem::absolute(a.get("out")).string()},
                          {"max_new", ro.max_new_tokens}, {"last_k", ro.last_k}, {"method", method},
                          {"heads", ro.pasta_heads}};
    if (ro.retrieval_scores) cfg["retrieval_scores"] = true;
    // A resumed sweep (same grid, same CSV) continues its unfinished store run.
    int64_t sweep = 0;
    store::RunFilter f;
    f.kind = "niah";
    for (const auto& r : rec->store().list_runs(f)) {
      if (r.run.status != "running") continue;
      for (const auto& sw : rec->store().list_niah_sweeps(r.run.id))
        if (sw.config_json == cfg.dump()) sweep = sw.id, rec->resume(r.run.id);
      if (sweep) break;
    }
    if (!sweep) {
      PromptSetup ps;
      ps.text = texts.needle;
      rec->start("niah", *m, ps, {0, 1, 0, ro.max_new_tokens}, 0);
      sweep = rec->store().create_niah_sweep(rec->run_id(), method, cfg.dump());
    }
    runner = [inner = runner, &rec, sweep](const NiahCell& cell) {
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
  auto progress = [](const Progress& p) {
    std::fprintf(stderr, "\rniah: %lld/%lld cells  %.0fs elapsed  ETA %.0fs  %s   ", static_cast<long long>(p.done),
                 static_cast<long long>(p.total), p.elapsed_s, p.eta_s < 0 ? 0.0 : p.eta_s, p.what.c_str());
    std::fflush(stderr);
  };
  // Retrieval scores over the cells this call runs (the store keeps every cell's tally across resumes).
  const ModelConfig& mc = m->config();
  RetrievalTally retrieval(mc.n_layers, mc.n_heads);
  if (ro.retrieval_scores)
    runner = [inner = runner, &retrieval](const NiahCell& cell) {
      NiahResult r = inner(cell);
      retrieval.merge(r.retrieval);
      return r;
    };
  NiahSweepSummary s = run_niah_sweep(grid, runner, &journal, progress);
  std::fprintf(stderr, "\n");
  if (rec) rec->finish();
  nlohmann::json j = {{"cells", s.total}, {"skipped", s.skipped}, {"ran", s.ran}, {"out", a.get("out")}};
  if (ro.retrieval_scores) {
    // Layer-major [L][H] scores, and the copy steps they are fractions of.
    nlohmann::json grid_scores = nlohmann::json::array();
    for (int64_t l = 0; l < mc.n_layers; ++l) {
      nlohmann::json row = nlohmann::json::array();
      for (int64_t h = 0; h < mc.n_heads; ++h) row.push_back(retrieval.score(l, h));
      grid_scores.push_back(row);
    }
    j["retrieval_scores"] = grid_scores;
    j["retrieval_copy_steps"] = retrieval.copy_steps;
  }
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

RegisterCommand reg("niah",
                    "--model DIR --lengths 250,500 --depths 0,50,100 --deltas 0,1 --out FILE.csv [--haystack DIR] "
                    "[--max-new N] [--last-k K] [--apply-at prefill|all] [--method guide|pasta --heads CONFIG|L1H0,.. [--head-index query|kv] --alphas 1,0.01] "
                    "[--retrieval-scores] [--db FILE]",
                    cmd_niah);

}  // namespace
}  // namespace hl::cli
