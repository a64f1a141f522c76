// 16-bit packed weights (bf16 and f16 panels, engine/packed_linear.h): every kernel family against the float32
// packed product of the rounded weights, which they must equal bit for bit (each weight is widened exactly and fed
// to the same FMAs in the same order); and a bf16 copy of every architecture fixture, loaded as it is by default (16-bit
// projections, float32 compute), against the float32 forward of the same rounded weights (--dtype f32): logits,
// greedy ids, attention capture, PASTA and GUIDE steering.
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/engine/capture.h"
#include "core/engine/fused_ops.h"
#include "core/engine/generate.h"
#include "core/engine/model.h"
#include "core/engine/packed_linear.h"
#include "core/engine/synth.h"
#include "core/engine/weight_source.h"
#include "core/formats/safetensors.h"
#include "core/steering/steering_spec.h"
#include "engine/doctest_torch.h"
#include "engine/golden.h"
#include "engine/kernel_choice.h"
#include "scratch_dir.h"

using namespace hl;
using namespace hl::test;
using engine::PackedWeight;

namespace {

// w rounded to a 16-bit type, packed in that type and (the same values) as float32.
struct PackedPair {
  at::Tensor rounded;  // float32
  PackedWeight p16, p32;
};

PackedPair pack_pair(const at::Tensor& w, at::ScalarType type, PackedWeight::Layout layout, int64_t head_dim = 0,
                     int64_t rope_features = 0) {
  const at::Tensor w16 = w.to(type), r = w16.to(at::kFloat);
  return {r, PackedWeight::pack(w16, layout, "16-bit weight", head_dim, rope_features),
          PackedWeight::pack(r, layout, "float32 weight", head_dim, rope_features)};
}

// Random weights with a third of them tiny (f16 subnormals, which widen through their own path).
at::Tensor weights(int64_t n, int64_t k) {
  at::Tensor w = at::randn({n, k});
  w.view(-1).slice(0, 0, n * k, 3).mul_(1e-5);
  return w;
}

const char* type_name(at::ScalarType t) { return t == at::kBFloat16 ? "bf16" : "f16"; }

// A fixture with every tensor stored as bf16 (as HF ships 7B models), written once per fixture.
std::filesystem::path bf16_fixture_copy(const std::string& name = "llama-gqa") {
  static std::map<std::string, std::unique_ptr<hl_test::ScratchDir>> dirs;
  auto& dir = dirs[name];
  if (!dir) {
    dir = std::make_unique<hl_test::ScratchDir>("bf16_" + name);
    std::filesystem::copy_file(fixture(name) / "config.json", dir->dir / "config.json");
    SafetensorsFile f(fixture(name) / "model.safetensors");
    SafetensorsWriter out;
    for (const TensorInfo& t : f.tensors()) {
      const at::Tensor b = engine::tensor_from_bytes(t, f.data(t), at::kBFloat16, at::Device(at::kCPU));
      out.add(t.name, DType::BF16, t.shape, b.data_ptr(), b.numel() * 2);
    }
    out.write(dir->dir / "model.safetensors");
  }
  return dir->dir;
}

// A fixture's bf16 copy as loaded by default (16-bit packed projections) and with --dtype f32 (float32 of the same
// values), loaded once with the default kernels (packing happens at load) and then run under every kernel family.
const Model& bf16_model(bool upcast, const std::string& name = "llama-gqa") {
  static std::map<std::pair<std::string, bool>, std::unique_ptr<Model>> models;
  auto& m = models[{name, upcast}];
  if (!m) {
    LoadOptions o;
    o.dtype = upcast ? "f32" : "auto";
    m = Model::load(bf16_fixture_copy(name), o);
  }
  return *m;
}

// The same forward on both models: logits within 1e-4, attention probabilities within 1e-5, greedy ids exact.
void expect_same_run(const std::vector<int64_t>& ids, const AttentionBias* bias, const std::string& name = "llama-gqa") {
  const Model& a = bf16_model(false, name);
  const Model& b = bf16_model(true, name);
  const ModelConfig& c = a.config();
  const auto T = static_cast<int64_t>(ids.size());
  at::Tensor logits[2], probs[2];
  GenerateResult gen[2];
  for (int i = 0; i < 2; ++i) {
    const Model& m = i == 0 ? a : b;
    KVCache cache = m.new_cache(1, T);
    AttentionRecorder rec(c.n_layers, c.n_heads);
    ForwardOptions fo;
    fo.all_logits = true;
    fo.bias = bias;
    fo.observer = &rec;
    logits[i] = m.forward(at::tensor(ids, at::kLong).unsqueeze(0), cache, fo).logits;
    probs[i] = rec.all();
    gen[i] = greedy16(m, ids, bias);
  }
  CHECK(max_abs_diff(logits[0], logits[1]) <= 1e-4);
  CHECK(max_abs_diff(probs[0], probs[1]) <= 1e-5);
  CHECK(gen[0].tokens == gen[1].tokens);
  CHECK(max_abs_diff(gen[0].step_logits[0], gen[1].step_logits[0]) <= 1e-4);
}

}  // namespace

