// headlight-bench, interactive: a steering change to its first steered token, with the session's reuse, against the roofline of the work it redoes.
#include "bench/bench_util.h"

#include <algorithm>

#include "core/engine/session.h"

namespace hl::bench {

void interactive_section(Bench& ctx) {
  const Model* m = &ctx.m;
  const ModelConfig& c = ctx.m.config();
  const bool quick = ctx.quick;
  Machine& mach = ctx.mach;
  GemmProbe* probe = ctx.probe;
  const int64_t T = 256;
  auto ids = random_ids(T, c.vocab, 8);
  const int64_t lowest = c.n_layers / 2;
  // The LM head's bound is the read bandwidth: probe it again (this VM's swings between ~30 and ~80 GB/s) and
  // take the best seen, so that a slow first probe does not make the roofline generous.
  mach.read_gbs = std::max(mach.read_gbs, measure_bandwidth());
  // PASTA on head 0 of the upper half of the layers.
  const AttentionBias b = head0_pasta(c, T, lowest);
  SteeringSession session(*m, ids, 1);
  GenerateOptions go;
  go.max_new_tokens = 1;
  go.bias = &b;
  // A steering change costs ~0.1 s and a probe ~0.1 s: 21 paired rounds (9 with --quick) keep the median steady on
  // this VM, whose speed drifts within a run.
  const int ireps = quick ? 9 : 21;
  const double full = time_best([&] { generate(*m, ids, go); }, ireps, 1);
  // Roofline of the work a change must redo: the recomputed layers' FLOPs for the recomputed positions at
  // the GEMM peak, plus the LM head of the last position, which reads the whole [vocab, hidden] matrix for
  // one row (bound by bandwidth, not FLOPs: the max of the two bounds).
  const double head_flops = 2.0 * static_cast<double>(c.hidden * c.vocab);
  const double head_bytes = static_cast<double>(c.hidden * c.vocab) * (m->dtype() == at::kFloat ? 4 : 2);
  auto roofline = [&](double gflops, int64_t p0) {
    return layer_flops(c, T, p0, c.n_layers - lowest) / 1e9 / gflops +
           std::max(head_flops / 1e9 / gflops, head_bytes / 1e9 / mach.read_gbs);
  };
  // Paired rounds: this VM's GEMM speed drifts by 10-20 % between minutes, so every round times the
  // 2048^3 GEMM (best of 2, the faster of BLAS and packed) right next to the steering change and takes the
  // ratio of the two.
  std::printf("interactive: steering change -> first steered token, T=256, lowest steered layer %lld of %lld"
              " (%d paired rounds)\n",
              static_cast<long long>(lowest), static_cast<long long>(c.n_layers), ireps);
  std::printf("%-44s %8.4f s   (best of %d)\n", "full prefill", full, ireps);
  for (bool prefix : {false, true}) {
    session.set_reuse_prompt_prefix(prefix);
    session.steered(go);
    const int64_t p0 = session.last_resume_position();
    std::vector<double> reuse_t, ratio;
    for (int i = 0; i < ireps; ++i) {
      const double g = probe->best(2, 0);
      auto t0 = Clock::now();
      session.steered(go);
      reuse_t.push_back(seconds_since(t0));
      ratio.push_back(reuse_t.back() / roofline(g, p0));
    }
    std::sort(reuse_t.begin(), reuse_t.end());
    std::sort(ratio.begin(), ratio.end());
    const double reuse = reuse_t.front();
    std::printf("%-44s %8.4f s   %.2fx faster   (best; median %.4f s)\n",
                prefix ? "reuse: + the prompt positions before p0" : "reuse: the unsteered layers below",
                reuse, full / reuse, reuse_t[reuse_t.size() / 2]);
    std::printf("%-44s %8.4f s   at the run's GEMM peak (positions %lld-%lld)\n", "  roofline of the recomputed work",
                roofline(mach.gemm_gflops, p0), static_cast<long long>(p0), static_cast<long long>(T - 1));
    std::printf("%-44s %8.2fx   (rounds %.2f-%.2fx; time / roofline at that round's GEMM speed)\n",
                "  vs roofline, median round", ratio[ratio.size() / 2], ratio.front(), ratio.back());
  }
}

}  // namespace hl::bench
