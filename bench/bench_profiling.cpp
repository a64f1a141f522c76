// headlight-bench, profiling: every head scored by scan_heads against the naive one-head-at-a-time loop.
#include "bench/bench_util.h"

#include <algorithm>
#include <cmath>

#include "core/engine/head_scan.h"

namespace hl::bench {

void profiling_section(Bench& ctx) {
  const Model* m = &ctx.m;
  const ModelConfig& c = ctx.m.config();
  const bool quick = ctx.quick;
  Machine& mach = ctx.mach;
  // Scoring every head for head profiling (methods.md §3), on prompts of the shape of SEKA's profiler: a two-
  // passage QA prompt "Context: {irrelevant} {relevant}\nQuestion: {q}\nAnswer:" (here 48 random tokens, the
  // relevant passage at 20-31 emphasised, PASTA alpha 0.01 exclude), scored from the first answer position
  // (log P(a) - log P(b), CounterFact efficacy's margin). Naive loop: one head at a time, a full generation
  // of 16 tokens (SEKA's max_new_tokens), no reuse, scored from its first step. Fast: scan_heads. Both in this
  // run, example by example; the naive loop on a sample of heads spread over the layers (every naive
  // head-example costs the same: a whole prefill and decode).
  const int64_t T = 48, s0 = 20, s1 = 32, new_tokens = 16;
  const int n_ex = quick ? 2 : 4, sample = quick ? 6 : 10;
  SteeringSpec every_head;
  every_head.method = SteeringMethod::Pasta;
  every_head.heads = HeadSet::all();
  const AttentionBias cand = compiled(every_head, c, T, s0, s1);
  const int64_t n_heads = c.n_layers * c.n_heads;
  double t_naive = 0, t_prefill_only = 0, t_fast = 0, max_score_diff = 0;
  int64_t naive_units = 0, fast_units = 0;
  for (int e = 0; e < n_ex; ++e) {
    const auto ids = random_ids(T, c.vocab, 100 + static_cast<uint64_t>(e));
    const int64_t ta = 3 + e, tb = 4 + e;  // the two watched tokens
    HeadScanOptions so;
    so.watch_tokens = {ta, tb};
    auto t0 = Clock::now();
    HeadScanResult r = scan_heads(*m, ids, cand, so);
    t_fast += seconds_since(t0);
    fast_units += n_heads;
    for (int k = 0; k < sample; ++k) {
      const int64_t i = (k * n_heads) / sample + e % 3;
      const auto [l, h] = r.heads[static_cast<size_t>(i)];
      AttentionBias one(1, c.n_layers, c.n_heads, T);
      one.set(0, l, h, cand.row(0, l, h));
      auto score = [&](const at::Tensor& logits) {
        at::Tensor lp = at::log_softmax(logits.to(at::kFloat), -1);
        return lp[ta].item<double>() - lp[tb].item<double>();
      };
      GenerateOptions go;
      go.max_new_tokens = new_tokens;
      go.stop_at_eos = false;
      go.bias = &one;
      go.keep_step_logits = true;
      t0 = Clock::now();
      GenerateResult g = generate(*m, ids, go);
      const double naive_score = score(g.step_logits[0][0]);
      t_naive += seconds_since(t0);
      ++naive_units;
      t0 = Clock::now();
      KVCache kc = m->new_cache(1, T);
      ForwardOptions fo;
      fo.bias = &one;
      const double prefill_score = score(m->forward(at::tensor(ids, at::kLong).unsqueeze(0), kc, fo).logits[0][0]);
      t_prefill_only += seconds_since(t0);
      const double fast_score = r.steered[i][0].item<double>() - r.steered[i][1].item<double>();
      max_score_diff = std::max({max_score_diff, std::abs(fast_score - naive_score), std::abs(prefill_score - naive_score)});
    }
  }
  const double naive_rate = naive_units / t_naive, prefill_rate = naive_units / t_prefill_only,
               fast_rate = fast_units / t_fast;
  std::printf("profiling: every head scored on %d examples (T=%lld, emphasised %lld-%lld, PASTA alpha 0.01; "
              "naive on %d sampled heads per example)\n",
              n_ex, static_cast<long long>(T), static_cast<long long>(s0), static_cast<long long>(s1 - 1), sample);
  std::printf("%-52s %14s %10s\n", "", "heads*ex/s", "vs naive");
  std::printf("%-52s %14.2f %10s\n", "naive: one head at a time, generate 16, no reuse", naive_rate, "1.00");
  std::printf("%-52s %14.2f %9.2fx\n", "  the same, one prefill per head (no generation)", prefill_rate,
              prefill_rate / naive_rate);
  std::printf("%-52s %14.2f %9.2fx   (%lld heads x %d examples in %.1f s)\n",
              "scan_heads: rows = heads, branched, from logits", fast_rate, fast_rate / naive_rate,
              static_cast<long long>(n_heads), n_ex, t_fast);
  // The scan's own work per example: the unsteered prefill, then for every head the layers from its own up for
  // the positions from the span on, and one LM-head row.
  const double head_row = 2.0 * static_cast<double>(c.hidden * c.vocab);
  double scan_flops = prefill_flops(c, T);
  for (int64_t l = 0; l < c.n_layers; ++l)
    scan_flops += static_cast<double>(c.n_heads) * (layer_flops(c, T, s0, c.n_layers - l) + head_row);
  std::printf("scan: %.0f GFLOP per example, %.0f %% of the GEMM bound; largest score difference scan vs naive %.2g\n",
              scan_flops / 1e9, 100 * scan_flops * n_ex / t_fast / 1e9 / mach.gemm_gflops, max_score_diff);
}

}  // namespace hl::bench
