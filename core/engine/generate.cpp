#include "core/engine/generate.h"

#include "core/engine/ablation.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "core/error.h"

namespace hl {
namespace {

// Samples one token from raw logits on the host with our own RNG, so that a seed gives the same text on every
// device and thread count.
int64_t sample(const float* logits, int64_t V, const SamplingOptions& s, std::mt19937_64& rng, float* chosen_p) {
  if (s.temperature <= 0) {
    int64_t best = 0;
    for (int64_t i = 1; i < V; ++i)
      if (logits[i] > logits[best]) best = i;
    // Probability under softmax(logits), for the record.
    double m = logits[best], z = 0;
    for (int64_t i = 0; i < V; ++i) z += std::exp(static_cast<double>(logits[i]) - m);
    *chosen_p = static_cast<float>(1.0 / z);
    return best;
  }
  std::vector<int64_t> idx(static_cast<size_t>(V));
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) { return logits[a] > logits[b]; });
  int64_t keep = V;
  if (s.top_k > 0) keep = std::min(keep, s.top_k);
  std::vector<double> p(static_cast<size_t>(keep));
  const double m = logits[idx[0]] / s.temperature;
  double z = 0;
  for (int64_t i = 0; i < keep; ++i) z += p[i] = std::exp(logits[idx[i]] / s.temperature - m);
  for (auto& x : p) x /= z;
  if (s.top_p < 1.0) {
    double cum = 0;
    int64_t k = 0;
    while (k < keep) {
      cum += p[k++];
      if (cum >= s.top_p) break;
    }
    keep = std::max<int64_t>(1, k);
    p.resize(static_cast<size_t>(keep));
    double zz = std::accumulate(p.begin(), p.end(), 0.0);
    for (auto& x : p) x /= zz;
  }
  std::uniform_real_distribution<double> u(0.0, 1.0);
  double r = u(rng), cum = 0;
  for (int64_t i = 0; i < keep; ++i) {
    cum += p[i];
    if (r < cum || i == keep - 1) {
      *chosen_p = static_cast<float>(p[i]);
      return idx[i];
    }
  }
  return idx[0];
}

}  // namespace

GenerateResult generate(const Model& model, const std::vector<int64_t>& prompt, const GenerateOptions& opt) {
  at::Tensor ids = at::tensor(prompt, at::kLong).unsqueeze(0);
  return generate(model, ids, opt);
}

namespace {

const AttentionBias* bias_for_batch(const AttentionBias* bias, int64_t B, std::unique_ptr<AttentionBias>& owned) {
  if (bias && bias->batch() == 1 && B > 1) {
    owned = std::make_unique<AttentionBias>(bias->broadcast_to(B));
    return owned.get();
  }
  return bias;
}

}  // namespace

void check_generation_fits(const Model& model, int64_t prompt_len, const GenerateOptions& opt) {
  const ModelConfig& c = model.config();
  if (prompt_len == 0) throw Error("generate: the prompt is empty");
  if (opt.max_new_tokens < 0) throw Error("generate: max new tokens must be >= 0");
  if (prompt_len + opt.max_new_tokens > c.max_positions + 1)
    throw Error("prompt of " + std::to_string(prompt_len) + " tokens + " + std::to_string(opt.max_new_tokens) +
                " new tokens exceeds the model's context of " + std::to_string(c.max_positions) + " positions");
}

int64_t generation_capacity(int64_t prompt_len, const GenerateOptions& opt) {
  // The last new token is never fed back, so the cache needs T + max_new - 1 positions.
  return prompt_len + std::max<int64_t>(opt.max_new_tokens - 1, 0);
}

GenerateResult continue_generation(const Model& model, KVCache& cache, const at::Tensor& first_logits,
                                   const GenerateOptions& opt) {
  const ModelConfig& c = model.config();
  const int64_t B = first_logits.size(0), V = c.vocab;
  const std::vector<int64_t>& eos = opt.eos_ids.empty() ? c.eos_token_ids : opt.eos_ids;
  std::unique_ptr<AttentionBias> owned;
  ForwardOptions fo;
  fo.bias = bias_for_batch(opt.bias, B, owned);
  fo.observer = opt.observer;

  GenerateResult res;
  res.tokens.resize(static_cast<size_t>(B));
  res.chosen_probs.resize(static_cast<size_t>(B));
  std::vector<at::Tensor> step_logits;
  std::vector<bool> done(static_cast<size_t>(B), false);
  std::mt19937_64 rng(opt.sampling.seed);
  at::Tensor logits = first_logits;  // [B, V]
  for (int64_t step = 0; step < opt.max_new_tokens; ++step) {
    if (step > 0) {
      if (opt.cancel && opt.cancel->cancelled()) {
        res.cancelled = true;
        break;
      }
      std::vector<int64_t> feed(static_cast<size_t>(B));
      for (int64_t b = 0; b < B; ++b) feed[b] = res.tokens[b].back();  // finished rows repeat their last token
      logits = model.forward(at::tensor(feed, at::kLong).view({B, 1}), cache, fo).logits.select(1, 0);
    }
    if (opt.keep_step_logits) step_logits.push_back(logits);
    at::Tensor host = logits.to(at::kCPU, at::kFloat).contiguous();
    for (int64_t b = 0; b < B; ++b) {
      if (done[b]) continue;  // frozen output
      float p = 0;
      int64_t tok = sample(host.data_ptr<float>() + b * V, V, opt.sampling, rng, &p);
      res.tokens[b].push_back(tok);
      res.chosen_probs[b].push_back(p);
      bool stop = opt.stop_at_eos && std::find(eos.begin(), eos.end(), tok) != eos.end();
      if (opt.on_token && !opt.on_token(b, tok)) stop = true;
      if (stop) done[b] = true;
    }
    if (std::all_of(done.begin(), done.end(), [](bool d) { return d; })) break;
  }
  if (opt.keep_step_logits && !step_logits.empty()) res.step_logits = at::stack(step_logits, 1);
  return res;
}

GenerateResult generate(const Model& model, const at::Tensor& prompt, const GenerateOptions& opt) {
  if (prompt.dim() != 2) throw Error("generate: the prompt must be [batch, tokens]");
  const int64_t B = prompt.size(0), T = prompt.size(1);
  check_generation_fits(model, T, opt);
  const bool cancelled = opt.cancel && opt.cancel->cancelled();
  if (opt.max_new_tokens == 0 || cancelled) {
    GenerateResult r;
    r.tokens.resize(static_cast<size_t>(B));
    r.chosen_probs.resize(static_cast<size_t>(B));
    r.cancelled = cancelled;
    return r;
  }
  std::unique_ptr<AttentionBias> owned;
  const AttentionBias* bias = bias_for_batch(opt.bias, B, owned);
  if (bias && bias->ablation.needs_means()) {  // mean ablation: the means of this prompt, unsteered
    if (!owned) owned = std::make_unique<AttentionBias>(*bias);
    fill_ablation_means(model, prompt, *owned);
    bias = owned.get();
  }
  KVCache cache = model.new_cache(B, generation_capacity(T, opt));
  ForwardOptions fo;
  fo.bias = bias;
  fo.observer = opt.observer;
  at::Tensor first = model.forward(prompt, cache, fo).logits.select(1, 0);
  GenerateOptions o = opt;
  o.bias = bias;
  return continue_generation(model, cache, first, o);
}

}  // namespace hl
