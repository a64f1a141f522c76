// Statistics of every head, computed as attention runs (one layer's probabilities at a time, never kept):
// attention mass on the emphasised keys (mean over query rows after the span, and at the last position),
// entropy, max, attention to the first token (sink), and two metrics of the "preplan-and-anchor" head analysis:
//   attn_distance     windowed average attention distance of a query i, sum_j p_ij * min(i - j, W) (how far back a
//                     head looks, clipped at W keys: locally vs globally focused heads); per head, the mean over rows;
//   future_influence  the mean attention key j receives from later queries, sum_{i>j} p_ij / #{i > j} (how much
//                     later tokens anchor on j); per head, the mean over keys with a later query.
// Both also per token (token_stats). Prefill only; batch row by row; nothing n x n is kept (per-token sums only).
#pragma once
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "core/attention_observer.h"

namespace hl {

class HeadStatsRecorder : public AttentionObserver {
 public:
  // span_keys: [prompt] 0/1 mask of emphasised keys (may be empty: span statistics are then 0).
  // rows_after: query rows at or after this position count for "span_mass_after" (usually the span's end).
  // distance_window: W of attn_distance (keys further back than W count as W).
  HeadStatsRecorder(int64_t layers, int64_t heads, std::vector<uint8_t> span_keys, int64_t rows_after,
                    int64_t distance_window = kDefaultDistanceWindow);
  static constexpr int64_t kDefaultDistanceWindow = 16;

  static const std::vector<std::string>& names();        // the k statistics, in tensor order
  static const std::vector<std::string>& token_names();  // the per-token statistics, in token_stats() order

  bool wants_layer(int64_t layer, Phase phase) const override { return phase == Phase::Prefill; }
  void on_forward_begin(Phase phase, int64_t batch, int64_t q_begin, int64_t tokens) override;
  void on_attention(const AttentionView& view) override;

  // [B, L, H, k] float32 on CPU.
  at::Tensor stats() const;
  // [B, L, H, 2, S] float32 on CPU over the forward's positions S: attn_distance of query i, future_influence of
  // key j (0 for the last position, which no later query sees).
  at::Tensor token_stats() const;

 private:
  void accumulate_cpu(const AttentionView& view, const at::Tensor& p, const at::Tensor& s, at::Tensor& out);

  int64_t layers_, heads_;
  std::vector<uint8_t> span_;
  int64_t rows_after_;
  int64_t window_;
  int64_t tokens_ = 0, batch_ = 0, q0_ = 0;
  bool active_ = false;
  at::Tensor sums_;       // [B, L, H, k] accumulated on the model's device
  at::Tensor token_sums_; // [B, L, H, 2, S]: distance per query row, attention received from later rows per key
  at::Tensor span_mask_;  // [S] float on device (lazily built)
};

}  // namespace hl
