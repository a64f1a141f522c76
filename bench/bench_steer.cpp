// headlight-bench, steer: what PASTA, GUIDE, head statistics and Influence tracing cost over a plain prefill and decode.
#include "bench/bench_util.h"

#include "analysis/influence.h"
#include "core/engine/head_stats.h"

namespace hl::bench {

void steer_section(Bench& ctx) {
  const Model* m = &ctx.m;
  const ModelConfig& c = ctx.m.config();
  const int reps = ctx.reps;
  const bool quick = ctx.quick;
  const int64_t T = 512;
  auto ids = random_ids(T, c.vocab, 4);
  AttentionBias pasta = pasta_bias(c, T, 20, 5), guide = guide_bias(c, T);
  double base = prefill_seconds(*m, ids, {}, reps);
  ForwardOptions fp;
  fp.bias = &pasta;
  ForwardOptions fg;
  fg.bias = &guide;
  std::vector<uint8_t> span(static_cast<size_t>(T), 0);
  for (int64_t j = T / 4; j < T / 2; ++j) span[static_cast<size_t>(j)] = 1;
  HeadStatsRecorder stats(c.n_layers, c.n_heads, span, T / 2);
  ForwardOptions fs_;
  fs_.observer = &stats;
  InfluenceConfig ic;
  ic.indicator.assign(static_cast<size_t>(T), 0.0f);
  for (int64_t j = T / 4; j < T / 2; ++j) ic.indicator[static_cast<size_t>(j)] = 1.0f;
  InfluenceTracer tracer(ic);
  ForwardOptions fi;
  fi.observer = &tracer;
  const at::Tensor t = at::tensor(ids, at::kLong).unsqueeze(0);
  const ForwardOptions plain;
  const int rounds = quick ? 5 : 9;
  std::printf("%-40s %10s %10s\n", "prefill T=512 (paired rounds)", "seconds", "vs plain");
  std::printf("%-40s %10.4f %10s\n", "unsteered", base, "1.000");
  for (auto [name, fo] : {std::pair<const char*, const ForwardOptions*>{"PASTA, 20 heads, alpha 0.01", &fp},
                          {"GUIDE, all layers, delta 1", &fg},
                          {"head statistics, all heads", &fs_},
                          {"Influence + rollout tracing", &fi}}) {
    auto [b, r] = paired_ratio(prefill_job(*m, t, plain), prefill_job(*m, t, *fo), rounds);
    std::printf("%-40s %10.4f %10.3f\n", name, b * r, r);
  }
  auto dids = random_ids(128, c.vocab, 6);
  AttentionBias dp = pasta_bias(c, 128, 20, 7), dg = guide_bias(c, 128);
  std::printf("%-40s %10s %10s\n", "prefill 128 + decode 32 (paired)", "seconds", "vs plain");
  for (auto [name, bias] : {std::pair<const char*, const AttentionBias*>{"PASTA, 20 heads", &dp}, {"GUIDE, all layers", &dg}}) {
    auto [b, r] = paired_ratio(generate_job(*m, dids, 32), generate_job(*m, dids, 32, bias), rounds);
    std::printf("%-40s %10.4f %10.3f\n", name, b * r, r);
  }
}

}  // namespace hl::bench
