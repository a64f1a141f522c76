// niah: a needle-in-a-haystack sweep over context lengths x depths x GUIDE deltas, resumable (the CSV is the
// journal: rerunning skips finished cells), with a progress line on stderr. --retrieval-scores also tallies every
// head's retrieval score (analysis/retrieval_score.h) into the store and the summary.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "analysis/run/niah_run.h"
#include "app/cli/commands.h"
#include "app/cli/prompt_setup.h"
#include "app/cli/model_args.h"
#include "analysis/fingerprint.h"
#include "core/head_config.h"
#include "core/steering_spec.h"
#include "workbench/model_identity.h"

namespace hl::cli {
namespace {

int cmd_niah(const Args& a) {
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
  // The steering: a spec file (--steering), or the shorthand --method guide | pasta --heads ...; either way it goes
  // through the steering compiler, with the needle as the span and each cell's strength as alpha / delta / M.
  NiahRunOptions ro;
  const ModelConfig& mc = m->config();
  if (a.has("steering")) {
    if (a.has("method") || a.has("heads") || a.has("head-index"))
      throw Error("--steering replaces --method/--heads/--head-index; give one or the other");
    ro.steering = load_steering_spec(a.get("steering"));
    if (ro.steering.method == SteeringMethod::None) throw Error("--steering: method none steers nothing to sweep");
  } else {
    const std::string method = a.get("method", "guide");
    if (method == "pasta") {
      ro.steering = SteeringSpec{};
      ro.steering.method = SteeringMethod::Pasta;
      const std::string hs = a.get("heads");
      ro.steering.heads = std::filesystem::exists(hs) ? load_head_config(hs) : parse_head_set_text(hs, "--heads");
      const std::string index = a.get("head-index", "query");
      if (index == "kv") ro.steering.head_index = HeadIndex::Kv;
      else if (index != "query") throw Error("--head-index: expected query or kv, got \"" + index + "\"");
      if (index == "query") ro.steering.heads.validate(mc.n_layers, mc.n_heads, "--heads");
    } else if (method == "guide") {
      if (a.has("heads") || a.has("head-index")) throw Error("--heads/--head-index are for --method pasta");
    } else {
      throw Error("--method: expected guide or pasta, got \"" + method + "\"");
    }
    const std::string when = a.get("apply-at", "prefill");
    if (when == "all") ro.steering.apply_at = ApplyAt::All;
    else if (when == "prefill") ro.steering.apply_at = ApplyAt::Prefill;
    else throw Error("--apply-at: expected prefill or all");
  }
  if (a.has("steering") && a.has("apply-at")) throw Error("--apply-at: give apply_at in the --steering spec");
  ro.steering = with_query_heads(ro.steering, mc.n_layers, mc.n_heads, mc.n_kv_heads);
  validate_steering_spec(ro.steering, mc.n_layers, mc.n_heads);
  const SteeringMethod method = ro.steering.method;
  auto strengths = [&](const char* flag, std::vector<double> dflt, bool positive) {
    for (const char* other : {"alphas", "deltas", "multipliers"})
      if (std::string(other) != flag && a.has(other))
        throw Error(std::string("--") + other + " does not apply to " + to_string(method) + "; it takes --" + flag);
    std::vector<double> v = a.has(flag) ? a.get_double_list(flag) : dflt;
    for (double x : v)
      if (!std::isfinite(x) || (positive && !(x > 0)))
        throw Error(std::string("--") + flag + ": " + (positive ? "values must be finite and > 0" : "values must be finite"));
    return v;
  };
  if (method == SteeringMethod::Pasta) grid.deltas = strengths("alphas", {1.0, 0.01}, true);
  else if (method == SteeringMethod::Guide) grid.deltas = strengths("deltas", {0.0}, false);
  else grid.deltas = strengths("multipliers", {1.0}, true);
  NiahTexts texts;
  if (a.has("needle")) texts.needle = a.get("needle");
  if (a.has("question")) texts.question = a.get("question");
  if (a.has("answer")) texts.answer = a.get("answer");
  const std::string hay_dir = a.get("haystack", std::string(HEADLIGHT_DEFAULT_SHARED) + "/" + kDefaultHaystackSubdir);
  ro.max_new_tokens = a.get_int("max-new", 30);
  ro.last_k = a.get_int("last-k", 5);
  ro.add_bos = default_add_bos(*m);
  ro.retrieval_scores = a.has("retrieval-scores");
  if (ro.max_new_tokens < 1) throw Error("--max-new: a NIAH answer needs at least 1 token");
  if (ro.last_k < 1) throw Error("--last-k must be >= 1");
  const std::string haystack = load_haystack(hay_dir);
  // Everything that determines a cell's result except the cell itself (length, depth, strength): a journal written
  // under another fingerprint is refused, never merged.
  const nlohmann::json fingerprint = {
      {"format", 2},
      {"model", wb::model_identity(*m)},
      {"steering", nlohmann::json::parse(steering_spec_to_json(with_strength(ro.steering, 1.0), -1))},
      {"haystack", bytes_fingerprint(haystack)},
      {"needle", texts.needle},
      {"question", texts.question},
      {"answer", texts.answer},
      {"max_new", ro.max_new_tokens},
      {"last_k", ro.last_k},
      {"add_bos", ro.add_bos},
      {"dtype", a.get("dtype", "auto")},
      {"retrieval_scores", ro.retrieval_scores}};
  NiahBuilder builder(haystack, texts, NiahTemplate{}, model_encoder(*m, ro.add_bos));
  NiahJournal journal(a.get("out"), fingerprint.dump());
  NiahCellRunner runner = make_niah_runner(*m, builder, ro);
  auto rec = open_recorder(a);
  bool finished = false;  // the store already holds this sweep, finished
  if (rec) {
    // One store run per sweep; cells are recorded as they finish (the store skips ones already there).
    nlohmann::json cfg = {{"lengths", grid.lengths}, {"depths", grid.depths}, {"strengths", grid.deltas},
                          {"haystack", hay_dir}, {"csv", std::filesystem::absolute(a.get("out")).string()},
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
      ps.text = texts.needle;
      ps.spec_json = steering_spec_to_json(ro.steering, -1);
      rec->start("niah", *m, ps, {0, 1, 0, ro.max_new_tokens}, 0);
      sweep = rec->store().create_niah_sweep(rec->run_id(), to_string(method), cfg.dump());
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
  RetrievalTally retrieval(mc.n_layers, mc.n_heads);
  if (ro.retrieval_scores)
    runner = [inner = runner, &retrieval](const NiahCell& cell) {
      NiahResult r = inner(cell);
      retrieval.merge(r.retrieval);
      return r;
    };
  NiahSweepSummary s = run_niah_sweep(grid, runner, &journal, progress, &interrupted());
  std::fprintf(stderr, "\n");
  if (rec && !finished) rec->finish();
  nlohmann::json j = {{"cells", s.total}, {"skipped", s.skipped}, {"ran", s.ran}, {"out", a.get("out")}};
  if (rec) j["run_id"] = rec->run_id();
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

RegisterCommand reg(
    "niah", "needle-in-a-haystack sweep over lengths x depths x steering strengths (resumable CSV journal)",
    model_options() +
        std::vector<OptionSpec>{
            int_list("lengths", "250,500", "context lengths in tokens (default 500..4000 by 500)", 1),
            real_list("depths", "0,50,100", "needle depths in percent (default 0..100 by 10)", 0, 100),
            real_list("deltas", "0,1", "GUIDE strengths (default 0)"),
            real_list("alphas", "1,0.01", "PASTA strengths (default 1,0.01)"),
            real_list("multipliers", "1,2", "InstABoost strengths (default 1)"),
            text("method", "guide|pasta", "steering shorthand (default guide); or --steering"),
            text("heads", "CONFIG|L1H0,..", "PASTA heads: names or a head-config file"),
            text("head-index", "query|kv", "--heads are query heads (default) or KV heads"),
            text("steering", "SPEC.json", "a spec: its method, heads, layers, scale position, apply-at (the needle is the span)"),
            text("apply-at", "prefill|all", "steer the prompt pass only (default) or every decode step too"),
            text("haystack", "DIR", "folder of .txt filler (default: the shared Paul Graham essays)"),
            text("needle", "TEXT", "the needle sentence"), text("question", "TEXT", "the question"),
            text("answer", "TEXT", "the expected answer (substring scoring)"),
            integer("max-new", "N", "answer tokens (default 30)", 1, 1 << 16),
            integer("last-k", "K", "Influence over the last K prompt tokens (default 5)", 1),
            flag("retrieval-scores", "also score every head as a retrieval head (Wu et al.): the summary's L x H grid, "
                                     "and per cell in the store"),
            text("out", "FILE.csv", "the results CSV, also the resume journal (required)"),
            text("db", "FILE", "record the sweep and its cells in this store")},
    cmd_niah);

}  // namespace
}  // namespace hl::cli
