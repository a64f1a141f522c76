// Capture hooks on attention. The engine calls an observer for every layer of every forward (prefill and
// each decode step); the observer pulls only what it needs through the views, so nothing is materialised
// that no observer asked for. Views are valid only during the callback. Torch-free: analysis code consumes
// plain float buffers (e.g. as Eigen maps).
//
// Long prompts are processed in blocks of query rows, so one callback may see rows [q_begin, q_end) only;
// every quantity below is row-separable, and on_layer_end marks the end of a layer.
#pragma once
#include <cstdint>

namespace hl {

enum class Phase { Prefill, Decode };

// Post-softmax attention probabilities of one layer for a block of query rows, all batch rows and all
// query heads (steering bias included).
class AttentionView {
 public:
  virtual ~AttentionView() = default;
  int64_t layer = 0, batch = 0, heads = 0;
  int64_t q_begin = 0, q_end = 0;  // absolute query positions of this block
  int64_t keys = 0;                // key count (= cache length after this step)
  // Keys at or past valid_keys have probability 0 for every row of this block (causal: a block of query rows
  // never sees keys after its last row); the methods below still present all `keys` columns.
  int64_t valid_keys = 0;
  Phase phase = Phase::Prefill;
  int64_t rows() const { return q_end - q_begin; }

  // p[b, h, q_begin:q_end, 0:keys] row-major into out (rows() * keys floats).
  virtual void copy_head(int64_t b, int64_t h, float* out) const = 0;
  // Head mean: mean_h p[b, h, q, :], into out (rows() * keys floats).
  virtual void copy_head_mean(int64_t b, float* out) const = 0;
  // out[(b*heads + h)*rows + r] = sum_j p[b,h,q_begin+r,j] * v[b*keys + j]   (attention applied to a scalar per key)
  virtual void head_matvec(const float* v, float* out) const = 0;
  // out[b*rows + r] = sum_j (mean_h p[b,h,q_begin+r,j]) * v[b*keys + j]
  virtual void head_mean_matvec(const float* v, float* out) const = 0;
  // out[b*keys + j] = L1 norm of key j's value vectors concatenated over query heads (GQA groups repeated).
  virtual void value_norms(float* out) const = 0;
  // Engine-side observers (core/engine) may reach the native tensor ([B, H, rows, valid_keys] float32 at::Tensor);
  // nullptr for others.
  virtual const void* native() const { return nullptr; }
  // The pre-softmax scores of the same block (bias added; masked keys hold the lowest float, so that
  // p * s is 0 there), for engine-side observers; nullptr for others and when no observer wants_scores.
  virtual const void* native_scores() const { return nullptr; }
};

// Per-layer quantities for Influence: the residual stream entering the layer, the attention input (after the
// layer's first norm), the attention output (after the output projection, before the residual add), the
// per-head outputs (before the output projection), and value vectors.
class LayerView {
 public:
  virtual ~LayerView() = default;
  int64_t layer = 0, batch = 0, tokens = 0;  // tokens of this forward (query rows)
  int64_t q_begin = 0;                        // absolute position of the first row
  int64_t heads = 0;
  Phase phase = Phase::Prefill;

  enum class Which { ResidualIn, AttnInput, AttnOutput };
  // out[b*tokens + t] = L1 norm of vector t of `which` (p = 1) or L2 norm (p = 2).
  virtual void norms(Which which, int p, float* out) const = 0;
  // out[(b*heads + h)*tokens + t] = L2 norm of head h's output at t, before the output projection.
  virtual void head_output_norms(float* out) const = 0;
  // out[b*keys + j] = L1 norm of the value vectors of key j, concatenated over query heads (GQA repeated),
  // for keys 0..keys-1 (cache included). keys = q_begin + tokens.
  virtual void value_norms(float* out) const = 0;
};

class AttentionObserver {
 public:
  virtual ~AttentionObserver() = default;
  // Called once per forward (prefill or decode step) before layer 0.
  virtual void on_forward_begin(Phase phase, int64_t batch, int64_t q_begin, int64_t tokens) {}
  // Return false to skip materialising anything for this layer (cheap path).
  virtual bool wants_layer(int64_t layer, Phase phase) const { return true; }
  // Whether on_attention reads AttentionView::native_scores() for this layer. Observers that read only
  // probabilities say no, and the engine then does not materialise the pre-softmax score block.
  virtual bool wants_scores(int64_t layer, Phase phase) const { return true; }
  virtual void on_attention(const AttentionView& view) {}
  virtual void on_layer_end(const LayerView& view) {}
  virtual void on_forward_end() {}
};

}  // namespace hl
