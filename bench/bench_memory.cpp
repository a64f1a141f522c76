// headlight-bench, memory: Influence + rollout tracing's peak RSS at 2k and 8k tokens, each in a child process.
#include "bench/bench_util.h"

#include <cstdio>

#include "analysis/influence.h"

namespace hl::bench {

namespace fs = std::filesystem;

void memory_section(Bench& ctx) {
  const ModelConfig& c = ctx.m.config();
  const bool quick = ctx.quick;
  const std::filesystem::path& model_dir = ctx.model_dir;
  const int threads = ctx.threads;
  std::printf("%-28s %12s %12s %14s %10s\n", "Influence+rollout, tokens", "seconds", "peak RSS", "dense capture", "ratio");
  for (int64_t T : quick ? std::vector<int64_t>{2048} : std::vector<int64_t>{2048, 8192}) {
    std::string cmd = std::string("'") + fs::canonical("/proc/self/exe").string() + "' influence-rss --model '" +
                      model_dir.string() + "' --tokens " + std::to_string(T) +
                      (threads ? " --threads " + std::to_string(threads) : "");
    FILE* p = popen(cmd.c_str(), "r");
    long before = 0, peak = 0;
    double secs = 0, inf = 0;
    if (!p || std::fscanf(p, "%ld %ld %lf %lf", &before, &peak, &secs, &inf) != 4) {
      std::printf("T=%lld: child failed\n", static_cast<long long>(T));
      if (p) pclose(p);
      continue;
    }
    pclose(p);
    const double dense = static_cast<double>(c.n_layers * c.n_heads) * T * T * 4;  // O(L·H·n²) f32 maps
    std::printf("T=%-26lld %12.2f %9.2f GB %11.2f GB %9.1fx\n", static_cast<long long>(T), secs, peak / 1048576.0,
                dense / 1073741824.0, dense / (peak * 1024.0));
  }
}

int influence_rss_child(const cli::Args& a) {
  set_compute_threads(static_cast<int>(a.get_int("threads", 0)));
  auto m = Model::load(a.get("model"));
  const int64_t T = a.get_int("tokens", 2048);
  auto ids = random_ids(T, m->config().vocab, 3);
  const long before = peak_rss_kb();
  InfluenceConfig ic;
  ic.indicator.assign(static_cast<size_t>(T), 0.0f);
  for (int64_t j = T / 4; j < T / 4 + 32; ++j) ic.indicator[static_cast<size_t>(j)] = 1.0f;
  InfluenceTracer tr(ic);
  KVCache c = m->new_cache(1, T);
  ForwardOptions fo;
  fo.observer = &tr;
  auto t0 = Clock::now();
  m->forward(at::tensor(ids, at::kLong).unsqueeze(0), c, fo);
  const double secs = seconds_since(t0);
  InfluenceTrace trace = tr.trace(0);
  std::printf("%ld %ld %.3f %.6f\n", before, peak_rss_kb(), secs, trace.influence_last_k_mean(5));
  return 0;
}

}  // namespace hl::bench
