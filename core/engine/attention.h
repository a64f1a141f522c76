// Scaled dot-product attention with an additive per-(row, head, key) bias, causal / sliding-window masking,
// GQA without repeating K/V, query blocking for long prompts, and observer views. Internal to core/engine.
#pragma once
#include <ATen/ATen.h>

#include <utility>
#include <vector>

#include "core/attention_observer.h"

namespace hl::engine {

// Buffers for observers' score and probability blocks, reused by every attention block of one forward: a block
// of 256 rows over 8k keys is 75 MB, and allocated fresh per block it page-faulted in on every block and layer.
struct AttentionWorkspace {
  at::Tensor scores, probs;  // flat float32, grown to the largest block asked for
};

struct AttentionCall {
  int64_t layer = 0;
  int64_t q_begin = 0;          // absolute position of query row 0
  int64_t sliding_window = 0;   // 0 = none
  at::Tensor key_bias;          // [B, H, S] float32 or undefined
  std::vector<std::pair<int64_t, int64_t>> bias_heads;  // the (row, head) pairs key_bias is non-zero for; empty = all
  AttentionObserver* observer = nullptr;
  Phase phase = Phase::Prefill;
  // Upper bound on B * H * rows * S elements of one score block (memory per block = 4x bytes).
  int64_t max_block_elems = 32ll << 20;
  AttentionWorkspace* workspace = nullptr;  // observers' blocks reuse its buffers (views valid during the callback)
};

// Copies a tensor (any device / dtype) into a host float buffer, row-major.
void tensor_to_host(const at::Tensor& t, float* out);
// [B, S] L1 norm of each key's value vectors concatenated over the query heads (each of the KVH heads of
// values [B, KVH, S, hd] serves heads / KVH query heads).
at::Tensor value_l1_norms(const at::Tensor& values, int64_t heads);

// q: [B, H, T, hd] already scaled by 1/sqrt(hd); k, v: [B, KVH, S, hd] with S = q_begin + T.
// Returns [B, H, T, hd].
at::Tensor attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const AttentionCall& call);

}  // namespace hl::engine