TEST_CASE("bf16/f16 packed products equal the float32 packed products of the rounded weights bit for bit, every kernel") {
  KernelChoice kernels;
  at::manual_seed(31);
  for (at::ScalarType type : {at::kBFloat16, at::kHalf}) {
    for (int64_t n : {1, 17, 40, 344}) {
      for (int64_t k : {1, 7, 64, 172}) {
        const at::Tensor w = weights(n, k), b = at::randn({n});
        const PackedPair pp = pack_pair(w, type, PackedWeight::Layout::Plain);
        CHECK((pp.p16.storage() == (type == at::kBFloat16 ? PackedWeight::Storage::BF16 : PackedWeight::Storage::F16)));
        CHECK(pp.p16.bytes() * 2 == pp.p32.bytes());
        CHECK(at::equal(pp.p16.unpack(), pp.rounded));
        // 1-8 rows: one register tile (AVX-512 widens in registers); more: the panels widened once per item.
        for (int64_t rows : {1, 3, 8, 9, 13, 257}) {
          INFO(type_name(type), " n ", n, " k ", k, " rows ", rows);
          const at::Tensor x = at::randn({rows, k});
          CHECK(at::equal(engine::packed_linear(x, pp.p16, b), engine::packed_linear(x, pp.p32, b)));
          CHECK(at::equal(engine::packed_linear(x, pp.p16, {}), engine::packed_linear(x, pp.p32, {})));
          const at::Tensor res = at::randn({rows, n});
          CHECK(at::equal(engine::packed_linear_residual(x, pp.p16, b, res),
                          engine::packed_linear_residual(x, pp.p32, b, res)));
          at::Tensor acc16 = res.clone(), acc32 = res.clone();
          engine::packed_linear_accumulate(x, pp.p16, b, acc16);
          engine::packed_linear_accumulate(x, pp.p32, b, acc32);
          CHECK(at::equal(acc16, acc32));
        }
      }
    }
    for (int64_t I : {1, 13, 16, 200}) {
      const int64_t k = 24;
      const at::Tensor w = weights(2 * I, k), b = at::randn({2 * I});
      const PackedPair pp = pack_pair(w, type, PackedWeight::Layout::GatePairs);
      CHECK(at::equal(pp.p16.unpack(), pp.rounded));
      for (int64_t rows : {1, 5, 8, 9, 300}) {
        INFO(type_name(type), " gate/up I ", I, " rows ", rows);
        const at::Tensor x = at::randn({rows, k});
        CHECK(at::equal(engine::packed_silu_gate(x, pp.p16, b), engine::packed_silu_gate(x, pp.p32, b)));
      }
    }
  }
}

