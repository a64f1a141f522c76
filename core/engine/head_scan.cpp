#include "core/engine/head_scan.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <string>

#include "core/engine/ablation.h"
#include "core/error.h"

namespace hl {

HeadScanResult scan_heads(const Model& model, const std::vector<int64_t>& prompt, const AttentionBias& candidates,
                          const HeadScanOptions& opt) {
  const ModelConfig& c = model.config();
  const auto T = static_cast<int64_t>(prompt.size());
  const int64_t L = c.n_layers, H = c.n_heads, V = c.vocab;
  if (T == 0) throw Error("head scan: the prompt is empty");
  if (candidates.batch() != 1 || candidates.layers() != L || candidates.heads() != H)
    throw Error("head scan: the candidate bias must have one row and the model's " + std::to_string(L) + " layers x " +
                std::to_string(H) + " heads");
  if (candidates.prompt_len() != T)
    throw Error("head scan: the candidate bias covers " + std::to_string(candidates.prompt_len()) +
                " prompt tokens, the prompt has " + std::to_string(T));
  for (int64_t t : opt.watch_tokens)
    if (t < 0 || t >= V)
      throw Error("head scan: watched token " + std::to_string(t) + " is outside the vocabulary [0, " +
                  std::to_string(V) + ")");
  if (opt.max_rows < 0) throw Error("head scan: max_rows must be >= 0");

  const bool ablate = opt.effect == HeadEffect::Ablate;
  if (ablate && opt.ablation == AblationMode::None) throw Error("head scan: effect ablate needs ablation zero or mean");
  if (opt.prompt_loss && T < 2) throw Error("head scan: the prompt loss needs at least 2 prompt tokens");
  HeadScanResult res;
  for (int64_t l = 0; l < L; ++l)
    for (int64_t h = 0; h < H; ++h)
      if (candidates.active(0, l, h) ||
          (ablate && candidates.ablation.mode(0, l, h) != AblationMode::None))
        res.heads.emplace_back(l, h);
  const auto n = static_cast<int64_t>(res.heads.size());
  const bool watch = !opt.watch_tokens.empty();
  const auto W = static_cast<int64_t>(opt.watch_tokens.size());
  at::Tensor watch_ids;
  if (watch) watch_ids = at::tensor(opt.watch_tokens, at::kLong).to(model.device());
  // Logits [rows, V] on the model's device -> what the result keeps, on the CPU.
  auto keep = [&](const at::Tensor& logits) {
    at::Tensor out = watch ? at::log_softmax(logits, -1).index_select(1, watch_ids) : logits;
    return out.to(at::kCPU, at::kFloat).contiguous();
  };

  // The unsteered prefill, kept with the residual stream entering every layer.
  const at::Tensor ids = at::tensor(prompt, at::kLong).unsqueeze(0);
  KVCache base_cache = model.new_cache(1, T);
  ForwardOptions fo;
  fo.keep_layer_inputs = true;
  fo.keep_head_means = ablate && opt.ablation == AblationMode::Mean;
  fo.all_logits = opt.prompt_loss;
  ForwardResult base = model.forward(ids, base_cache, fo);
  res.base = keep(base.logits.select(1, base.logits.size(1) - 1))[0];  // the last position (all_logits or not)
  std::vector<float> means;
  if (fo.keep_head_means) means = head_means_to_host(base.head_means);
  // Mean next-token NLL over the prompt, per row: logits [rows, T, V] predict tokens 1..T-1 from positions 0..T-2.
  const at::Tensor next_ids = ids.narrow(1, 1, T - 1).to(model.device());
  auto prompt_nll = [&](const at::Tensor& logits) {
    const at::Tensor lp = at::log_softmax(logits.narrow(1, 0, T - 1).to(at::kDouble), -1);
    const at::Tensor picked = lp.gather(2, next_ids.expand({logits.size(0), T - 1}).unsqueeze(2)).squeeze(2);
    return (-picked.mean(1)).to(at::kCPU);
  };
  if (opt.prompt_loss) res.base_loss = prompt_nll(base.logits)[0].item<double>();
  res.steered = at::zeros({n, watch ? W : V}, at::kFloat);
  res.loss.assign(static_cast<size_t>(opt.prompt_loss ? n : 0), 0.0);
  if (n == 0) return res;

  std::map<int64_t, KVCache> caches;  // one working cache per batch size (a layer's last group may be smaller)
  const auto start = std::chrono::steady_clock::now();
  int64_t i = 0;
  while (i < n) {
    if (opt.cancel && opt.cancel->cancelled()) {
      res.cancelled = true;
      break;
    }
    const int64_t layer = res.heads[static_cast<size_t>(i)].first;
    int64_t j = i;
    while (j < n && res.heads[static_cast<size_t>(j)].first == layer && (opt.max_rows == 0 || j - i < opt.max_rows)) ++j;
    const int64_t G = j - i;

    AttentionBias bias(G, L, H, T);
    bias.apply_at = candidates.apply_at;
    int64_t p0 = T - 1;  // at least the last position is recomputed: its logits are the result
    for (int64_t g = 0; g < G; ++g) {
      const int64_t h = res.heads[static_cast<size_t>(i + g)].second;
      if (ablate) bias.ablation.set(g, layer, h, opt.ablation);
      else bias.set(g, layer, h, candidates.row(0, layer, h));
      p0 = std::min(p0, bias.first_uneven_key(g));
    }
    if (!means.empty()) bias.ablation.set_means(c.head_dim, 1, means);
    if (!opt.reuse_prompt_prefix || opt.prompt_loss) p0 = 0;

    auto it = caches.find(G);
    if (it == caches.end()) it = caches.emplace(G, model.new_cache(G, T)).first;
    KVCache& cache = it->second;
    if (p0 > 0) cache.copy_prefix_from(base_cache, p0, layer, L);  // every row starts from the unsteered prefix
    else cache.truncate(0, layer);

    ForwardOptions so;
    so.bias = &bias;
    so.all_logits = opt.prompt_loss;
    so.resume_layer = layer;
    so.continues_prompt = true;
    const int64_t R = T - p0;
    at::Tensor rows_ids = ids.narrow(1, p0, R).expand({G, R});
    // From layer 0 the forward embeds the ids itself (at positions p0.., from the cache length).
    if (layer > 0)
      so.resume_hidden =
          base.layer_inputs[static_cast<size_t>(layer)].narrow(1, p0, R).expand({G, R, -1}).contiguous();
    ForwardResult r = model.forward(rows_ids, cache, so);
    res.steered.narrow(0, i, G).copy_(keep(r.logits.select(1, r.logits.size(1) - 1)));
    if (opt.prompt_loss) {
      const at::Tensor nll = prompt_nll(r.logits);
      for (int64_t g = 0; g < G; ++g) res.loss[static_cast<size_t>(i + g)] = nll[g].item<double>();
    }
    res.forwards += 1;
    res.recomputed_tokens += G * R * (L - layer);
    i = j;
    res.done = i;
    if (opt.progress) {
      Progress p;
      p.done = res.done;
      p.total = n;
      p.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      p.eta_s = p.elapsed_s / static_cast<double>(p.done) * static_cast<double>(n - p.done);
      p.what = "layer " + std::to_string(layer);
      opt.progress(p);
    }
  }
  return res;
}

}  // namespace hl
