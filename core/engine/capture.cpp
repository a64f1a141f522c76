#include "core/engine/capture.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "core/error.h"
#include "core/steering/head_config.h"

namespace hl {

AttentionRecorder::AttentionRecorder(int64_t layers, int64_t heads, std::vector<std::pair<int64_t, int64_t>> only)
    : layers_(layers), heads_(heads), all_(only.empty()), only_(std::move(only)) {
  for (const auto& [l, h] : only_)
    if (l < 0 || l >= layers_ || h < 0 || h >= heads_)
      throw Error("capture: head " + head_name(l, h) + " is outside the model (" +
                  std::to_string(layers_) + " layers x " + std::to_string(heads_) + " heads)");
}

bool AttentionRecorder::wants_layer(int64_t layer, Phase phase) const {
  if (phase != Phase::Prefill) return false;
  return all_ || std::any_of(only_.begin(), only_.end(), [&](const auto& p) { return p.first == layer; });
}

void AttentionRecorder::on_forward_begin(Phase phase, int64_t batch, int64_t q_begin, int64_t tokens) {
  active_ = phase == Phase::Prefill;
  if (!active_) return;
  tokens_ = tokens;
  maps_.clear();
}

void AttentionRecorder::on_attention(const AttentionView& view) {
  if (!active_) return;
  const auto* probs = static_cast<const at::Tensor*>(view.native());  // [B, H, R, S]
  if (!probs) return;
  for (int64_t h = 0; h < view.heads; ++h) {
    std::pair<int64_t, int64_t> key{view.layer, h};
    if (!all_ && std::find(only_.begin(), only_.end(), key) == only_.end()) continue;
    at::Tensor& m = maps_[key];
    if (!m.defined()) m = at::zeros({tokens_, tokens_}, at::kFloat);
    m.narrow(0, view.q_begin, view.rows())
        .narrow(1, 0, probs->size(-1))
        .copy_(probs->select(0, 0).select(0, h).to(at::kCPU, at::kFloat));
  }
}

at::Tensor AttentionRecorder::all() const {
  at::Tensor out = at::zeros({layers_, heads_, tokens_, tokens_}, at::kFloat);
  for (const auto& [k, m] : maps_) out[k.first][k.second].copy_(m);
  return out;
}

at::Tensor AttentionRecorder::head(int64_t layer, int64_t head) const {
  auto it = maps_.find({layer, head});
  if (it == maps_.end()) throw Error("capture: head " + head_name(layer, head) + " was not recorded");
  return it->second;
}

}  // namespace hl
