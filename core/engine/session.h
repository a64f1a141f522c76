// The interactive path behind the GUI's sliders: one prompt, an unsteered prefill kept with the residual stream
// entering every layer; each steering change re-runs the prompt only from the lowest layer the new bias touches
// (layers below it cannot see the bias), and only from the first prompt position whose keys the bias treats
// unevenly (earlier queries see one constant bias, which softmax cancels), then decodes. Results equal a full
// steered run (to float rounding: the full run adds the constant and subtracts it again). Head ablation (the
// bias's second operator) re-runs from the lowest ablated layer, every prompt position.
#pragma once
#include <ATen/core/Tensor.h>

#include <vector>

#include "core/engine/generate.h"
#include "core/engine/model.h"

namespace hl {

class SteeringSession {
 public:
  SteeringSession(const Model& model, std::vector<int64_t> prompt, int64_t max_new_tokens);

  const std::vector<int64_t>& prompt() const { return prompt_; }
  // The unsteered continuation (computed once, on first use).
  const GenerateResult& baseline(const GenerateOptions& opt);
  // A steered continuation; opt.bias is the steering (batch 1, prompt_len = prompt size). Re-runs the prompt
  // from the lowest active layer of opt.bias. opt.cancel is checked between the re-prefill's layers (throws
  // hl::Cancelled; the session stays usable) and between decode steps (the result says cancelled).
  GenerateResult steered(const GenerateOptions& opt);
  // Layer the last steered() resumed from (0 = full prefill).
  int64_t last_resume_layer() const { return last_resume_; }
  // First prompt position the last steered() recomputed (0 = all; the prompt length when none was).
  int64_t last_resume_position() const { return last_resume_pos_; }
  // Whether steered() reuses the unsteered prompt positions before the first uneven key (default true; off,
  // every prompt position of the recomputed layers is recomputed). With an observer it always recomputes all:
  // observers see whole prompts.
  void set_reuse_prompt_prefix(bool on) { reuse_prefix_ = on; }
  // Next-token logits [V] after the prompt, of the last steered() run (the baseline's before any).
  const at::Tensor& last_prompt_logits() const { return last_logits_; }

 private:
  void prefill_baseline(const CancelToken* cancel);

  const Model& model_;
  std::vector<int64_t> prompt_;
  int64_t max_new_;
  bool have_prefill_ = false;
  KVCache base_cache_;
  // Working cache of steered(): allocated once; layers below work_clean_below_ hold the baseline's prompt entries
  // (steered runs rewrite the layers from their lowest steered layer up, decoding writes past the prompt only).
  KVCache work_cache_;
  int64_t work_clean_below_ = 0;
  bool have_work_cache_ = false;
  std::vector<at::Tensor> layer_inputs_;
  at::Tensor base_first_logits_;
  bool have_baseline_ = false;
  GenerateResult baseline_;
  int64_t last_resume_ = 0, last_resume_pos_ = 0;
  bool reuse_prefix_ = true;
  at::Tensor last_logits_;
  std::vector<float> head_means_;  // unsteered mean head outputs of the prompt (for mean ablation), once needed
};

}  // namespace hl
