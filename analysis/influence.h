// GUIDE Influence and attention rollout of a token span, traced during the prefill forward (methods.md §4.3,
// §4.4). The tracer is an AttentionObserver: per layer it applies the layer's attention to last layer's
// influence vector (a mat-vec per block of query rows) and mixes it with the per-token norms the engine hands
// over at the end of the layer. State is O(L·n) per batch row: never an n×n matrix per layer.
//
// Recursions, for layer l = 0..L-1 and token k (I^(-1) = R^(-1) = indicator of the span):
//   Influence: Î_k = Σ_j Ā_kj I_j ;  I^(l)_k = (‖e_k‖ I^(l-1)_k + ‖o_k‖ Î_k) / (‖e_k‖ + ‖o_k‖)
//   Rollout:   R^(l)_k = (r R^(l-1)_k + (1-r) Σ_j A_kj R^(l-1)_j) / (r + (1-r) Σ_j A_kj)
// with o = attention output (after o_proj), e = see InfluenceNorms, A = head fusion of the layer's attention.
// For mean fusion the rollout denominator is 1 (rows of a probability matrix sum to 1); max/min fusion rows do
// not, and the renormalisation keeps R in [0, 1] as in Abnar & Zuidema's (A + I) row-normalised form.
#pragma once
#include <cstdint>
#include <vector>

#include "core/attention_observer.h"

namespace hl {

enum class InfluenceNorms {
  // e = attention input (after the layer's first norm) of the PREVIOUS layer; layer 0 uses its own. This is
  // the one-layer lag of the official GUIDE code (fixtures/guide/README.md); needed to match its numbers.
  Guide,
  // e = residual stream entering the layer: what the paper's derivation intends.
  Residual,
};

// How Î (the influence carried by the attention output) is formed.
enum class InfluenceAttention {
  HeadMean,       // Ā = mean over heads (GUIDE's Influence)
  PerHead,        // per-head Î_h, averaged with weights = L2 norm of each head's output (GUIDE's InfluenceHeads)
  // Î_k = Σ_j Ā_kj ‖v_j‖₁ I_j / Σ_j Ā_kj ‖v_j‖₁ with ‖v_j‖₁ over all query heads' values (GQA repeated).
  // The value norms come with each attention block (AttentionView::value_norms): two mat-vecs, O(n) state.
  ValueWeighted,
};

enum class HeadFusion { Mean, Max, Min };

struct InfluenceConfig {
  // Span indicator by absolute token position; positions past its end count as 0. Shared by all batch rows
  // unless row_indicators gives one per row (needed when rows are padded differently).
  std::vector<float> indicator;
  std::vector<std::vector<float>> row_indicators;

  bool influence = true;  // compute Influence
  bool rollout = true;    // compute rollout (same pass)

  InfluenceNorms norms = InfluenceNorms::Guide;
  int p = 1;  // norm order of ‖e‖, ‖o‖ (1 in all released code; 2 allowed)
  InfluenceAttention attention = InfluenceAttention::HeadMean;

  HeadFusion rollout_fusion = HeadFusion::Mean;
  float rollout_residual = 0.5f;  // r: weight of the identity (residual) path

  // Convenience: indicator of the half-open span [begin, end).
  static std::vector<float> span_indicator(int64_t begin, int64_t end);
};

// Per-layer influence and rollout of one batch row. Row 0 is the indicator (layer -1), row l+1 is layer l.
struct InfluenceTrace {
  int layers = 0;
  int tokens = 0;
  std::vector<float> influence;  // [(layers+1) x tokens], empty when not computed
  std::vector<float> rollout;    // same layout

  // layer in [-1, layers-1]; throws hl::Error out of range or when that quantity was not computed.
  std::vector<float> influence_at(int layer) const;
  std::vector<float> rollout_at(int layer) const;
  // Mean of the last layer's values over the last k tokens (the "influence of last tokens" feature).
  double influence_last_k_mean(int k = 5) const;
  double rollout_last_k_mean(int k = 5) const;
};

class InfluenceTracer : public AttentionObserver {
 public:
  explicit InfluenceTracer(InfluenceConfig config);

  // Drops all traced state (the config stays), e.g. to reuse the tracer for another prompt.
  void reset();

  void on_forward_begin(Phase phase, int64_t batch, int64_t q_begin, int64_t tokens) override;
  bool wants_layer(int64_t layer, Phase phase) const override { return phase == Phase::Prefill; }
  bool wants_scores(int64_t, Phase) const override { return false; }  // probabilities only
  void on_attention(const AttentionView& view) override;
  void on_layer_end(const LayerView& view) override;
  void on_forward_end() override;

  int64_t batch_size() const { return static_cast<int64_t>(rows_.size()); }
  int64_t tokens() const { return tokens_; }
  int64_t layers() const { return layers_; }
  // The trace of batch row b. Throws hl::Error if b is out of range or a layer is incomplete.
  InfluenceTrace trace(int64_t b = 0) const;
  const InfluenceConfig& config() const { return config_; }

 private:
  struct RowState {
    std::vector<float> indicator;                 // [tokens]
    std::vector<std::vector<float>> influence;    // per layer l: I^(l) [tokens]
    std::vector<std::vector<float>> rollout;      // per layer l: R^(l) [tokens]
  };
  // A block of head-fused or head-mean rows kept until the end of the layer (value-weighted variant only).

  const std::vector<float>& previous_influence(int64_t b, int64_t layer) const;
  const std::vector<float>& previous_rollout(int64_t b, int64_t layer) const;
  void begin_layer(int64_t layer, int64_t heads);
  void trace_rollout(const AttentionView& view);
  void trace_influence_attention(const AttentionView& view);

  InfluenceConfig config_;
  std::vector<RowState> rows_;
  int64_t tokens_ = 0;  // prompt tokens seen so far (grows over chunked prefill forwards)
  int64_t layers_ = 0;  // layers completed by the first forward

  // Current forward and layer.
  bool active_ = false;
  int64_t fwd_begin_ = 0, fwd_tokens_ = 0;
  int64_t layer_ = -1;        // layer being traced in this forward
  int64_t next_layer_ = 0;    // the layer expected next
  int64_t heads_ = 0;
  int64_t rows_seen_ = 0;     // query rows delivered by on_attention for layer_
  std::vector<float> attn_hat_;        // [batch][fwd_tokens] Î (HeadMean) or [batch][heads][fwd_tokens] (PerHead)
  std::vector<float> prev_attn_input_; // [batch][fwd_tokens]: previous layer's attention-input norms (Guide)
};

}  // namespace hl
