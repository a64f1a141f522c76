#include "workbench/recipes.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "core/engine/ablation.h"
#include "core/engine/head_stats.h"
#include "core/engine/model.h"
#include "core/error.h"
#include "core/steering/head_config.h"
#include "core/observer_fanout.h"
#include "core/tokenizers/tokenizer.h"

namespace hl::wb {
namespace {

// Full maps of chosen heads (or layer means) over every forward of a sequence: rows q_begin.. of each block land
// at their absolute positions, so a prompt pass and a continuation pass fill one [N, N] map. Torch-free views.
class MapRecorder : public AttentionObserver {
 public:
  MapRecorder(std::vector<std::pair<int64_t, int64_t>> heads, int64_t n) : heads_(std::move(heads)), n_(n) {
    maps_.resize(heads_.size());
    for (auto& m : maps_) m.assign(static_cast<size_t>(n_ * n_), 0.0f);
  }
  bool wants_layer(int64_t layer, Phase) const override {
    return std::any_of(heads_.begin(), heads_.end(), [&](const auto& p) { return p.first == layer; });
  }
  bool wants_scores(int64_t, Phase) const override { return false; }
  void on_attention(const AttentionView& v) override {
    const int64_t rows = v.rows(), keys = v.keys;
    if (v.q_end > n_ || keys > n_) throw Error("capture: a forward went past the map's " + std::to_string(n_) + " tokens");
    for (size_t i = 0; i < heads_.size(); ++i) {
      if (heads_[i].first != v.layer) continue;
      block_.resize(static_cast<size_t>(rows * keys));
      if (heads_[i].second < 0) v.copy_head_mean(0, block_.data());
      else v.copy_head(0, heads_[i].second, block_.data());
      for (int64_t r = 0; r < rows; ++r)
        std::copy_n(block_.data() + r * keys, keys, maps_[i].data() + (v.q_begin + r) * n_);
    }
  }
  std::vector<float> take(size_t i) { return std::move(maps_[i]); }

