// headlight-bench, heads: head ablation and the head metrics (issue #25) over a plain prefill.
#include "bench/bench_util.h"

#include "core/engine/head_stats.h"

namespace hl::bench {

void heads_section(Bench& ctx) {
  const Model* m = &ctx.m;
  const ModelConfig& c = ctx.m.config();
  const bool quick = ctx.quick;
  // Head ablation and the head metrics (issue #25): a bias without ablation must cost nothing, capture with the
  // statistics (attn_distance and future_influence included) must stay within 1.15x the plain forward.
  const int64_t T = 512;
  const at::Tensor t = at::tensor(random_ids(T, c.vocab, 21), at::kLong).unsqueeze(0);
  AttentionBias none(1, c.n_layers, c.n_heads, T);  // an (empty) ablation rides in every AttentionBias
  AttentionBias pasta = pasta_bias(c, T, 20, 22), pasta_abl = pasta;
  pasta_abl.ablation.set(0, c.n_layers / 2, 0, AblationMode::Zero);
  AttentionBias one(1, c.n_layers, c.n_heads, T), layer(1, c.n_layers, c.n_heads, T);
  one.ablation.set(0, c.n_layers / 2, 0, AblationMode::Zero);
  for (int64_t h = 0; h < c.n_heads; ++h) layer.ablation.set(0, c.n_layers / 2, h, AblationMode::Zero);
  std::vector<uint8_t> span(static_cast<size_t>(T), 0);
  for (int64_t j = T / 4; j < T / 2; ++j) span[static_cast<size_t>(j)] = 1;
  HeadStatsRecorder stats(c.n_layers, c.n_heads, span, T / 2);
  // An observer that asks for probabilities and scores and reads nothing: what materialising them costs, apart
  // from the statistics computed on them.
  struct Materialise : AttentionObserver {
  } materialise;
  auto with = [](const AttentionBias* b, AttentionObserver* o = nullptr) {
    ForwardOptions fo;
    fo.bias = b;
    fo.observer = o;
    return fo;
  };
  const ForwardOptions plain, f_none = with(&none), f_pasta = with(&pasta), f_pasta_abl = with(&pasta_abl),
                           f_one = with(&one), f_layer = with(&layer), f_stats = with(nullptr, &stats),
                           f_mat = with(nullptr, &materialise);
  const int rounds = quick ? 5 : 9;
  std::printf("%-46s %10s %10s\n", "heads: prefill T=512 (paired rounds)", "seconds", "ratio");
  struct Row {
    const char* name;
    const ForwardOptions *base, *variant;
    const char* note;
  };
  for (const Row& row : {Row{"bias with no ablation vs no bias", &plain, &f_none, "(should be 1)"},
                         Row{"zero-ablate 1 head vs plain", &plain, &f_one, ""},
                         Row{"zero-ablate a whole layer vs plain", &plain, &f_layer, ""},
                         Row{"PASTA 20 heads + 1 ablated vs PASTA", &f_pasta, &f_pasta_abl, ""},
                         Row{"observer materialising probs+scores vs plain", &plain, &f_mat, ""},
                         Row{"capture, head statistics (7) vs plain", &plain, &f_stats, "(limit 1.15)"}}) {
    auto [b, r] = paired_ratio(prefill_job(*m, t, *row.base), prefill_job(*m, t, *row.variant), rounds);
    std::printf("%-46s %10.4f %10.3f %s\n", row.name, b * r, r, row.note);
  }
}

}  // namespace hl::bench
