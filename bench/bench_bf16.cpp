#include "bench/bench_bf16.h"

#include <cstdio>
#include <filesystem>
#include <vector>

#include "bench/bench_util.h"
#include "core/engine/packed_linear.h"
#include "core/engine/synth.h"

namespace hl::bench {

namespace fs = std::filesystem;

void bf16_section(bool quick) {
  const fs::path dir = fs::temp_directory_path() / "headlight-bench-smollm2-135m-bf16";
  if (!fs::exists(dir / "config.json")) {
    SynthOptions so;
    so.like = "smollm2-135m";
    so.dtype = "bf16";
    write_synthetic_model(so, dir);
  }
  LoadOptions lo;
  lo.load_tokenizer = false;
  auto m16 = Model::load(dir, lo);  // the default: bf16 panels, float32 compute
  lo.dtype = "f32";
  auto m32 = Model::load(dir, lo);  // the same values upcast
  const ModelConfig& c = m16->config();
  std::printf("bf16 panels vs float32 panels of the same (bf16-rounded) weights, SmolLM2-135M shape, %s kernels\n",
              m16->weights_packed() ? engine::packed_kernels() : "aten (not packed)");
  std::printf("  projections: %s %.1f MB, %s %.1f MB\n", m16->weight_storage().c_str(), m16->projection_bytes() / 1e6,
              m32->weight_storage().c_str(), m32->projection_bytes() / 1e6);
  const int rounds = quick ? 3 : 7;
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < 64; ++i) ids.push_back(1 + (i * 7919) % (c.vocab - 1));
  // Decode: 33 tokens minus 1 token after the same prompt, per token.
  const int64_t n = 33;
  auto [g16, g32] = alternating_medians(generate_job(*m16, ids, n), generate_job(*m32, ids, n), rounds);
  auto [p16, p32] = alternating_medians(generate_job(*m16, ids, 1), generate_job(*m32, ids, 1), rounds);
  const double d16 = (g16 - p16) / (n - 1), d32 = (g32 - p32) / (n - 1);
  std::printf("  decode ms/token        bf16 %8.3f   f32 %8.3f   bf16/f32 %6.3f   (target <= 0.6)\n", 1e3 * d16,
              1e3 * d32, d16 / d32);
  for (int64_t T : {256}) {
    std::vector<int64_t> pids;
    for (int64_t i = 0; i < T; ++i) pids.push_back(1 + (i * 104729) % (c.vocab - 1));
    const at::Tensor t = at::tensor(pids, at::kLong).unsqueeze(0);
    const ForwardOptions plain;
    auto [s16, s32] = alternating_medians(prefill_job(*m16, t, plain), prefill_job(*m32, t, plain), rounds);
    std::printf("  prefill T=%-4lld s      bf16 %8.4f   f32 %8.4f   bf16/f32 %6.3f   (target <= 1)\n",
                static_cast<long long>(T), s16, s32, s16 / s32);
  }
}

}  // namespace hl::bench
