// synth: a random-weight model of a real shape is deterministic for a seed and loads back to the same logits.
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "core/engine/synth.h"
#include "core/error.h"
#include "core/formats/model_config.h"
#include "core/formats/safetensors.h"
#include "engine/golden.h"
#include "engine/doctest_torch.h"

using namespace hl;
using namespace hl::test;
namespace fs = std::filesystem;

namespace {
std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}
}  // namespace

TEST_CASE("synth: smollm2-135m shape (2 layers, bf16) is deterministic and loads back to the same logits") {
  char tmpl[] = "/tmp/hl-synth-XXXXXX";
  const fs::path root = mkdtemp(tmpl);
  SynthOptions o;
  o.like = "smollm2-135m";
  o.seed = 11;
  o.dtype = "bf16";
  o.layers = 2;
  const int64_t params = write_synthetic_model(o, root / "a");
  write_synthetic_model(o, root / "b");
  o.seed = 12;
  write_synthetic_model(o, root / "c");
  CHECK(params == 49152ll * 576 + 2 * (576 * 576 * 2 + 2 * 576 * 192 + 3 * 576 * 1536 + 2 * 576) + 576);
  CHECK(slurp(root / "a/model.safetensors") == slurp(root / "b/model.safetensors"));
  CHECK(slurp(root / "a/model.safetensors") != slurp(root / "c/model.safetensors"));

  auto m1 = Model::load(root / "a"), m2 = Model::load(root / "b");
  CHECK(m1->config().hidden == 576);
  CHECK(m1->config().n_kv_heads == 3);
  CHECK(m1->config().vocab == 49152);
  CHECK(m1->param_count() == params);
  at::Tensor ids = at::tensor(std::vector<int64_t>{1, 500, 7000, 42, 49151}, at::kLong).unsqueeze(0);
  KVCache c1 = m1->new_cache(1, 5), c2 = m2->new_cache(1, 5);
  at::Tensor l1 = m1->forward(ids, c1, {}).logits, l2 = m2->forward(ids, c2, {}).logits;
  CHECK(at::equal(l1, l2));
  CHECK(l1.isfinite().all().item<bool>());

  // Sharding: a tiny shard limit splits the weights and writes an index that loads to the same model.
  o.seed = 11;
  o.shard_bytes = 16 << 20;
  write_synthetic_model(o, root / "sharded");
  CHECK(fs::exists(root / "sharded/model.safetensors.index.json"));
  CHECK_FALSE(fs::exists(root / "sharded/model.safetensors"));
  auto m3 = Model::load(root / "sharded");
  KVCache c3 = m3->new_cache(1, 5);
  CHECK(at::equal(m3->forward(ids, c3, {}).logits, l1));
  CHECK_THROWS_AS(write_synthetic_model(SynthOptions{"no-such-shape"}, root / "x"), hl::Error);
  fs::remove_all(root);
}