TEST_CASE("bf16/f16 rotary-pair QKV products rotate into the cache as the float32 ones, every kernel") {
  KernelChoice kernels;
  at::manual_seed(32);
  const int64_t H = 3, KVH = 1, D = 40, B = 2, pos0 = 2;
  for (at::ScalarType type : {at::kBFloat16, at::kHalf}) {
    for (int64_t hd : {32, 64}) {
      // 2 rows (decode), 6 rows (one register tile), 300 rows (widened panels, two items).
      for (int64_t T : {1, 3, 150}) {
        INFO(type_name(type), " hd ", hd, " T ", T);
        const int64_t N = (H + 2 * KVH) * hd, cap = pos0 + T + 3;
        const at::Tensor w = weights(N, D), b = at::randn({N});
        const PackedPair pp = pack_pair(w, type, PackedWeight::Layout::RopePairs, hd, (H + KVH) * hd);
        CHECK(at::equal(pp.p16.unpack(), pp.rounded));
        const at::Tensor x = at::randn({B, T, D}), freqs = at::rand({T, hd / 2}) * 3;
        const at::Tensor cos = freqs.cos(), sin = freqs.sin();
        at::Tensor k16 = at::randn({B, KVH, cap, hd}), v16 = at::randn({B, KVH, cap, hd});
        at::Tensor k32 = k16.clone(), v32 = v16.clone();
        const at::Tensor q16 = engine::packed_qkv_rope(x, pp.p16, b, cos, sin, 0.125f, H, KVH, k16, v16, pos0);
        const at::Tensor q32 = engine::packed_qkv_rope(x, pp.p32, b, cos, sin, 0.125f, H, KVH, k32, v32, pos0);
        CHECK(at::equal(q16, q32));
        CHECK(at::equal(k16, k32));
        CHECK(at::equal(v16, v32));
      }
    }
  }
}

TEST_CASE("a bf16 checkpoint loads with bf16 packed projections by default; --dtype f32 upcasts") {
  const Model& m16 = bf16_model(false);
  const Model& m32 = bf16_model(true);
  CHECK((m16.dtype() == at::kFloat));
  CHECK(m32.weight_storage() == "f32");
  REQUIRE(m16.weights_packed());
  CHECK(m16.weight_storage() == "bf16");
  CHECK(m16.projection_bytes() * 2 == m32.projection_bytes());  // padding: the fixture's vocab is a multiple of 16
  CHECK(m16.param_count() == m32.param_count());
  // The LM head is packed in bf16 too (decode reads it every token); the embedding table and the norms stay
  // float32 (the exact values of their bf16 checkpoint entries).
  REQUIRE(m16.weights().lm_head_p);
  CHECK_FALSE(m16.weights().lm_head_w.defined());
  REQUIRE(m32.weights().lm_head_p);  // float32 heads are packed too
  CHECK(m32.weights().lm_head_p->storage() == PackedWeight::Storage::F32);
  CHECK(at::equal(m16.weights().lm_head_p->unpack(), m32.weights().lm_head_p->unpack()));
  CHECK((m16.weights().embed.scalar_type() == at::kFloat));
  const LayerWeights& l16 = m16.weights().layers[1];
  const LayerWeights& l32 = m32.weights().layers[1];
  CHECK(at::equal(l16.up_p->unpack(), l32.up_p->unpack()));
  CHECK(at::equal(l16.qkv_p->unpack(), l32.qkv_p->unpack()));
  // --dtype bf16 computes in bf16 on ATen: nothing is packed (the packed products compute in float32).
  LoadOptions o;
  o.dtype = "bf16";
  auto mb = Model::load(bf16_fixture_copy(), o);
  CHECK_FALSE(mb->weights_packed());
  CHECK(mb->weight_storage() == "bf16");
}

const std::vector<std::string> kArchitectures = {"gpt-neox", "gpt2", "gptj", "llama-gqa", "llama-tied", "llama3-rope",
                                                  "mistral", "qwen2"};

TEST_CASE("bf16 copy of every architecture fixture: logits, capture and greedy ids equal the float32 forward of its weights, every kernel") {
  KernelChoice kernels;
  for (const auto& name : kArchitectures) {
    INFO(name);
    const auto& g = golden(fixture(name) / "golden.safetensors");
    // Packed 16-bit at load, on every kernel family.
    const Model& m16 = bf16_model(false, name);
    REQUIRE(m16.weights_packed());
    CHECK(m16.weight_storage() == "bf16");
    expect_same_run(to_ids(g.at("input_ids_a")), nullptr, name);
    expect_same_run(to_ids(g.at("input_ids_b")), nullptr, name);
  }
}

