// capture: full attention maps of chosen heads and statistics of every head for one prompt.
// influence: Influence and rollout traces of a span.
#include <ATen/ATen.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <filesystem>
#include <regex>

#include "analysis/influence.h"
#include "app/cli/commands.h"
#include "app/cli/model_args.h"
#include "app/cli/prompt_setup.h"
#include "core/engine/capture.h"
#include "core/engine/head_stats.h"
#include "core/engine/tensor_io.h"
#include "core/head_config.h"
#include "core/observer_fanout.h"

namespace hl::cli {
namespace {

// --heads in any head-set form (L1H0,L2H3; L3 = every head of layer 3; a PASTA config file), through the one parser.
std::vector<std::pair<int64_t, int64_t>> parse_heads(const std::string& s, const ModelConfig& c) {
  HeadSet set = std::filesystem::exists(s) ? load_head_config(s) : parse_head_set_text(s, "--heads");
  set.validate(c.n_layers, c.n_heads, "--heads");
  std::vector<std::pair<int64_t, int64_t>> out;
  for (const auto& r : set.expand(c.n_layers, c.n_heads)) out.emplace_back(r.layer, r.head);
  return out;
}

int cmd_capture(const Args& a) {
  auto m = load_model(a);
  PromptSetup ps = setup_prompt(a, *m);
  const ModelConfig& c = m->config();
  const auto T = static_cast<int64_t>(ps.ids.size());
  std::vector<std::pair<int64_t, int64_t>> heads;
  if (a.has("heads")) heads = parse_heads(a.get("heads"), c);
  std::vector<uint8_t> span_keys(static_cast<size_t>(T), 0);
  int64_t after = ps.spans.empty() ? T : 0;  // "after the span": rows past the end of the last span
  for (auto [s, e] : ps.spans) {
    for (int64_t j = s; j < e && j < T; ++j) span_keys[static_cast<size_t>(j)] = 1;
    after = std::max(after, e);
  }
  HeadStatsRecorder stats(c.n_layers, c.n_heads, span_keys, after);
  AttentionRecorder maps(c.n_layers, c.n_heads, heads);
  ObserverFanout fan;
  fan.obs.push_back(&stats);
  if (!heads.empty()) fan.obs.push_back(&maps);
  KVCache cache = m->new_cache(1, T);
  ForwardOptions fo;
  fo.bias = ps.bias.get();
  fo.observer = &fan;
  fo.cancel = &interrupted();
  m->forward(at::tensor(ps.ids, at::kLong).unsqueeze(0), cache, fo);
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (auto [l, h] : heads)
    out.push_back({"probs." + head_name(l, h), maps.head(l, h)});
  at::Tensor st = stats.stats()[0];
  out.push_back({"head_stats", st});
  out.push_back({"head_token_stats", stats.token_stats()[0]});  // [L, H, 2, T]
  int64_t run_id = 0;
  if (auto rec = open_recorder(a)) {
    run_id = rec->start("capture", *m, ps, {}, 0);
    std::vector<store::HeadStat> hs;
    for (int64_t l = 0; l < c.n_layers; ++l)
      for (int64_t h = 0; h < c.n_heads; ++h)
        for (size_t k = 0; k < HeadStatsRecorder::names().size(); ++k)
          hs.push_back({static_cast<int32_t>(l), static_cast<int32_t>(h), HeadStatsRecorder::names()[k],
                        st[l][h][static_cast<int64_t>(k)].item<double>()});
    rec->store().add_head_stats(rec->run_id(), hs);
    for (auto [l, h] : heads) {
      at::Tensor mp = maps.head(l, h).contiguous();
      rec->store().add_attention_map(rec->run_id(), static_cast<int32_t>(l), static_cast<int32_t>(h), "prefill",
                                     to_matrix(T, T, std::vector<float>(mp.data_ptr<float>(), mp.data_ptr<float>() + mp.numel())));
    }
    rec->finish();
  }
  out.push_back({"input_ids", at::tensor(ps.ids, at::kLong)});
  nlohmann::json spans = ps.spans;
  save_tensors(a.get("out"), out,
               {{"stats_names", nlohmann::json(HeadStatsRecorder::names()).dump()},
                {"token_stats_names", nlohmann::json(HeadStatsRecorder::token_names()).dump()},
                {"distance_window", std::to_string(HeadStatsRecorder::kDefaultDistanceWindow)}, {"spans", spans.dump()},
                {"steering", ps.spec_json}});
  nlohmann::json summary = {{"out", a.get("out")}, {"tokens", T}, {"maps", heads.size()}};
  if (run_id) summary["run_id"] = run_id;
  std::printf("%s\n", summary.dump().c_str());
  return 0;
}

int cmd_influence(const Args& a) {
  auto m = load_model(a);
  PromptSetup ps = setup_prompt(a, *m);
  const auto T = static_cast<int64_t>(ps.ids.size());
  std::pair<int64_t, int64_t> span;
  if (a.has("span")) {
    std::smatch sm;
    std::string s = a.get("span");
    if (!std::regex_match(s, sm, std::regex(R"((\d+):(\d+))"))) throw Error("--span: expected A:B (token range, end exclusive)");
    span = {std::stoll(sm[1]), std::stoll(sm[2])};
  } else if (ps.influence_span) {
    span = *ps.influence_span;
  } else if (!ps.spans.empty()) {
    span = ps.spans.front();
  } else {
    throw Error("influence: give --span A:B, a <?-> <-?> tag, or a steering spec with a span");
  }
  if (span.first < 0 || span.first >= span.second || span.second > T)
    throw Error("--span " + std::to_string(span.first) + ":" + std::to_string(span.second) +
                " must be a non-empty range inside the prompt's " + std::to_string(T) + " tokens");
  InfluenceConfig ic;
  ic.indicator.assign(static_cast<size_t>(T), 0.0f);
  for (int64_t j = span.first; j < span.second; ++j) ic.indicator[static_cast<size_t>(j)] = 1.0f;
  const std::string norms = a.get("norms", "residual");
  if (norms == "guide") ic.norms = InfluenceNorms::Guide;
  else if (norms == "residual") ic.norms = InfluenceNorms::Residual;
  else throw Error("--norms: expected guide or residual, got \"" + norms + "\"");
  InfluenceTracer tracer(ic);
  KVCache cache = m->new_cache(1, T);
  ForwardOptions fo;
  fo.bias = ps.bias.get();
  fo.observer = &tracer;
  fo.cancel = &interrupted();
  m->forward(at::tensor(ps.ids, at::kLong).unsqueeze(0), cache, fo);
  InfluenceTrace tr = tracer.trace(0);
  const int64_t L = m->config().n_layers;
  auto as_tensor = [&](std::vector<float>& v) { return at::from_blob(v.data(), {L + 1, T}, at::kFloat).clone(); };
  const int k = static_cast<int>(a.get_int("last-k", 5));
  int64_t run_id = 0;
  if (auto rec = open_recorder(a)) {
    // Which norms weighted the Influence recursion: runs with another variant are not comparable.
    run_id = rec->start("influence", *m, ps, {}, 0, "norms: " + norms);
    const std::string sp = std::to_string(span.first) + ":" + std::to_string(span.second);
    rec->store().add_trace(rec->run_id(), sp, "influence", std::nullopt, to_matrix(L + 1, T, tr.influence));
    rec->store().add_trace(rec->run_id(), sp, "rollout", std::nullopt, to_matrix(L + 1, T, tr.rollout));
    rec->finish();
  }
  save_tensors(a.get("out"), {{"influence", as_tensor(tr.influence)}, {"rollout", as_tensor(tr.rollout)}},
               {{"span", nlohmann::json({span.first, span.second}).dump()}, {"norms", norms}, {"steering", ps.spec_json}});
  nlohmann::json j = {{"tokens", T}, {"span", {span.first, span.second}}, {"influence_lastk", tr.influence_last_k_mean(k)},
                      {"rollout_lastk", tr.rollout_last_k_mean(k)}, {"last_k", k}, {"norms", norms}};
  if (run_id) j["run_id"] = run_id;
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

RegisterCommand reg_capture(
    "capture", "attention maps of chosen heads and statistics of every head for one prompt",
    model_options() + prompt_options() +
        std::vector<OptionSpec>{text("heads", "L1H0,L2H3", "heads whose full maps are kept (any head-set form, or a PASTA config file)"),
                                text("out", "FILE.safetensors", "output file (required)"),
                                text("db", "FILE", "record the run in this store")},
    cmd_capture);
RegisterCommand reg_influence(
    "influence", "Influence and rollout of a span over the layers (GUIDE's metric)",
    model_options() + prompt_options() +
        std::vector<OptionSpec>{text("span", "A:B", "token range to trace, end exclusive (default: the spec's span)"),
                                text("norms", "guide|residual", "norms of the recursion (default residual)"),
                                integer("last-k", "K", "mean over the last K prompt tokens (default 5)", 1),
                                text("out", "FILE.safetensors", "output file (required)"),
                                text("db", "FILE", "record the run in this store")},
    cmd_influence);

}  // namespace
}  // namespace hl::cli