TEST_CASE("synth: the 7B shapes are HF's configs, sharded as HF does (planned, not written)") {
  struct Shape {
    const char* like;
    int64_t params, intermediate, kv_heads, vocab, max_pos;
    double theta;
    size_t shards;
  };
  // Parameter counts as the HF model cards give them (Llama-2-7b-hf, Mistral-7B-v0.1, Meta-Llama-3-8B).
  for (const Shape& s : {Shape{"llama-2-7b", 6738415616, 11008, 32, 32000, 4096, 10000, 3},
                         Shape{"mistral-7b", 7241732096, 14336, 8, 32000, 32768, 10000, 3},
                         Shape{"llama-3-8b", 8030261248, 14336, 8, 128256, 8192, 500000, 4}}) {
    CAPTURE(s.like);
    SynthOptions o;
    o.like = s.like;
    o.dtype = "bf16";
    const SynthPlan plan = plan_synthetic_model(o);
    CHECK(plan.params == s.params);
    CHECK(plan.total_bytes == static_cast<uint64_t>(2 * s.params));
    const ModelConfig c = parse_model_config(plan.config_json, s.like);
    CHECK(c.hidden == 4096);
    CHECK(c.n_layers == 32);
    CHECK(c.n_heads == 32);
    CHECK(c.head_dim == 128);
    CHECK(c.intermediate == s.intermediate);
    CHECK(c.n_kv_heads == s.kv_heads);
    CHECK(c.vocab == s.vocab);
    CHECK(c.max_positions == s.max_pos);
    CHECK(c.rope_theta == s.theta);
    CHECK_FALSE(c.tie_word_embeddings);
    REQUIRE(plan.shard_files.size() == s.shards);
    CHECK(plan.shard_files.front() == "model-00001-of-0000" + std::to_string(s.shards) + ".safetensors");
    std::vector<uint64_t> shard_bytes(s.shards, 0);
    std::map<std::string, std::vector<int64_t>> shapes;
    for (const auto& t : plan.tensors) {
      shapes[t.name] = t.shape;
      int64_t n = 1;
      for (auto d : t.shape) n *= d;
      shard_bytes[t.shard] += 2 * n;
    }
    for (uint64_t b : shard_bytes) CHECK(b <= 5'000'000'000ull);
    CHECK(shapes.size() == 3 + 9 * 32);
    CHECK(shapes["model.embed_tokens.weight"] == std::vector<int64_t>{s.vocab, 4096});
    CHECK(shapes["lm_head.weight"] == std::vector<int64_t>{s.vocab, 4096});
    CHECK(shapes["model.layers.31.self_attn.k_proj.weight"] == std::vector<int64_t>{s.kv_heads * 128, 4096});
    CHECK(shapes["model.layers.0.mlp.down_proj.weight"] == std::vector<int64_t>{4096, s.intermediate});
  }
}

TEST_CASE("synth: a scaled-down llama-3-8b writes HF's sharded layout and loads") {
  char tmpl[] = "/tmp/hl-synth-XXXXXX";
  const fs::path root = mkdtemp(tmpl);
  SynthOptions o;
  o.like = "llama-3-8b";
  o.dtype = "bf16";
  o.layers = 2;
  o.width_divisor = 8;  // hidden 512, 4 heads of 128, 1 kv head, vocab 16032
  o.shard_bytes = 12 << 20;
  const SynthPlan plan = plan_synthetic_model(o);
  write_synthetic_model(o, root);
  REQUIRE(plan.shard_files.size() >= 3);
  const nlohmann::json index = nlohmann::json::parse(slurp(root / "model.safetensors.index.json"));
  CHECK(index["metadata"]["total_size"].get<uint64_t>() == plan.total_bytes);
  CHECK(index["weight_map"].size() == plan.tensors.size());
  uint64_t on_disk = 0;
  for (size_t i = 0; i < plan.shard_files.size(); ++i) {
    const std::string want = "model-0000" + std::to_string(i + 1) + "-of-0000" +
                             std::to_string(plan.shard_files.size()) + ".safetensors";
    CHECK(plan.shard_files[i] == want);
    SafetensorsFile f(root / want);
    for (const auto& t : f.tensors()) {
      CHECK(index["weight_map"][t.name] == want);
      CHECK(t.dtype == DType::BF16);
      on_disk += t.end - t.begin;
    }
  }
  CHECK(on_disk == plan.total_bytes);
  for (const auto& t : plan.tensors) CHECK(index["weight_map"][t.name] == plan.shard_files[t.shard]);
  auto m = Model::load(root);
  CHECK(m->config().hidden == 512);
  CHECK(m->config().head_dim == 128);
  CHECK(m->config().n_kv_heads == 1);
  CHECK(m->config().vocab == 16032);
  CHECK(m->config().rope_theta == 500000);
  CHECK(m->param_count() == plan.params);
  at::Tensor ids = at::tensor(std::vector<int64_t>{1, 500, 7000, 16031}, at::kLong).unsqueeze(0);
  KVCache cache = m->new_cache(1, 4);
  CHECK(m->forward(ids, cache, {}).logits.isfinite().all().item<bool>());
  SynthOptions bad = o;
  bad.width_divisor = 3;
  CHECK_THROWS_WITH_AS(plan_synthetic_model(bad), doctest::Contains("not divisible by 3"), hl::Error);
  fs::remove_all(root);
}
