// One head at a time, batched: the next-token distribution of a prompt with only head (l, h) steered, for every
// candidate head of a steering. The inner loop of multi-task head profiling (methods.md §3): the rows of one
// forward steer different heads of one layer (a per-row AttentionBias), every layer below that layer is the
// unsteered prefill's (computed once, branched from), and prompt positions before the first key a head biases
// unevenly keep their unsteered keys and values (softmax cancels a constant bias). Only the last position's
// logits are computed. Equal to one full steered forward per head, to float rounding.
// With effect Ablate the candidates are ablated alone instead (zero or mean, the per-row HeadAblation), every prompt
// position recomputed from the candidate's layer up: AttentionInfluence's head masking, with prompt_loss its score.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "core/engine/model.h"
#include "core/job.h"

namespace hl {

// What is done to each candidate head: its steering bias row, or ablation of its output.
enum class HeadEffect { Steer, Ablate };

struct HeadScanOptions {
  HeadEffect effect = HeadEffect::Steer;
  AblationMode ablation = AblationMode::Zero;  // effect Ablate: zero or mean (means of the unsteered prompt)
  // Also the prompt's language-model loss (mean next-token NLL over positions 0..T-2) per head and unsteered; the
  // whole prompt is then recomputed from each candidate's layer (no prefix reuse).
  bool prompt_loss = false;
  int64_t max_rows = 0;              // rows (heads) per batched forward; 0 = all candidate heads of one layer
  bool reuse_prompt_prefix = true;   // off: every prompt position of the steered layers is recomputed
  // Non-empty: keep only the log-probabilities of these token ids (log-softmax over the whole vocabulary) instead
  // of whole logit rows: a scorer that compares a few tokens needs [heads, W], not [heads, V].
  std::vector<int64_t> watch_tokens;
  const CancelToken* cancel = nullptr;  // checked between batched forwards
  ProgressFn progress;                  // after each batched forward; done/total count heads
};

struct HeadScanResult {
  std::vector<std::pair<int64_t, int64_t>> heads;  // (layer, head) scanned, in layer-major order
  // Float32 on the CPU. Without watch_tokens: base [V] and per-head [n, V] next-token logits; with: base [W] and
  // per-head [n, W] log-probabilities of the watched tokens. Rows of heads not reached before a cancel stay 0.
  at::Tensor base;
  at::Tensor steered;
  // prompt_loss: the unsteered loss and [n] float64 per-head losses (0 for heads not reached before a cancel).
  double base_loss = 0;
  std::vector<double> loss;
  int64_t done = 0;  // heads scanned (all of them unless cancelled)
  bool cancelled = false;
  int64_t forwards = 0;            // batched forwards run (for the bench)
  int64_t recomputed_tokens = 0;   // sum over forwards of rows x positions x layers recomputed
};

// candidates: batch 1, the model's layers and heads, prompt_len = prompt size. Each active (l, h) is one candidate,
// steered alone with its own key-bias row (and candidates.apply_at); with effect Ablate every head the candidates
// bias or ablate is one candidate, ablated alone with opt.ablation. Throws hl::Error on shape mismatches, an
// empty prompt, or a watched token outside the vocabulary.
HeadScanResult scan_heads(const Model& model, const std::vector<int64_t>& prompt, const AttentionBias& candidates,
                          const HeadScanOptions& opt = {});

}  // namespace hl
