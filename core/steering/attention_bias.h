// The one steering operator: an additive bias on pre-softmax attention logits that depends only on
// (batch row, layer, query head, key position). PASTA, GUIDE and InstABoost all compile to it
// (methods.md §1). Stored as per-head key-bias vectors over the prompt, never as n x n masks.
// Keys at or past prompt_len (generated tokens) always get 0. It carries the second operator on heads too,
// `ablation` (core/head_ablation.h), so that a spec compiles to one object every forward path already takes. Torch-free.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/steering/head_ablation.h"

namespace hl {

enum class ApplyAt { All, Prefill };  // All: prefill and every decode step; Prefill: the prompt pass only

class AttentionBias {
 public:
  AttentionBias() = default;
  AttentionBias(int64_t batch, int64_t layers, int64_t heads, int64_t prompt_len);

  int64_t batch() const { return batch_; }
  int64_t layers() const { return layers_; }
  int64_t heads() const { return heads_; }
  int64_t prompt_len() const { return prompt_len_; }
  ApplyAt apply_at = ApplyAt::All;  // of the logit bias; ablation applies at every forward (prefill and decode)
  // Heads whose output is zeroed or mean-replaced (same batch, layers and heads as the bias).
  HeadAblation ablation;

  // Adds v to keys [key_begin, key_end) of (row b, layer l, head h); keys are clipped to the prompt.
  // b = -1 means every row.
  void add(int64_t b, int64_t layer, int64_t head, int64_t key_begin, int64_t key_end, float v);
  // Marks (b, l, h) active with its current (possibly all-zero) vector.
  void touch(int64_t b, int64_t layer, int64_t head);
  // Sets (b, l, h)'s vector to the prompt_len values at `keys` and marks it active (e.g. one head of another bias,
  // from its row()).
  void set(int64_t b, int64_t layer, int64_t head, const float* keys);

  // Logit bias only: (b, l, h) has a key-bias vector / layer l has one for some row and head.
  bool active(int64_t b, int64_t layer, int64_t head) const { return active_[idx(b, layer, head)] != 0; }
  bool layer_active(int64_t layer) const;
  bool any_key_bias() const;
  // Either operator: some head is biased or ablated.
  bool any_active() const;
  int64_t lowest_active_layer() const;  // lowest layer biased or ablated; -1 if none
  // The first key position at which some active head of row b has a bias different from its bias at key 0
  // (prompt_len if none). Queries before it see one constant bias on all their (causal) keys, which softmax
  // cancels: their attention, and so their hidden states in every layer, are the unsteered ones. 0 when row b
  // ablates a head: ablation changes the output at every position.
  int64_t first_uneven_key(int64_t b) const;
  // [prompt_len] biases of (b, l, h); all zeros when inactive.
  const float* row(int64_t b, int64_t layer, int64_t head) const { return &values_[idx(b, layer, head) * prompt_len_]; }

  // Copies this bias into a new one with `batch` rows, every row equal to row 0 (for batched generation).
  AttentionBias broadcast_to(int64_t batch) const;

 private:
  size_t idx(int64_t b, int64_t l, int64_t h) const { return static_cast<size_t>((b * layers_ + l) * heads_ + h); }
  int64_t batch_ = 0, layers_ = 0, heads_ = 0, prompt_len_ = 0;
  std::vector<float> values_;
  std::vector<uint8_t> active_;
};

}  // namespace hl