 private:
  std::vector<std::pair<int64_t, int64_t>> heads_;
  int64_t n_;
  std::vector<std::vector<float>> maps_;
  std::vector<float> block_;
};

}  // namespace

std::vector<std::string> token_labels(const Model& m, const std::vector<int64_t>& ids) {
  std::vector<std::string> out;
  out.reserve(ids.size());
  for (int64_t id : ids) {
    std::string t = m.tokenizer() ? m.tokenizer()->token_text(id) : std::to_string(id);
    std::string shown;
    for (char c : t) {
      if (c == '\n') shown += "\\n";
      else if (c == '\t') shown += "\\t";
      else if (static_cast<unsigned char>(c) < 0x20) shown += "?";
      else shown += c;
    }
    out.push_back(std::move(shown));
  }
  return out;
}

CaptureOutput capture(const Model& m, const CaptureRequest& req) {
  const ModelConfig& c = m.config();
  const auto T = static_cast<int64_t>(req.prompt.size());
  const int64_t N = T + static_cast<int64_t>(req.continuation.size());
  if (T == 0) throw Error("capture: empty prompt");
  for (auto [l, h] : req.maps)
    if (l < 0 || l >= c.n_layers || h < -1 || h >= c.n_heads)
      throw Error("capture: head " + (h < 0 ? "L" + std::to_string(l) : head_name(l, h)) + " is outside the model (" +
                  std::to_string(c.n_layers) + " layers x " + std::to_string(c.n_heads) + " heads)");
  std::vector<uint8_t> span_keys(static_cast<size_t>(T), 0);
  int64_t after = req.spans.empty() ? T : 0;  // "after the span": rows past the end of the last span
  for (auto [s, e] : req.spans) {
    for (int64_t j = std::max<int64_t>(s, 0); j < e && j < T; ++j) span_keys[static_cast<size_t>(j)] = 1;
    after = std::max(after, e);
  }
  ObserverFanout fan;
  std::unique_ptr<HeadStatsRecorder> stats;
  if (req.stats) {
    stats = std::make_unique<HeadStatsRecorder>(c.n_layers, c.n_heads, span_keys, after);
    fan.obs.push_back(stats.get());
  }
  std::unique_ptr<MapRecorder> maps;
  if (!req.maps.empty()) {
    maps = std::make_unique<MapRecorder>(req.maps, N);
    fan.obs.push_back(maps.get());
  }
  std::unique_ptr<InfluenceTracer> tracer;
  if (req.influence_span) {
    auto [a, b] = *req.influence_span;
    if (a < 0 || a >= b || b > T)
      throw Error("influence span " + std::to_string(a) + ":" + std::to_string(b) +
                  " must be a non-empty range inside the prompt's " + std::to_string(T) + " tokens");
    InfluenceConfig ic;
    ic.indicator = InfluenceConfig::span_indicator(a, b);
    ic.indicator.resize(static_cast<size_t>(T), 0.0f);
    ic.norms = req.norms;
    tracer = std::make_unique<InfluenceTracer>(ic);
    fan.obs.push_back(tracer.get());
  }
  KVCache cache = m.new_cache(1, N);
  ForwardOptions fo;
  fo.bias = req.bias;
  // Mean ablation: the prompt's unsteered means, filled once here so the continuation's pass has them too (the
  // prompt's forward alone would fill its own copy).
  AttentionBias with_means;
  if (req.bias && req.bias->ablation.needs_means()) {
    with_means = *req.bias;
    fill_ablation_means(m, at::tensor(req.prompt, at::kLong).unsqueeze(0), with_means);
    fo.bias = &with_means;
  }
  fo.observer = &fan;
  fo.cancel = req.cancel;
  m.forward(at::tensor(req.prompt, at::kLong).unsqueeze(0), cache, fo);
  CaptureOutput out;
  if (maps && N > T) {
    // The continuation as generation saw it: a decode pass over the cached prompt (ApplyAt::Prefill biases off).
    ObserverFanout only_maps;
    only_maps.obs.push_back(maps.get());
    ForwardOptions fd = fo;
    fd.observer = &only_maps;
    m.forward(at::tensor(req.continuation, at::kLong).unsqueeze(0), cache, fd);
  }
  if (stats) {
    at::Tensor st = stats->stats()[0].contiguous();  // [L, H, k]
    HeadStatsTable t;
    t.layers = c.n_layers;
    t.heads = c.n_heads;
    t.names = HeadStatsRecorder::names();
    t.values.assign(st.data_ptr<float>(), st.data_ptr<float>() + st.numel());
    out.stats = std::move(t);
    if (req.token_stats) {
      at::Tensor ts = stats->token_stats()[0].to(at::kFloat).contiguous();  // [L, H, k, T]
      HeadTokenStats tt;
      tt.layers = c.n_layers;
      tt.heads = c.n_heads;
      tt.tokens = T;
      tt.names = HeadStatsRecorder::token_names();
      tt.values.assign(ts.data_ptr<float>(), ts.data_ptr<float>() + ts.numel());
      out.token_stats = std::move(tt);
    }
  }
  if (maps) {
    std::vector<int64_t> all = req.prompt;
    all.insert(all.end(), req.continuation.begin(), req.continuation.end());
    std::vector<std::string> labels = token_labels(m, all);
    for (size_t i = 0; i < req.maps.size(); ++i) {
      AttentionMap am;
      am.layer = req.maps[i].first;
      am.head = req.maps[i].second;
      am.rows = am.cols = N;
      am.prompt_len = T;
      am.values = maps->take(i);
      am.token_texts = labels;
      out.maps.push_back(std::move(am));
    }
  }
  if (tracer) {
    InfluenceTrace tr = tracer->trace(0);
    out.influence_lastk = tr.influence_last_k_mean(req.last_k);
    out.rollout_lastk = tr.rollout_last_k_mean(req.last_k);
    InfluenceCurves ic;
    ic.layers = tr.layers;
    ic.tokens = tr.tokens;
    ic.span = {req.influence_span->first, req.influence_span->second};
    ic.influence = std::move(tr.influence);
    ic.rollout = std::move(tr.rollout);
    out.influence = std::move(ic);
  }
  return out;
}

}  // namespace hl::wb
