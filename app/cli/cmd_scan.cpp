// scan-heads: every head of a steering spec steered alone, ranked by what it does to the next token after the
// prompt (the profiler's inner loop, engine/head_scan.h). With --effect ablate every candidate head (the spec's
// biased or ablated heads, or every head without --steering) is ablated alone instead, and ranked by the prompt's
// loss increase (AttentionInfluence's score) unless a --target is given.
#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "app/cli/commands.h"
#include "app/cli/model_args.h"
#include "app/cli/prompt_setup.h"
#include "core/engine/head_scan.h"
#include "core/error.h"
#include "core/head_config.h"

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
  HeadScanOptions so;
  so.max_rows = a.get_int("rows", 0);
  so.reuse_prompt_prefix = !a.has("no-prefix-reuse");
  if (ablate) {
    so.effect = HeadEffect::Ablate;
    const std::string mode = a.get("ablation", "zero");
    if (mode == "mean") so.ablation = AblationMode::Mean;
    else if (mode != "zero") throw Error("--ablation: expected zero or mean, got \"" + mode + "\"");
    so.prompt_loss = !target;
  }
  if (target) so.watch_tokens.push_back(*target);
  if (versus) so.watch_tokens.push_back(*versus);
  const auto t0 = std::chrono::steady_clock::now();
  so.cancel = &interrupted();
  HeadScanResult r = scan_heads(*m, ps.ids, *ps.bias, so);
  if (r.cancelled) throw Cancelled();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  // Score: log P(target) [- log P(versus)] with the head steered; without a target, KL(baseline || steered) of
  // the next-token distribution (how far the head alone moves it).
  const auto n = static_cast<int64_t>(r.heads.size());
  std::vector<double> score(static_cast<size_t>(n)), base_score(1, 0.0);
  std::vector<int64_t> argmax(static_cast<size_t>(n), -1);
  const std::string metric = target ? (versus ? "logp_target_minus_versus" : "logp_target")
                                    : so.prompt_loss ? "loss_increase" : "kl_from_baseline";
  if (so.prompt_loss) {
    // AttentionInfluence: how much the prompt's next-token loss rises with the head ablated alone.
    for (int64_t i = 0; i < n; ++i) score[static_cast<size_t>(i)] = r.loss[static_cast<size_t>(i)] - r.base_loss;
    const at::Tensor am = r.steered.argmax(-1);
    for (int64_t i = 0; i < n; ++i) argmax[static_cast<size_t>(i)] = am[i].item<int64_t>();
  } else if (target) {
    auto margin = [&](const at::Tensor& row) {
      return row[0].item<double>() - (versus ? row[1].item<double>() : 0.0);
    };
    base_score[0] = margin(r.base);
    for (int64_t i = 0; i < n; ++i) score[static_cast<size_t>(i)] = margin(r.steered[i]);
  } else {
    const at::Tensor lb = at::log_softmax(r.base.to(at::kDouble), -1);
    const at::Tensor ls = at::log_softmax(r.steered.to(at::kDouble), -1);
    const at::Tensor kl = (lb.exp().unsqueeze(0) * (lb.unsqueeze(0) - ls)).sum(-1);
    const at::Tensor am = r.steered.argmax(-1);
    for (int64_t i = 0; i < n; ++i) {
      score[static_cast<size_t>(i)] = kl[i].item<double>();
      argmax[static_cast<size_t>(i)] = am[i].item<int64_t>();
    }
  }
  auto token_text = [&](int64_t id) { return m->tokenizer() ? m->tokenizer()->token_text(id) : std::to_string(id); };
  int64_t run_id = 0;
  if (auto rec = open_recorder(a)) {
    // One run with a one-task profiling job: each head a unit scored by the metric (the store's head scores, which
    // `runs export --format png --head-score METRIC` draws as a layer x head grid). The note names the scored tokens.
    std::string note = "metric: " + metric;
    if (target) note += "; target " + nlohmann::json(token_text(*target)).dump() + " (id " + std::to_string(*target) + ")";
    if (versus) note += "; versus " + nlohmann::json(token_text(*versus)).dump() + " (id " + std::to_string(*versus) + ")";
    run_id = rec->start("scan-heads", *m, ps, {}, 0, note);
    nlohmann::json task = {{"effect", effect}, {"metric", metric}};
    if (ablate) task["ablation"] = to_string(so.ablation);
    const int64_t job = rec->store().create_profiling_job(rec->run_id(), nlohmann::json({{"scan", task}}).dump(), n);
    for (int64_t i = 0; i < n; ++i) {
      store::ProfilingUnit u;
      u.task = "scan";
      u.layer = static_cast<int32_t>(r.heads[static_cast<size_t>(i)].first);
      u.head = static_cast<int32_t>(r.heads[static_cast<size_t>(i)].second);
      u.n_examples = 1;
      u.elapsed_s = secs / static_cast<double>(n);
      u.scores = {{metric, score[static_cast<size_t>(i)]}};
      rec->store().record_unit(job, u);
    }
    rec->store().finish_profiling_job(job, r.cancelled ? "cancelled" : "done");
    rec->finish();
  }
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t x, int64_t y) { return score[static_cast<size_t>(x)] > score[static_cast<size_t>(y)]; });
  const int64_t shown = std::min(top, n);

  if (a.has("json")) {
    nlohmann::json heads = nlohmann::json::array();
    for (int64_t k = 0; k < n; ++k) {
      const auto i = static_cast<size_t>(order[static_cast<size_t>(k)]);
      nlohmann::json h = {{"layer", r.heads[i].first}, {"head", r.heads[i].second}, {"score", score[i]}};
      if (target) h["delta"] = score[i] - base_score[0];
      else h["argmax"] = argmax[i];
      heads.push_back(h);
    }
    nlohmann::json j = {{"prompt_ids", ps.ids}, {"spans", ps.spans},    {"metric", metric},
                        {"heads", heads},       {"seconds", secs},      {"forwards", r.forwards},
                        {"recomputed_token_layers", r.recomputed_tokens}};
    j["effect"] = effect;
    if (ablate) j["ablation"] = to_string(so.ablation);
    if (so.prompt_loss) j["baseline_loss"] = r.base_loss;
    if (target) {
      j["target_id"] = *target;
      j["target_token"] = token_text(*target);
      j["baseline_score"] = base_score[0];
    }
    if (versus) {
      j["versus_id"] = *versus;
      j["versus_token"] = token_text(*versus);
    }
    if (run_id) j["run_id"] = run_id;
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  std::printf("%lld heads scanned in %.2f s (%lld batched forwards); metric %s", static_cast<long long>(n), secs,
              static_cast<long long>(r.forwards), metric.c_str());
  if (ablate) std::printf(", %s ablation", to_string(so.ablation));
  if (so.prompt_loss) std::printf(", baseline loss %.4f", r.base_loss);
  if (target) {
    std::printf("\ntarget %s (id %lld)", nlohmann::json(token_text(*target)).dump().c_str(), static_cast<long long>(*target));
    if (versus)
      std::printf(" versus %s (id %lld)", nlohmann::json(token_text(*versus)).dump().c_str(), static_cast<long long>(*versus));
    std::printf(", baseline %.4f", base_score[0]);
  }
  else std::printf(", baseline top token %s", nlohmann::json(token_text(r.base.argmax().item<int64_t>())).dump().c_str());
  std::printf("\n%-6s %-10s %12s %12s\n", "rank", "head", "score", target ? "vs baseline" : "top token");
  for (int64_t k = 0; k < shown; ++k) {
    const auto i = static_cast<size_t>(order[static_cast<size_t>(k)]);
    const std::string name = head_name(r.heads[i].first, r.heads[i].second);
    if (target)
      std::printf("%-6lld %-10s %12.4f %+12.4f\n", static_cast<long long>(k + 1), name.c_str(), score[i],
                  score[i] - base_score[0]);
    else
      std::printf("%-6lld %-10s %12.4g %12s\n", static_cast<long long>(k + 1), name.c_str(), score[i],
                  nlohmann::json(token_text(argmax[i])).dump().c_str());
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
