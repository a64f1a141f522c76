// headlight-bench, store: what a capture run costs in the SQLite store.
#include "bench/bench_util.h"

#include <unistd.h>

#include <random>

#include "core/engine/head_stats.h"
#include "storage/store.h"

namespace hl::bench {

namespace fs = std::filesystem;

void store_section(Bench& ctx) {
  const Model* m = &ctx.m;
  const ModelConfig& c = ctx.m.config();
  const std::filesystem::path& model_dir = ctx.model_dir;
  // What a capture run costs in the store: head statistics for all heads + 8 full fp16 maps, 512 tokens.
  const int64_t T = 512;
  auto ids = random_ids(T, c.vocab, 9);
  std::vector<uint8_t> span(static_cast<size_t>(T), 0);
  for (int64_t j = 100; j < 140; ++j) span[static_cast<size_t>(j)] = 1;
  HeadStatsRecorder stats(c.n_layers, c.n_heads, span, 140);
  KVCache cache = m->new_cache(1, T);
  ForwardOptions fo;
  fo.observer = &stats;
  m->forward(at::tensor(ids, at::kLong).unsqueeze(0), cache, fo);
  at::Tensor st = stats.stats()[0];
  const fs::path db = fs::temp_directory_path() / ("headlight-bench-" + std::to_string(getpid()) + ".db");
  {
    store::Store s = store::Store::open(db.string());
    store::ModelRecord mr;
    mr.path = model_dir.string();
    mr.config_hash = "bench";
    mr.architecture = c.model_type;
    store::RunRecord run;
    run.model_id = s.record_model(mr);
    run.kind = "capture";
    const int64_t rid = s.start_run(run);
    std::vector<store::HeadStat> hs;
    for (int64_t l = 0; l < c.n_layers; ++l)
      for (int64_t h = 0; h < c.n_heads; ++h)
        for (int64_t k = 0; k < st.size(2); ++k)
          hs.push_back({static_cast<int32_t>(l), static_cast<int32_t>(h), HeadStatsRecorder::names()[k],
                        st[l][h][k].item<double>()});
    s.add_head_stats(rid, hs);
    std::mt19937_64 r(1);
    for (int i = 0; i < 8; ++i) {
      store::FloatMatrix mtx;
      mtx.rows = mtx.cols = T;
      mtx.values.resize(static_cast<size_t>(T * T));
      for (auto& v : mtx.values) v = static_cast<float>(r() % 1000) / 1000.0f;
      s.add_attention_map(rid, static_cast<int32_t>(i), 0, "prefill", mtx);
    }
    s.finish_run(rid, "done");
  }
  const double bytes = static_cast<double>(fs::file_size(db)) +
                       (fs::exists(db.string() + "-wal") ? static_cast<double>(fs::file_size(db.string() + "-wal")) : 0.0);
  std::printf("store: head stats (%lld x %lld x 5) + 8 fp16 maps of %lld^2: %.2f MB (limit 10 MB)\n",
              static_cast<long long>(c.n_layers), static_cast<long long>(c.n_heads), static_cast<long long>(T),
              bytes / 1e6);
  fs::remove(db);
  fs::remove(db.string() + "-wal");
  fs::remove(db.string() + "-shm");
}

}  // namespace hl::bench
