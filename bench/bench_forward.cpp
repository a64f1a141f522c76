// headlight-bench, forward: prefill and decode against the GEMM and bandwidth rooflines, packed projections vs row-major weights.
#include "bench/bench_util.h"

namespace hl::bench {

void forward_section(Bench& ctx) {
  const Model* m = &ctx.m;
  const ModelConfig& c = ctx.m.config();
  const int reps = ctx.reps;
  const bool quick = ctx.quick;
  Machine& mach = ctx.mach;
  const std::filesystem::path& model_dir = ctx.model_dir;
  std::printf("%-28s %10s %12s %14s\n", "forward (best of runs)", "seconds", "tokens/s", "of roofline");
  for (int64_t T : {128, 512, 2048}) {
    auto ids = random_ids(T, c.vocab, 1);
    double s = prefill_seconds(*m, ids, {}, T >= 2048 ? std::max(1, reps - 2) : reps, true);
    double frac = prefill_flops(c, T) / s / 1e9 / mach.gemm_gflops;
    std::printf("prefill T=%-18lld %10.4f %12.1f %13.0f%%\n", static_cast<long long>(T), s, T / s, 100 * frac);
  }
  auto ids = random_ids(128, c.vocab, 2);
  double spt = decode_seconds_per_token(*m, ids, 32, nullptr, nullptr, reps, true);
  // This VM's memory bandwidth swings between ~30 and ~80 GB/s over minutes: probe it again next to the
  // decode runs; the bound is the best either probe saw.
  mach.read_gbs = std::max(mach.read_gbs, measure_bandwidth());
  double frac = decode_weight_bytes(*m) / spt / 1e9 / mach.read_gbs;
  std::printf("decode 32 after T=128        %10.4f %12.1f %13.0f%%   (s/token; weight bytes / bandwidth)\n", spt,
              1 / spt, 100 * frac);
  if (m->weights_packed()) {
    // The same model with row-major weights (the projections on the BLAS, as before packing), paired rounds.
    LoadOptions lo;
    lo.pack_weights = false;
    lo.load_tokenizer = false;
    auto rm = Model::load(model_dir, lo);
    std::printf("packed projections vs row-major weights on %s (paired rounds, time packed / row-major):\n",
                blas_backend().c_str());
    const ForwardOptions plain;
    for (int64_t T : {128, 256, 512}) {
      const at::Tensor pt = at::tensor(random_ids(T, c.vocab, 3), at::kLong).unsqueeze(0);
      auto [b, r] = paired_ratio(prefill_job(*rm, pt, plain), prefill_job(*m, pt, plain), quick ? 3 : 5);
      std::printf("  prefill T=%-4lld %8.3f   (row-major %.4f s)\n", static_cast<long long>(T), r, b);
    }
    auto [b, r] = paired_ratio(generate_job(*rm, ids, 16), generate_job(*m, ids, 16), quick ? 3 : 5);
    std::printf("  prefill 128 + decode 16 %6.3f   (row-major %.4f s)\n", r, b);
  }
}

}  // namespace hl::bench
