// The second operator on heads, next to the attention bias: head ablation. An ablated head's output (its attention-
// weighted values, before the output projection) is multiplied by 0 ("zero") or replaced by its mean over the
// prompt's positions in the unsteered forward ("mean", as TransformerLens-style mean ablation and
// AttentionInfluence's head masking). Per (batch row, layer, query head), so that one batched forward can ablate a
// different head per row and GQA models ablate query heads, not KV groups. The means are data of the prompt, not of
// the spec: the engine fills them (engine::fill_ablation_means) before a forward that mean-ablates. Torch-free.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace hl {

enum class AblationMode : uint8_t { None = 0, Zero = 1, Mean = 2 };
const char* to_string(AblationMode m);

class HeadAblation {
 public:
  HeadAblation() = default;
  HeadAblation(int64_t batch, int64_t layers, int64_t heads);

  int64_t batch() const { return batch_; }
  int64_t layers() const { return layers_; }
  int64_t heads() const { return heads_; }

  // Ablates (b, layer, head) with `mode` (None clears it); b = -1 means every row.
  void set(int64_t b, int64_t layer, int64_t head, AblationMode mode);
  AblationMode mode(int64_t b, int64_t layer, int64_t head) const {
    return modes_.empty() ? AblationMode::None : static_cast<AblationMode>(modes_[idx(b, layer, head)]);
  }
  bool any() const { return count_ > 0; }
  bool layer_any(int64_t layer) const;
  bool row_any(int64_t b) const;
  int64_t lowest_layer() const;  // -1 if none
  bool any_mean() const;

  // Mean head outputs for mean ablation: `rows` x layers x heads x head_dim floats, rows = 1 (every batch row has
  // the same prompt) or batch(). Replaces earlier means.
  void set_means(int64_t head_dim, int64_t rows, std::vector<float> means);
  bool has_means() const { return head_dim_ > 0; }
  // Whether some head is mean-ablated and no means were given yet.
  bool needs_means() const { return any_mean() && !has_means(); }
  int64_t head_dim() const { return head_dim_; }
  // [head_dim] mean output of (b, layer, head); only when has_means().
  const float* mean(int64_t b, int64_t layer, int64_t head) const;

  // Every row equal to row 0 (for batched generation), means included.
  HeadAblation broadcast_to(int64_t batch) const;

  bool operator==(const HeadAblation& o) const;

 private:
  size_t idx(int64_t b, int64_t l, int64_t h) const { return static_cast<size_t>((b * layers_ + l) * heads_ + h); }
  void check(int64_t b, int64_t layer, int64_t head) const;
  int64_t batch_ = 0, layers_ = 0, heads_ = 0;
  std::vector<uint8_t> modes_;
  int64_t count_ = 0;  // (row, layer, head) entries with a mode other than None
  int64_t head_dim_ = 0, mean_rows_ = 0;
  std::vector<float> means_;
};

}  // namespace hl