TEST_CASE("bf16 copies: every PASTA golden case and GUIDE steering equal the float32 forward of the same weights, every kernel") {
  KernelChoice kernels;
  for (const std::string name : {"gptj", "llama-gqa", "mistral"}) {
    INFO(name);
    const ModelConfig& c = bf16_model(false, name).config();
    const auto& g = golden(fixture("pasta/" + name) / "golden.safetensors");
    std::ifstream f(fixture("pasta/" + name) / "golden.json");
    const nlohmann::json meta = nlohmann::json::parse(f);
    const std::vector<int64_t> ids = to_ids(g.at("input_ids"));
    const auto T = static_cast<int64_t>(ids.size());
    int cases = 0;
    for (auto it = meta["cases"].begin(); it != meta["cases"].end(); ++it) {
      if (it.key() == "baseline") continue;
      INFO("PASTA ", it.key());
      const auto& cs = it.value();
      const AttentionBias bias = pasta_golden_bias(cs, it.key(), c, T);
      expect_same_run(ids, &bias, name);
      ++cases;
    }
    CHECK(cases == static_cast<int>(meta["cases"].size()) - 1);
    // GUIDE: +delta on the logits of keys [2, 6) in every head.
    AttentionBias guide(1, c.n_layers, c.n_heads, T);
    guide.apply_at = ApplyAt::All;
    for (int64_t l = 0; l < c.n_layers; ++l)
      for (int64_t h = 0; h < c.n_heads; ++h) guide.add(0, l, h, 2, 6, 1.5f);
    INFO("GUIDE");
    expect_same_run(ids, &guide, name);
  }
}

TEST_CASE("bf16 and f16 SmolLM2-shape models (rotary pairs) equal their float32 upcasts, every kernel") {
  KernelChoice kernels;
  for (const char* type : {"bf16", "f16"}) {
    INFO(type);
    // Written and loaded once per type (packing happens at load, with the default kernels).
    static std::map<std::string, std::pair<std::unique_ptr<Model>, std::unique_ptr<Model>>> models;
    static std::vector<std::unique_ptr<hl_test::ScratchDir>> dirs;
    auto& [m16, m32] = models[type];
    if (!m16) {
      dirs.push_back(std::make_unique<hl_test::ScratchDir>(std::string(type) + "_smol"));
      SynthOptions o;
      o.like = "smollm2-135m";
      o.seed = 6;
      o.layers = 2;
      o.dtype = type;
      write_synthetic_model(o, dirs.back()->dir);
      LoadOptions lo;
      lo.load_tokenizer = false;
      m16 = Model::load(dirs.back()->dir, lo);
      lo.dtype = "f32";
      m32 = Model::load(dirs.back()->dir, lo);
    }
    REQUIRE(m16->weights_packed());
    CHECK(m16->weight_storage() == type);
    CHECK(m16->weights().lm_head_p);
    CHECK((m16->weights().layers[0].qkv_p->layout() == PackedWeight::Layout::RopePairs));
    const std::vector<int64_t> ids = {1, 403, 407, 261, 378, 256, 282, 277, 365, 440, 403, 9000, 12};
    for (int64_t T : {1, 13}) {
      INFO("prompt tokens ", T);
      at::Tensor t = at::tensor(ids, at::kLong).narrow(0, 0, T).unsqueeze(0);
      KVCache c16 = m16->new_cache(1, 16), c32 = m32->new_cache(1, 16);
      ForwardOptions fo;
      fo.all_logits = true;
      const at::Tensor a = m16->forward(t, c16, fo).logits, b = m32->forward(t, c32, fo).logits;
      CHECK(max_abs_diff(a, b) <= 1e-4 * (1 + b.abs().max().item<double>()));
    }
    GenerateOptions go;
    go.max_new_tokens = 8;
    go.stop_at_eos = false;
    CHECK(generate(*m16, ids, go).tokens == generate(*m32, ids, go).tokens);
  }
}
