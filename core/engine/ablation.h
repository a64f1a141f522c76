// Head ablation in the engine: applying AttentionBias::ablation to one layer's per-head attention outputs (before
// the output projection, which the packed kernels fold with the residual add), and the mean head outputs that
// mean ablation substitutes, computed from an unsteered forward of the prompt.
#pragma once
#include <ATen/core/Tensor.h>

#include "core/engine/model.h"

namespace hl::engine {

// attn: [B, H, T, hd] head outputs of `layer`. Returns them with every ablated head of each row zeroed or replaced
// by its mean (on attn's device and dtype). Throws hl::Error naming the head when a mean-ablated head has no means.
at::Tensor ablate_heads(const at::Tensor& attn, const HeadAblation& ablation, int64_t layer);

}  // namespace hl::engine

namespace hl {

// Fills bias.ablation's means when it mean-ablates a head and has none yet: one unsteered forward of `prompt`
// ([rows, T] int64 with rows 1 or bias.batch(); the prompt whose positions the means average over). No-op otherwise.
void fill_ablation_means(const Model& model, const at::Tensor& prompt, AttentionBias& bias);
// The mean head outputs of every layer: ForwardResult::head_means of an unsteered forward ([rows, L, H, hd]) as the
// flat vector HeadAblation::set_means takes.
std::vector<float> head_means_to_host(const at::Tensor& head_means);

}  // namespace hl
