// Engine-side observers that record attention as tensors: full maps for chosen heads (or all heads, for parity
// tests and `logits --attentions`). Only the heads asked for are copied; blocks are written in place.
#pragma once
#include <ATen/core/Tensor.h>

#include <map>
#include <utility>
#include <vector>

#include "core/attention_observer.h"

namespace hl {

class AttentionRecorder : public AttentionObserver {
 public:
  // Records prefill probabilities of batch row 0. heads empty = every head of every layer.
  AttentionRecorder(int64_t layers, int64_t heads, std::vector<std::pair<int64_t, int64_t>> only = {});

  bool wants_layer(int64_t layer, Phase phase) const override;
  bool wants_scores(int64_t, Phase) const override { return false; }  // probabilities only
  void on_forward_begin(Phase phase, int64_t batch, int64_t q_begin, int64_t tokens) override;
  void on_attention(const AttentionView& view) override;

  // [L, H, T, T] float32 on CPU (all heads mode).
  at::Tensor all() const;
  // [T, T] float32 on CPU for one recorded head.
  at::Tensor head(int64_t layer, int64_t head) const;

 private:
  int64_t layers_, heads_, tokens_ = 0;
  bool all_;
  std::vector<std::pair<int64_t, int64_t>> only_;
  std::map<std::pair<int64_t, int64_t>, at::Tensor> maps_;
  bool active_ = false;
};

}  // namespace hl
