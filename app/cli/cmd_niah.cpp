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
#include "core/steering/head_config.h"
#include "core/steering/steering_spec.h"
#include "workbench/niah_sweep.h"

namespace hl::cli {
namespace {

int cmd_niah(const Args& a) {
  auto m = load_model(a);
  wb::NiahSweepRequest req;
  NiahGrid& grid = req.grid;
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
  SteeringSpec steering = NiahRunOptions::default_niah_steering();
  const ModelConfig& mc = m->config();
  if (a.has("steering")) {
    if (a.has("method") || a.has("heads") || a.has("head-index"))
      throw Error("--steering replaces --method/--heads/--head-index; give one or the other");
    steering = load_steering_spec(a.get("steering"));
    if (steering.method == SteeringMethod::None) throw Error("--steering: method none steers nothing to sweep");
  } else {
    const std::string method = a.get("method", "guide");
    if (method == "pasta") {
      steering = SteeringSpec{};
      steering.method = SteeringMethod::Pasta;
      const std::string hs = a.get("heads");
      steering.heads = std::filesystem::exists(hs) ? load_head_config(hs) : parse_head_set_text(hs, "--heads");
      const std::string index = a.get("head-index", "query");
      if (index == "kv") steering.head_index = HeadIndex::Kv;
      else if (index != "query") throw Error("--head-index: expected query or kv, got \"" + index + "\"");
      if (index == "query") steering.heads.validate(mc.n_layers, mc.n_heads, "--heads");
    } else if (method == "guide") {
      if (a.has("heads") || a.has("head-index")) throw Error("--heads/--head-index are for --method pasta");
    } else {
      throw Error("--method: expected guide or pasta, got \"" + method + "\"");
    }
    const std::string when = a.get("apply-at", "prefill");
    if (when == "all") steering.apply_at = ApplyAt::All;
    else if (when == "prefill") steering.apply_at = ApplyAt::Prefill;
    else throw Error("--apply-at: expected prefill or all");
  }
  if (a.has("steering") && a.has("apply-at")) throw Error("--apply-at: give apply_at in the --steering spec");
  req.steering = steering;
  const SteeringMethod method = wb::niah_steering(*m, req).method;
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
  if (a.has("needle")) req.texts.needle = a.get("needle");
  if (a.has("question")) req.texts.question = a.get("question");
  if (a.has("answer")) req.texts.answer = a.get("answer");
  const std::string tpl = a.get("template", "guide");
  if (tpl == "plain") {
    // The context, then the question on its own line (a base model that was never shown GUIDE's tags, such as
    // the model organism, reads it as text it knows).
    req.prompt_template.question_block = "\n{question}";
    req.prompt_template.question_before = false;
  } else if (tpl != "guide") {
    throw Error("--template: expected guide or plain, got \"" + tpl + "\"");
  }
  req.haystack_dir = a.get("haystack", std::string(HEADLIGHT_DEFAULT_SHARED) + "/" + kDefaultHaystackSubdir);
  req.max_new_tokens = a.get_int("max-new", 30);
  req.last_k = a.get_int("last-k", 5);
  req.retrieval_scores = a.has("retrieval-scores");
  req.dtype = a.get("dtype", "auto");
  req.journal_path = a.get("out");
  if (req.max_new_tokens < 1) throw Error("--max-new: a NIAH answer needs at least 1 token");
  if (req.last_k < 1) throw Error("--last-k must be >= 1");
  auto rec = open_recorder(a);
  auto progress = [](const Progress& p) {
    std::fprintf(stderr, "\rniah: %lld/%lld cells  %.0fs elapsed  ETA %.0fs  %s   ", static_cast<long long>(p.done),
                 static_cast<long long>(p.total), p.elapsed_s, p.eta_s < 0 ? 0.0 : p.eta_s, p.what.c_str());
    std::fflush(stderr);
  };
  const wb::NiahSweepOutcome out = wb::run_niah(*m, req, rec.get(), &interrupted(), progress);
  const NiahSweepSummary& s = out.summary;
  std::fprintf(stderr, "\n");
  nlohmann::json j = {{"cells", s.total}, {"skipped", s.skipped}, {"ran", s.ran}, {"out", a.get("out")}};
  if (rec) j["run_id"] = out.run_id;
  if (req.retrieval_scores) {
    // Layer-major [L][H] scores, and the copy steps they are fractions of.
    nlohmann::json grid_scores = nlohmann::json::array();
    for (int64_t l = 0; l < mc.n_layers; ++l) {
      nlohmann::json row = nlohmann::json::array();
      for (int64_t h = 0; h < mc.n_heads; ++h) row.push_back(out.retrieval.score(l, h));
      grid_scores.push_back(row);
    }
    j["retrieval_scores"] = grid_scores;
    j["retrieval_copy_steps"] = out.retrieval.copy_steps;
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
            text("template", "guide|plain", "the prompt around the haystack: GUIDE's <question> block before and after it "
                 "(default), or plain: the context, then the question"),
            integer("max-new", "N", "answer tokens (default 30)", 1, 1 << 16),
            integer("last-k", "K", "Influence over the last K prompt tokens (default 5)", 1),
            flag("retrieval-scores", "also score every head as a retrieval head (Wu et al.): the summary's L x H grid, "
                                     "and per cell in the store"),
            text("out", "FILE.csv", "the results CSV, also the resume journal (required)"),
            text("db", "FILE", "record the sweep and its cells in this store")},
    cmd_niah);

}  // namespace
}  // namespace hl::cli
