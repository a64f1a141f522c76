#include "core/engine/ablation.h"

#include <ATen/ATen.h>

#include <string>

#include "core/error.h"
#include "core/steering/head_config.h"

namespace hl::engine {

at::Tensor ablate_heads(const at::Tensor& attn, const HeadAblation& ablation, int64_t layer) {
  const int64_t B = attn.size(0), H = attn.size(1), hd = attn.size(3);
  if (ablation.batch() != B || ablation.heads() != H)
    throw Error("forward: head ablation shape does not match the model/batch");
  // keep[b, h] = 0 for ablated heads; repl[b, h, :] = the mean for mean-ablated ones (0 otherwise), so that
  // out = attn * keep + repl on the model's device in two element-wise passes over this layer only.
  at::Tensor keep = at::ones({B, H}, at::kFloat);
  at::Tensor repl;
  float* kp = keep.data_ptr<float>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      const AblationMode m = ablation.mode(b, layer, h);
      if (m == AblationMode::None) continue;
      kp[b * H + h] = 0.0f;
      if (m != AblationMode::Mean) continue;
      if (!ablation.has_means())
        throw Error("forward: mean ablation of " + head_name(layer, h) +
                    " needs the prompt's mean head outputs (fill_ablation_means)");
      if (ablation.head_dim() != hd) throw Error("forward: mean ablation means have the wrong head size");
      if (!repl.defined()) repl = at::zeros({B, H, hd}, at::kFloat);
      const float* mu = ablation.mean(b, layer, h);
      std::copy_n(mu, hd, repl.data_ptr<float>() + (b * H + h) * hd);
    }
  const auto opts = attn.options();
  at::Tensor out = attn * keep.to(opts).view({B, H, 1, 1});
  if (repl.defined()) out = out + repl.to(opts).view({B, H, 1, hd});
  return out;
}

}  // namespace hl::engine

namespace hl {

std::vector<float> head_means_to_host(const at::Tensor& head_means) {
  at::Tensor m = head_means.to(at::kCPU, at::kFloat).contiguous();
  return std::vector<float>(m.data_ptr<float>(), m.data_ptr<float>() + m.numel());
}

void fill_ablation_means(const Model& model, const at::Tensor& prompt, AttentionBias& bias) {
  if (!bias.ablation.needs_means()) return;
  if (prompt.dim() != 2 || (prompt.size(0) != 1 && prompt.size(0) != bias.batch()))
    throw Error("mean ablation: the prompt must be [1 or batch rows, tokens]");
  if (prompt.size(1) == 0) throw Error("mean ablation: the prompt is empty");
  KVCache cache = model.new_cache(prompt.size(0), prompt.size(1));
  ForwardOptions fo;
  fo.keep_head_means = true;
  ForwardResult r = model.forward(prompt, cache, fo);
  bias.ablation.set_means(model.config().head_dim, prompt.size(0), head_means_to_host(r.head_means));
}

}  // namespace hl
