// headlight-bench, big: a 7B-shape model in bf16 (issue #24), measured in a child process of its own so that its
// peak RSS is the big model's load and nothing else: load time and peak RSS, prefill of 256 and 1024 tokens against
// the f32 GEMM bound, decode against the bandwidth bound, a PASTA change's re-run and a small head scan.
#include "bench/bench_util.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "core/engine/head_scan.h"
#include "core/engine/session.h"
#include "core/engine/synth.h"

namespace hl::bench {

namespace fs = std::filesystem;

// `headlight-bench big-run --model DIR`: the big section's measurements, in a process of its own so that its peak
// RSS is the big model's load and nothing else.
int big_child(const cli::Args& a) {
  set_compute_threads(static_cast<int>(a.get_int("threads", 0)));
  const bool quick = a.has("quick");
  std::printf("load average before: %s\n", load_average().c_str());
  LoadOptions lo;
  lo.load_tokenizer = false;
  auto t0 = Clock::now();
  auto m = Model::load(a.get("model"), lo);
  const double load_s = seconds_since(t0);
  const double hwm = proc_status_kb("VmHWM") * 1024 / 1e9, rss = proc_status_kb("VmRSS") * 1024 / 1e9;
  const ModelConfig& c = m->config();
  const double packed = m->projection_bytes() / 1e9;
  std::printf("model %s: %s, %lld layers, hidden %lld, %.2f B params, projections %s %s (%.2f GB packed)\n",
              a.get("model").c_str(), c.model_type.c_str(), static_cast<long long>(c.n_layers),
              static_cast<long long>(c.hidden), m->param_count() / 1e9, m->weight_storage().c_str(),
              m->weights_packed() ? engine::packed_kernels() : "aten", packed);
  std::printf("%-44s %9.1f s\n", "load", load_s);
  std::printf("%-44s %9.2f GB   %.3fx the packed weights (target <= 15.5 GB, <= 1.15x); resident after: %.2f GB"
              " (GB = 1e9 bytes)\n",
              "peak RSS during load (VmHWM)", hwm, hwm / packed, rss);
  GemmProbe probe;
  const Machine mach = measure_machine(probe);
  std::printf("%-44s %9.1f GFLOP/s (BLAS %.1f, packed %.1f)\n", "machine: f32 GEMM 2048^3", mach.gemm_gflops,
              mach.blas_gflops, mach.packed_gflops);
  std::printf("%-44s %9.1f GB/s\n", "machine: streaming read", mach.read_gbs);
  for (int64_t T : {256, 1024}) {
    // Best of 2 (1 with --quick) after a warm-up at T=256; a T=1024 prefill runs minutes: no warm-up.
    const at::Tensor ids = at::tensor(random_ids(T, c.vocab, 40 + T), at::kLong).unsqueeze(0);
    const ForwardOptions plain;
    const double s = time_best(prefill_job(*m, ids, plain), quick || T > 256 ? 1 : 2, T > 256 ? 0 : 1);
    const double gf = prefill_flops(c, T) / s / 1e9;
    std::printf("prefill %-36lld %9.2f s   %.1f GFLOP/s = %.0f %% of the f32 GEMM bound (target >= 60 %%)\n",
                static_cast<long long>(T), s, gf, 100 * gf / mach.gemm_gflops);
  }
  {
    // Decode steps timed one by one after a 16-token prompt (best and median): a difference of two generations
    // of several seconds each drowns in this shared machine's noise.
    const int64_t n = quick ? 5 : 9;
    auto ids = random_ids(16, c.vocab, 41);
    KVCache cache = m->new_cache(1, 16 + n + 1);
    at::Tensor logits = m->forward(at::tensor(ids, at::kLong).unsqueeze(0), cache, {}).logits;
    std::vector<double> steps;
    for (int64_t i = 0; i < n; ++i) {
      const at::Tensor next = logits.select(1, -1).argmax(-1).view({1, 1});
      t0 = Clock::now();
      logits = m->forward(next, cache, {}).logits;
      steps.push_back(seconds_since(t0));
    }
    std::sort(steps.begin(), steps.end());
    const double dec = steps.front(), med = steps[steps.size() / 2];
    const double read_gbs = std::max(mach.read_gbs, measure_bandwidth());  // probed again, next to the decode
    const double bytes = decode_weight_bytes(*m), bound = bytes / 1e9 / read_gbs;
    std::printf("%-44s %9.1f ms   (median %.1f) %.2f GB a token at %.1f GB/s = %.0f %% of the bandwidth bound %.0f ms"
                " at %.1f GB/s (target >= 70 %%)\n",
                ("decode, per token (best of " + std::to_string(n) + ")").c_str(), dec * 1e3, med * 1e3, bytes / 1e9,
                bytes / dec / 1e9, 100 * bound / dec, bound * 1e3, read_gbs);
  }
  {
    // A PASTA change (head 0 of the top quarter of the layers, emphasising the prompt's second half)
    // re-run to its first steered token: the session recomputes the steered layers from the changed keys on.
    const int64_t T = 256, lowest = c.n_layers - std::max<int64_t>(1, c.n_layers / 4);
    auto ids = random_ids(T, c.vocab, 42);
    const AttentionBias b = head0_pasta(c, T, lowest);
    SteeringSession session(*m, ids, 1);
    GenerateOptions go;
    go.max_new_tokens = 1;
    go.bias = &b;
    session.steered(go);
    const double rerun = time_best([&] { session.steered(go); }, quick ? 1 : 2, 0);
    std::printf("%-44s %9.2f s   (T=%lld, layers %lld-%lld steered, positions from %lld)\n", "PASTA change re-run", rerun,
                static_cast<long long>(T), static_cast<long long>(lowest), static_cast<long long>(c.n_layers - 1),
                static_cast<long long>(session.last_resume_position()));
  }
  {
    // A small head scan: 8 heads of the top layer steered one at a time, over 2 prompts of 64 tokens.
    const int64_t T = 64, heads = std::min<int64_t>(8, c.n_heads), examples = 2;
    SteeringSpec spec;
    spec.method = SteeringMethod::Pasta;
    spec.alpha = 0.01;
    for (int64_t h = 0; h < heads; ++h) spec.heads.add(c.n_layers - 1, h);
    const AttentionBias cand = compiled(spec, c, T, T / 4, T / 2);
    t0 = Clock::now();
    for (int64_t e = 0; e < examples; ++e) scan_heads(*m, random_ids(T, c.vocab, 50 + e), cand);
    const double s = seconds_since(t0);
    std::printf("%-44s %9.2f heads*examples/s   (%lld heads of layer %lld x %lld prompts of %lld tokens, %.1f s)\n",
                "head scan", heads * examples / s, static_cast<long long>(heads), static_cast<long long>(c.n_layers - 1),
                static_cast<long long>(examples), static_cast<long long>(T), s);
  }
  std::printf("load average after: %s\n", load_average().c_str());
  return 0;
}

// The big section: a 7B-shape model in bf16 (--big-model DIR, or the llama-2-7b shape synthesised into a temp
// folder once), measured by a child process (big_child).
void big_section(const cli::Args& a, int threads, bool quick) {
  fs::path dir = a.get("big-model", "");
  if (dir.empty()) dir = fs::temp_directory_path() / "headlight-bench-llama-2-7b-bf16";
  if (!fs::exists(dir / "config.json")) {
    std::printf("big: writing a random-weight llama-2-7b shape in bf16 to %s ...\n", dir.c_str());
    std::fflush(stdout);
    SynthOptions so;
    so.like = "llama-2-7b";
    so.dtype = "bf16";
    const auto t0 = Clock::now();
    write_synthetic_model(so, dir);
    std::printf("big: written in %.0f s\n", seconds_since(t0));
  }
  std::fflush(stdout);
  const std::string cmd = std::string("'") + fs::canonical("/proc/self/exe").string() + "' big-run --model '" +
                          dir.string() + "'" + (threads ? " --threads " + std::to_string(threads) : "") +
                          (quick ? " --quick" : "");
  if (std::system(cmd.c_str()) != 0) std::printf("big: the measuring process failed\n");
  rule();
}

}  // namespace hl::bench
