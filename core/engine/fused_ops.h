// Fused CPU kernels for float32 tensors: RMSNorm, rotary embedding, the gated SiLU of the MLP, and the attention's bias + causal mask +
// softmax. Each replaces 5-20 ATen ops (and their temporaries) with one pass over the data: at one token per
// step the forward is dominated by per-op dispatch, and at a few hundred tokens by the passes over the score
// matrix. Rows are split over ATen's intra-op threads; the per-row kernels come from the CPU kernel table
// (core/kernels/cpu_features.h). Other devices and dtypes take the ATen path (the *_applies functions say which).
#pragma once
#include <ATen/core/Tensor.h>

#include "core/formats/model_config.h"

namespace hl::engine {

// x [..., D] (rows = numel / D), w [D]: w * x / sqrt(mean(x^2) + eps), computed as HF does (float32).
bool fused_rms_norm_applies(const at::Tensor& x, const at::Tensor& w);
at::Tensor fused_rms_norm(const at::Tensor& x, const at::Tensor& w, double eps);

// x [B, T, N, hd], cos/sin [T, r/2] float32: rotates the first r dims of every head, then multiplies all dims
// by `scale` (the attention's 1/sqrt(hd) for queries: one pass instead of two).
bool fused_rope_applies(const at::Tensor& x, const at::Tensor& cos);
at::Tensor fused_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, RopeStyle style,
                      float scale = 1.0f);
// One step's queries and keys rotated, and its keys and values written into the KV cache, in one pass: q [B, T, H,
// hd], k and v [B, T, KVH, hd] (unit stride in hd: views into the QKV projection), cos/sin [T, r/2]. Returns the
// rotated queries times q_scale ([B, T, H, hd], contiguous) and writes the rotated keys and the values into
// k_cache/v_cache [B, KVH, capacity, hd] at positions [pos0, pos0 + T). The same floats as fused_rope + copies.
bool fused_rope_to_cache_applies(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& cos,
                                 const at::Tensor& k_cache, const at::Tensor& v_cache);
at::Tensor fused_rope_to_cache(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& cos,
                               const at::Tensor& sin, RopeStyle style, float q_scale, at::Tensor& k_cache,
                               at::Tensor& v_cache, int64_t pos0);

// h [..., 2 I] = [gate | up] (the fused gate/up projection): silu(gate) * up, [..., I].
bool fused_silu_gate_applies(const at::Tensor& h);
at::Tensor fused_silu_gate(const at::Tensor& h);

// Attention probabilities of a block of query rows. scores [B, H, R, Sv] (float32, contiguous; row r is the query
// at absolute position q_begin + r) and key_bias [B, H, S >= Sv] float32 or undefined. Key k is visible to query q
// when k <= q and, with a sliding window w > 0, k > q - w. Writes softmax(scores + bias) over the visible keys into
// probs (same shape; may be scores itself), 0 elsewhere. When keep_scores, scores is left holding scores + bias
// with masked keys at the lowest float (what the ATen path gives observers); otherwise it may be overwritten.
bool fused_softmax_applies(const at::Tensor& scores, const at::Tensor& key_bias);
void fused_bias_mask_softmax(at::Tensor& scores, const at::Tensor& key_bias, int64_t q_begin, int64_t sliding_window,
                             at::Tensor& probs, bool keep_scores);

// One block of attention for R query rows at absolute positions q_begin..q_begin+R-1: q [B, H, R, hd] (scaled;
// unit stride in hd, else copied), k/v [B, KVH, S, hd] with unit stride in hd (KV-cache views), of which keys
// [0, valid_keys) are used; key_bias [B, H, >= S] float32 or undefined. Returns [B, H, R, hd]: out_into when
// given (any strides with unit stride in hd, e.g. a transposed view of [B, R, H, hd], so the heads' outputs land
// side by side for the output projection without a copy), else a new tensor. For observers,
// *scores_out (if given) receives the [B, H, R, valid_keys] biased scores with masked keys at the lowest float,
// and *probs_out (if given) the probabilities (written into them as given when they already are contiguous
// float32 tensors of that shape, else allocated); without them no score block is allocated. Parallel over (batch
// row, head, row chunk), own register-tiled products: ATen's batched matmul runs the per-head products on one
// thread here, and a BLAS call per head costs its hand-off and packing at these sizes.
bool fused_attention_block_applies(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                   const at::Tensor& key_bias);
at::Tensor fused_attention_block(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                 const at::Tensor& key_bias, int64_t q_begin, int64_t valid_keys,
                                 int64_t sliding_window, at::Tensor* scores_out, at::Tensor* probs_out,
                                 const at::Tensor& out_into = at::Tensor());

// Attention of one query row per (batch row, head): q [B, H, 1, hd] (scaled), k/v [B, KVH, S, hd] with unit
// stride in hd (KV-cache views), key_bias [B, H, S] float32 or undefined; the query sits at position q_begin.
// Returns [B, H, 1, hd]; probs_out / scores_out (if given) receive the [B, H, 1, S] probabilities and the biased,
// masked scores. The decode step: replaces two batched matmuls (which ATen runs as a loop of per-head slices),
// the softmax and the reshapes around them.
bool fused_query_attention_applies(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                   const at::Tensor& key_bias);
at::Tensor fused_query_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                 const at::Tensor& key_bias, int64_t q_begin, int64_t sliding_window,
                                 at::Tensor* probs_out, at::Tensor* scores_out);

// Attention probabilities applied to one scalar per key, for observers (rollout, Influence): probs [B, H, R, Sv]
// float32 contiguous on the CPU, v [B, v_stride] (keys [0, Sv) used). mean_heads: out[b * R + r] = mean over h
// of sum_j probs[b, h, r, j] * v[b, j]; else out[(b * H + h) * R + r] per head. One parallel pass over probs
// (ATen's broadcast matmul runs one matrix-vector product per head on one thread).
bool probs_matvec_applies(const at::Tensor& probs);
void probs_matvec(const at::Tensor& probs, const float* v, int64_t v_stride, bool mean_heads, float* out);

}  // namespace hl::engine
