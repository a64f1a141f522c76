// scan-heads: every head of a steering spec steered alone, ranked by what it does to the next token after the
// prompt (the profiler's inner loop, engine/head_scan.h). With --effect ablate every candidate head (the spec's
// biased or ablated heads, or every head without --steering) is ablated alone instead, and ranked by the prompt's
// loss increase (AttentionInfluence's score) unless a --target is given.
#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "app/cli/commands.h"
#include "app/cli/model_args.h"
#include "app/cli/prompt_setup.h"
#include "workbench/head_scan_table.h"
#include "core/error.h"
#include "core/steering/head_config.h"

namespace hl::cli {
namespace {

// The id a target is scored by: --NAME-id N, or the first token of --NAME TEXT (no BOS).
std::optional<int64_t> target_id(const Args& a, const Model& m, const std::string& name) {
  if (a.has(name) && a.has(name + "-id")) throw Error("give one of --" + name + " TEXT or --" + name + "-id N");
  if (a.has(name + "-id")) {
    const long long id = a.get_int(name + "-id", -1);
    if (id < 0 || id >= m.config().vocab)
      throw Error("--" + name + "-id " + std::to_string(id) + " is outside the vocabulary [0, " +
                  std::to_string(m.config().vocab) + ")");
    return id;
  }
  if (!a.has(name)) return std::nullopt;
  const auto ids = require_tokenizer(m).encode(a.get(name, "")).ids;
  if (ids.empty()) throw Error("--" + name + " tokenises to nothing");
  return ids.front();
}

int cmd_scan_heads(const Args& a) {
  const std::string effect = a.get("effect", "steer");
  if (effect != "steer" && effect != "ablate") throw Error("--effect: expected steer or ablate, got \"" + effect + "\"");
  const bool ablate = effect == "ablate";
  if (a.has("ablation") && !ablate) throw Error("--ablation is for --effect ablate");
  if (!ablate && !a.has("steering")) throw Error("scan-heads needs --steering SPEC.json (its heads are the candidates)");
  auto m = load_model(a);
  PromptSetup ps = setup_prompt(a, *m);
  if (ablate && !ps.bias) {
    // No spec: every head of the model is a candidate.
    const ModelConfig& mc = m->config();
    ps.bias = std::make_unique<AttentionBias>(1, mc.n_layers, mc.n_heads, static_cast<int64_t>(ps.ids.size()));
    for (int64_t l = 0; l < mc.n_layers; ++l)
      for (int64_t h = 0; h < mc.n_heads; ++h) ps.bias->ablation.set(0, l, h, AblationMode::Zero);
  }
  if (!ps.bias || !(ablate ? ps.bias->any_active() : ps.bias->any_key_bias()))
    throw Error(ablate ? "the steering spec names no head on this model"
                       : "the steering spec steers no head on this model (its ablated heads count with --effect ablate)");
  const auto target = target_id(a, *m, "target"), versus = target_id(a, *m, "versus");
  if (versus && !target) throw Error("--versus needs --target");
  const int64_t top = a.get_int("top", 20);
  if (top < 1) throw Error("--top must be >= 1");
  wb::HeadScanRequest req;
  req.prompt = ps.ids;
  req.candidates = ps.bias.get();
  req.max_rows = a.get_int("rows", 0);
  req.reuse_prompt_prefix = !a.has("no-prefix-reuse");
  req.ablate = ablate;
  if (ablate) {
    const std::string mode = a.get("ablation", "zero");
    if (mode == "mean") req.ablation = AblationMode::Mean;
    else if (mode != "zero") throw Error("--ablation: expected zero or mean, got \"" + mode + "\"");
  }
  req.target = target;
  req.versus = versus;
  req.cancel = &interrupted();
  const wb::HeadScanTable t = wb::scan_head_table(*m, req);
  const auto n = static_cast<int64_t>(t.heads.size());
  const bool prompt_loss = t.metric == "loss_increase";
  auto token_text = [&](int64_t id) { return m->tokenizer() ? m->tokenizer()->token_text(id) : std::to_string(id); };
  int64_t run_id = 0;
  if (auto rec = open_recorder(a)) {
    // One run with a one-task profiling job: each head a unit scored by the metric. The note names the scored tokens.
    std::string note = "metric: " + t.metric;
    if (target) note += "; target " + nlohmann::json(token_text(*target)).dump() + " (id " + std::to_string(*target) + ")";
    if (versus) note += "; versus " + nlohmann::json(token_text(*versus)).dump() + " (id " + std::to_string(*versus) + ")";
    run_id = rec->start("scan-heads", *m, ps, {}, 0, note);
    nlohmann::json task = {{"effect", effect}, {"metric", t.metric}};
    if (ablate) task["ablation"] = to_string(req.ablation);
    wb::record_head_scan(rec->store(), rec->run_id(), t, task);
    rec->finish();
  }
  const std::vector<size_t> order = t.ranking();
  const int64_t shown = std::min(top, n);

  if (a.has("json")) {
    nlohmann::json heads = nlohmann::json::array();
    for (int64_t k = 0; k < n; ++k) {
      const size_t i = order[static_cast<size_t>(k)];
      nlohmann::json h = {{"layer", t.heads[i].first}, {"head", t.heads[i].second}, {"score", t.score[i]}};
      if (target) h["delta"] = t.score[i] - t.baseline_score;
      else h["argmax"] = t.argmax[i];
      heads.push_back(h);
    }
    nlohmann::json j = {{"prompt_ids", ps.ids}, {"spans", ps.spans},    {"metric", t.metric},
                        {"heads", heads},       {"seconds", t.seconds},      {"forwards", t.forwards},
                        {"recomputed_token_layers", t.recomputed_tokens}};
    j["effect"] = effect;
    if (ablate) j["ablation"] = to_string(req.ablation);
    if (prompt_loss) j["baseline_loss"] = t.baseline_loss;
    if (target) {
      j["target_id"] = *target;
      j["target_token"] = token_text(*target);
      j["baseline_score"] = t.baseline_score;
    }
    if (versus) {
      j["versus_id"] = *versus;
      j["versus_token"] = token_text(*versus);
    }
    if (run_id) j["run_id"] = run_id;
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  std::printf("%lld heads scanned in %.2f s (%lld batched forwards); metric %s", static_cast<long long>(n), t.seconds,
              static_cast<long long>(t.forwards), t.metric.c_str());
  if (ablate) std::printf(", %s ablation", to_string(req.ablation));
  if (prompt_loss) std::printf(", baseline loss %.4f", t.baseline_loss);
  if (target) {
    std::printf("\ntarget %s (id %lld)", nlohmann::json(token_text(*target)).dump().c_str(), static_cast<long long>(*target));
    if (versus)
      std::printf(" versus %s (id %lld)", nlohmann::json(token_text(*versus)).dump().c_str(), static_cast<long long>(*versus));
    std::printf(", baseline %.4f", t.baseline_score);
  }
  else std::printf(", baseline top token %s", nlohmann::json(token_text(t.baseline_top)).dump().c_str());
  std::printf("\n%-6s %-10s %12s %12s\n", "rank", "head", "score", target ? "vs baseline" : "top token");
  for (int64_t k = 0; k < shown; ++k) {
    const size_t i = order[static_cast<size_t>(k)];
    const std::string name = head_name(t.heads[i].first, t.heads[i].second);
    if (target)
      std::printf("%-6lld %-10s %12.4f %+12.4f\n", static_cast<long long>(k + 1), name.c_str(), t.score[i],
                  t.score[i] - t.baseline_score);
    else
      std::printf("%-6lld %-10s %12.4g %12s\n", static_cast<long long>(k + 1), name.c_str(), t.score[i],
                  nlohmann::json(token_text(t.argmax[i])).dump().c_str());
  }
  if (run_id) std::printf("recorded run %lld\n", static_cast<long long>(run_id));
  return 0;
}

RegisterCommand reg(
    "scan-heads", "every head of a spec steered (or ablated) alone, ranked by its effect on the next token or the loss",
    model_options() + prompt_options() +
        std::vector<OptionSpec>{text("target", "TEXT", "score log P(first token of TEXT)"),
                                integer("target-id", "N", "score log P(token N)", 0),
                                text("versus", "TEXT", "subtract log P(first token of TEXT)"),
                                integer("versus-id", "N", "subtract log P(token N)", 0),
                                integer("rows", "N", "heads per batched forward (default: one layer's)", 1, 4096),
                                integer("top", "K", "rows of the table (default 20)", 1),
                                flag("no-prefix-reuse", "recompute every prompt position (for checking)"),
                                flag("json", "every head's score as JSON"),
                                text("effect", "steer|ablate", "steer each head (default) or ablate it; ablate scans "
                                                                "every head without --steering"),
                                text("ablation", "zero|mean", "with --effect ablate: zero (default) or mean"),
                                text("db", "FILE", "record the scan in this store")},
    cmd_scan_heads);

}  // namespace
}  // namespace hl::cli
