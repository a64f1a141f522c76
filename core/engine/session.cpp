#include "core/engine/session.h"

#include <ATen/ATen.h>

#include "core/engine/ablation.h"
#include "core/error.h"

namespace hl {

SteeringSession::SteeringSession(const Model& model, std::vector<int64_t> prompt, int64_t max_new_tokens)
    : model_(model), prompt_(std::move(prompt)), max_new_(max_new_tokens) {
  GenerateOptions o;
  o.max_new_tokens = max_new_;
  check_generation_fits(model_, static_cast<int64_t>(prompt_.size()), o);
}

void SteeringSession::prefill_baseline(const CancelToken* cancel) {
  if (have_prefill_) return;
  GenerateOptions o;
  o.max_new_tokens = max_new_;
  const auto T = static_cast<int64_t>(prompt_.size());
  base_cache_ = model_.new_cache(1, generation_capacity(T, o));
  ForwardOptions fo;
  fo.keep_layer_inputs = true;
  fo.cancel = cancel;
  ForwardResult r = model_.forward(at::tensor(prompt_, at::kLong).unsqueeze(0), base_cache_, fo);
  layer_inputs_ = std::move(r.layer_inputs);
  base_first_logits_ = r.logits.select(1, 0);
  last_logits_ = base_first_logits_[0];
  have_prefill_ = true;
}

const GenerateResult& SteeringSession::baseline(const GenerateOptions& opt) {
  if (!have_baseline_) {
    prefill_baseline(opt.cancel);
    GenerateOptions o = opt;
    o.bias = nullptr;
    o.max_new_tokens = std::min(opt.max_new_tokens, max_new_);
    KVCache cache = base_cache_.clone();
    baseline_ = continue_generation(model_, cache, base_first_logits_, o);
    have_baseline_ = !baseline_.cancelled;  // a cancelled baseline is partial: the next call decodes it again
  }
  return baseline_;
}

GenerateResult SteeringSession::steered(const GenerateOptions& opt) {
  prefill_baseline(opt.cancel);
  const auto T = static_cast<int64_t>(prompt_.size());
  GenerateOptions o = opt;
  o.max_new_tokens = std::min(opt.max_new_tokens, max_new_);
  const AttentionBias* bias = opt.bias;
  if (bias && (bias->batch() != 1 || bias->prompt_len() != T))
    throw Error("steering session: the bias must be for one row and this prompt's " + std::to_string(T) + " tokens");
  AttentionBias with_means;
  if (bias && bias->ablation.needs_means()) {
    // Mean ablation: the prompt's unsteered mean head outputs, computed once per session.
    if (head_means_.empty()) {
      KVCache c = model_.new_cache(1, T);
      ForwardOptions mo;
      mo.keep_head_means = true;
      head_means_ = head_means_to_host(model_.forward(at::tensor(prompt_, at::kLong).unsqueeze(0), c, mo).head_means);
    }
    with_means = *bias;
    with_means.ablation.set_means(model_.config().head_dim, 1, head_means_);
    bias = &with_means;
    o.bias = bias;
  }
  const int64_t lowest = bias ? bias->lowest_active_layer() : -1;
  const int64_t L = model_.config().n_layers;
  // Reuse the working cache: only the layers a previous steered run rewrote, and which this run keeps, are
  // restored from the baseline; no per-change allocation or full copy.
  if (!have_work_cache_) {
    work_cache_ = base_cache_.clone();
    work_clean_below_ = L;
    have_work_cache_ = true;
  }
  const int64_t keep = lowest < 0 ? L : lowest;  // layers [0, keep) must hold the baseline's prompt entries
  work_cache_.copy_prefix_from(base_cache_, T, std::min(work_clean_below_, keep), keep);
  work_cache_.truncate(T, 0);
  work_clean_below_ = keep;
  KVCache& cache = work_cache_;
  at::Tensor first;
  if (lowest < 0) {
    last_resume_ = model_.config().n_layers;
    last_resume_pos_ = T;
    first = base_first_logits_;
    last_logits_ = first[0];
  } else {
    last_resume_ = lowest;
    // Positions before p0 keep the baseline's keys and values in the recomputed layers too (at least the last
    // prompt position is recomputed: its logits start the continuation).
    const int64_t p0 = reuse_prefix_ && !opt.observer ? std::min(bias->first_uneven_key(0), T - 1) : 0;
    last_resume_pos_ = p0;
    if (p0 > 0) cache.copy_prefix_from(base_cache_, p0, lowest, L);
    else cache.truncate(0, lowest);
    ForwardOptions fo;
    fo.bias = bias;
    fo.observer = opt.observer;
    fo.resume_layer = lowest;
    fo.resume_hidden = layer_inputs_[static_cast<size_t>(lowest)].narrow(1, p0, T - p0);
    fo.continues_prompt = true;
    fo.cancel = opt.cancel;  // a Cancelled thrown here leaves layers >= keep to be rewritten by the next run
    at::Tensor ids = at::tensor(std::vector<int64_t>(prompt_.begin() + p0, prompt_.end()), at::kLong).unsqueeze(0);
    first = model_.forward(ids, cache, fo).logits.select(1, 0);
    last_logits_ = first[0];
  }
  return continue_generation(model_, cache, first, o);
}

}  // namespace hl
