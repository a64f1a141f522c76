// capture: full attention maps of chosen heads and statistics of every head for one prompt.
// influence: Influence and rollout traces of a span.
#include <ATen/ATen.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <filesystem>
#include <regex>

#include "app/cli/commands.h"
#include "app/cli/model_args.h"
#include "app/cli/prompt_setup.h"
#include "core/engine/head_stats.h"
#include "core/engine/tensor_io.h"
#include "core/steering/head_config.h"
#include "workbench/recipes.h"

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

// A row-major float array as a CPU tensor of `sizes` (copied: the tensor owns its data).
at::Tensor as_tensor(const std::vector<float>& v, at::IntArrayRef sizes) {
  return at::from_blob(const_cast<float*>(v.data()), sizes, at::kFloat).clone();
}

int cmd_capture(const Args& a) {
  auto m = load_model(a);
  PromptSetup ps = setup_prompt(a, *m);
  const ModelConfig& c = m->config();
  const auto T = static_cast<int64_t>(ps.ids.size());
  wb::CaptureRequest req;
  req.prompt = ps.ids;
  req.bias = ps.bias.get();
  req.spans = ps.spans;
  req.token_stats = true;
  if (a.has("heads")) req.maps = parse_heads(a.get("heads"), c);
  req.cancel = &interrupted();
  const wb::CaptureOutput cap = wb::capture(*m, req);
  const wb::HeadStatsTable& st = *cap.stats;
  const wb::HeadTokenStats& ts = *cap.token_stats;
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const wb::AttentionMap& mp : cap.maps)
    out.push_back({"probs." + head_name(mp.layer, mp.head), as_tensor(mp.values, {mp.rows, mp.cols})});
  out.push_back({"head_stats", as_tensor(st.values, {st.layers, st.heads, static_cast<int64_t>(st.names.size())})});
  out.push_back({"head_token_stats",
                 as_tensor(ts.values, {ts.layers, ts.heads, static_cast<int64_t>(ts.names.size()), ts.tokens})});
  int64_t run_id = 0;
  if (auto rec = open_recorder(a)) {
    run_id = rec->start("capture", *m, ps, {}, 0);
    wb::add_head_stats(rec->store(), rec->run_id(), st);
    for (const wb::AttentionMap& mp : cap.maps)
      rec->store().add_attention_map(rec->run_id(), static_cast<int32_t>(mp.layer), static_cast<int32_t>(mp.head),
                                     "prefill", to_matrix(mp.rows, mp.cols, mp.values));
    rec->finish();
  }
  out.push_back({"input_ids", at::tensor(ps.ids, at::kLong)});
  nlohmann::json spans = ps.spans;
  save_tensors(a.get("out"), out,
               {{"stats_names", nlohmann::json(st.names).dump()},
                {"token_stats_names", nlohmann::json(ts.names).dump()},
                {"distance_window", std::to_string(HeadStatsRecorder::kDefaultDistanceWindow)}, {"spans", spans.dump()},
                {"steering", ps.spec_json}});
  nlohmann::json summary = {{"out", a.get("out")}, {"tokens", T}, {"maps", cap.maps.size()}};
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
  wb::CaptureRequest req;
  req.prompt = ps.ids;
  req.bias = ps.bias.get();
  req.stats = false;
  req.influence_span = span;
  const std::string norms = a.get("norms", "residual");
  if (norms == "guide") req.norms = InfluenceNorms::Guide;
  else if (norms == "residual") req.norms = InfluenceNorms::Residual;
  else throw Error("--norms: expected guide or residual, got \"" + norms + "\"");
  const int k = static_cast<int>(a.get_int("last-k", 5));
  req.last_k = k;
  req.cancel = &interrupted();
  const wb::CaptureOutput cap = wb::capture(*m, req);
  const wb::InfluenceCurves& tr = *cap.influence;
  int64_t run_id = 0;
  if (auto rec = open_recorder(a)) {
    // Which norms weighted the Influence recursion: runs with another variant are not comparable.
    run_id = rec->start("influence", *m, ps, {}, 0, "norms: " + norms);
    wb::add_influence_traces(rec->store(), rec->run_id(), tr);
    rec->finish();
  }
  save_tensors(a.get("out"),
               {{"influence", as_tensor(tr.influence, {tr.layers + 1, tr.tokens})},
                {"rollout", as_tensor(tr.rollout, {tr.layers + 1, tr.tokens})}},
               {{"span", nlohmann::json({span.first, span.second}).dump()}, {"norms", norms}, {"steering", ps.spec_json}});
  nlohmann::json j = {{"tokens", T}, {"span", {span.first, span.second}}, {"influence_lastk", cap.influence_lastk},
                      {"rollout_lastk", cap.rollout_lastk}, {"last_k", k}, {"norms", norms}};
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
