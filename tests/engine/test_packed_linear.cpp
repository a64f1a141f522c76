// The packed projections (engine/packed_linear.h) against ATen, in every kernel the machine can run, and a packed
// model against the same model with row-major weights.
#include <atomic>
#include <cstring>

#include "core/engine/fused_ops.h"
#include "core/engine/generate.h"
#include "core/engine/model.h"
#include "core/engine/packed_linear.h"
#include "core/engine/synth.h"
#include "core/error.h"
#include "engine/doctest_torch.h"
#include "engine/golden.h"
#include "engine/kernel_choice.h"
#include "scratch_dir.h"

using namespace hl;
using namespace hl::test;
using engine::PackedWeight;

namespace {

// Reference in double: x W^T (+ b).
at::Tensor reference(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  at::Tensor y = at::matmul(x.to(at::kDouble), w.to(at::kDouble).t());
  return b.defined() ? y + b.to(at::kDouble) : y;
}

// Relative to the scale of the terms summed: |y - ref| <= tol * sum_k |x_k w_k| (+ |b|).
double scaled_error(const at::Tensor& y, const at::Tensor& x, const at::Tensor& w, const at::Tensor& b,
                    const at::Tensor& ref) {
  at::Tensor scale = at::matmul(x.abs().to(at::kDouble), w.abs().to(at::kDouble).t());
  if (b.defined()) scale = scale + b.abs().to(at::kDouble);
  return ((y.to(at::kDouble) - ref).abs() / (scale + 1e-30)).max().item<double>();
}

// A model with packed weights against the same model with row-major ones: all logits of prompts of each length in
// `lengths` (taken from the front of ids), the caches they leave, and a greedy continuation.
void expect_same_model(const Model& a, const Model& p, const std::vector<int64_t>& ids,
                       std::initializer_list<int64_t> lengths, int64_t new_tokens) {
  at::Tensor t = at::tensor(ids, at::kLong).unsqueeze(0);
  for (int64_t T : lengths) {
    INFO("prompt tokens ", T);
    KVCache ca = a.new_cache(1, 16), cp = p.new_cache(1, 16);
    ForwardOptions fo;
    fo.all_logits = true;
    at::Tensor la = a.forward(t.narrow(1, 0, T), ca, fo).logits, lp = p.forward(t.narrow(1, 0, T), cp, fo).logits;
    CHECK(max_abs_diff(la, lp) <= 1e-4 * (1 + la.abs().max().item<double>()));
    for (int64_t l = 0; l < a.config().n_layers; ++l) {
      CHECK(max_abs_diff(ca.keys(l), cp.keys(l)) <= 1e-4);
      CHECK(max_abs_diff(ca.values(l), cp.values(l)) <= 1e-4);
    }
  }
  GenerateOptions go;
  go.max_new_tokens = new_tokens;
  go.stop_at_eos = false;
  CHECK(generate(a, ids, go).tokens == generate(p, ids, go).tokens);
}

}  // namespace

TEST_CASE("packed linear equals x W^T + b for odd shapes, 1..600 rows, every kernel") {
  KernelChoice kernels;
  at::manual_seed(11);
  for (int64_t n : {1, 15, 16, 17, 33, 344}) {
    for (int64_t k : {1, 7, 64, 172}) {
      at::Tensor w = at::randn({n, k}), b = at::randn({n});
      const PackedWeight p = PackedWeight::pack(w, PackedWeight::Layout::Plain, "test weight");
      CHECK(p.out_features() == n);
      CHECK(p.in_features() == k);
      CHECK(at::equal(p.unpack(), w));
      // Rows by id (a tied LM head's embedding lookups), any id shape.
      const at::Tensor ids = at::randint(0, n, {2, 5}, at::kLong);
      CHECK(at::equal(p.rows(ids), at::embedding(w, ids)));
      CHECK_THROWS_WITH_AS(p.rows(at::tensor({n}, at::kLong)), doctest::Contains("outside the vocabulary"), hl::Error);
      // Up to 600 rows: items of 256 rows, a second and a partial third.
      for (int64_t rows : {1, 2, 5, 6, 7, 8, 9, 13, 49, 100, 257, 600}) {
        INFO("n ", n, " k ", k, " rows ", rows);
        at::Tensor x = at::randn({rows, 1, k});
        at::Tensor y = engine::packed_linear(x, p, b);
        REQUIRE(y.sizes() == at::IntArrayRef({rows, 1, n}));
        CHECK(scaled_error(y, x, w, b, reference(x, w, b)) <= 1e-6);
        // Batch invariant: a row's outputs are the same floats whatever rows share the product (the profiler's
        // scores do not depend on how its jobs group heads and examples).
        CHECK(at::equal(y.narrow(0, rows - 1, 1), engine::packed_linear(x.narrow(0, rows - 1, 1), p, b)));
        CHECK(at::equal(y.narrow(0, 0, std::min<int64_t>(rows, 7)),
                        engine::packed_linear(x.narrow(0, 0, std::min<int64_t>(rows, 7)), p, b)));
        at::Tensor y0 = engine::packed_linear(x, p, at::Tensor());
        CHECK(scaled_error(y0, x, w, at::Tensor(), reference(x, w, at::Tensor())) <= 1e-6);
        // Accumulate: y += x W^T + b on top of what y holds.
        at::Tensor acc = at::randn({rows, 1, n});
        at::Tensor expect = acc.to(at::kDouble) + reference(x, w, b);
        engine::packed_linear_accumulate(x, p, b, acc);
        CHECK((acc.to(at::kDouble) - expect).abs().max().item<double>() <=
              1e-6 * (1 + (x.abs().sum().item<double>() * w.abs().max().item<double>())));
        // Into an existing output: the same floats as a new one.
        at::Tensor into = at::full({rows, 1, n}, 3.0f);
        engine::packed_linear_into(x, p, b, into);
        CHECK(at::equal(into, y));
        // Residual: a new tensor residual + (x W^T + b), the same floats as the product then the add (with and
        // without bias); a non-contiguous residual is read as its values.
        at::Tensor res = at::randn({rows, 1, n});
        at::Tensor sum = engine::packed_linear_residual(x, p, b, res);
        CHECK(sum.sizes() == res.sizes());
        CHECK(at::equal(sum, res + engine::packed_linear(x, p, b)));
        CHECK(at::equal(engine::packed_linear_residual(x, p, {}, res), res + engine::packed_linear(x, p, {})));
        at::Tensor wide = at::randn({rows, 1, n + 3});
        CHECK(at::equal(engine::packed_linear_residual(x, p, b, wide.narrow(2, 3, n)),
                        wide.narrow(2, 3, n) + engine::packed_linear(x, p, b)));
      }
    }
  }
}

TEST_CASE("packed linear takes strided rows and refuses inputs that do not fit") {
  KernelChoice kernels;
  at::manual_seed(12);
  at::Tensor w = at::randn({40, 32});
  const PackedWeight p = PackedWeight::pack(w, PackedWeight::Layout::Plain, "test weight");
  at::Tensor xs = at::randn({11, 64}).narrow(1, 16, 32);  // rows 64 floats apart
  CHECK(scaled_error(engine::packed_linear(xs, p, {}), xs, w, {}, reference(xs, w, {})) <= 1e-6);
  at::Tensor xt = at::randn({32, 9}).t();  // no unit stride along the features
  CHECK(scaled_error(engine::packed_linear(xt, p, {}), xt, w, {}, reference(xt, w, {})) <= 1e-6);
  CHECK(engine::packed_linear(at::randn({0, 32}), p, {}).sizes() == at::IntArrayRef({0, 40}));

  CHECK_THROWS_WITH_AS(engine::packed_linear(at::randn({3, 31}), p, {}),
                       "packed linear: input has 31 features, the weight takes 32", Error);
  CHECK_THROWS_AS(engine::packed_linear(at::randn({3, 32}, at::kDouble), p, {}), Error);
  CHECK_THROWS_AS(engine::packed_linear(at::randn({3, 32}), p, at::randn({39})), Error);
  at::Tensor wrong = at::randn({3, 41});
  CHECK_THROWS_AS(engine::packed_linear_accumulate(at::randn({3, 32}), p, {}, wrong), Error);
  CHECK_THROWS_AS(engine::packed_linear_residual(at::randn({3, 32}), p, {}, wrong), Error);
  CHECK_THROWS_AS(engine::packed_linear_into(at::randn({3, 32}), p, {}, wrong), Error);
  CHECK_THROWS_AS(engine::packed_linear_residual(at::randn({3, 32}), p, {}, at::randn({4, 40})), Error);
  CHECK_THROWS_WITH_AS(PackedWeight::pack(at::randn({5, 4}), PackedWeight::Layout::GatePairs, "the up projection"),
                       "packing the up projection: a gate/up matrix needs an even number of rows, got 5", Error);
  CHECK_THROWS_AS(PackedWeight::pack(at::randn({5}), PackedWeight::Layout::Plain, "w"), Error);
  CHECK_THROWS_AS(PackedWeight::pack(at::randn({0, 4}), PackedWeight::Layout::Plain, "w"), Error);
  const PackedWeight g = PackedWeight::pack(at::randn({8, 32}), PackedWeight::Layout::GatePairs, "gate/up");
  CHECK_THROWS_AS(engine::packed_linear(at::randn({2, 32}), g, {}), Error);
  CHECK_THROWS_AS(engine::packed_silu_gate(at::randn({2, 32}), p, {}), Error);
}

TEST_CASE("packed gate/up pairs give silu(gate) * up, as the unfused path") {
  KernelChoice kernels;
  at::manual_seed(13);
  for (int64_t I : {1, 8, 13, 16, 172, 200}) {
    for (int64_t rows : {1, 4, 8, 9, 50, 300}) {
      INFO("I ", I, " rows ", rows);
      const int64_t k = 24;
      at::Tensor w = at::randn({2 * I, k}), b = at::randn({2 * I}), x = at::randn({rows, k}) * 2;
      const PackedWeight p = PackedWeight::pack(w, PackedWeight::Layout::GatePairs, "gate/up");
      CHECK(at::equal(p.unpack(), w));
      at::Tensor h = reference(x, w, b);
      at::Tensor g = h.narrow(-1, 0, I), u = h.narrow(-1, I, I);
      at::Tensor expect = g / (1 + at::exp(-g)) * u;
      at::Tensor y = engine::packed_silu_gate(x, p, b);
      REQUIRE(y.sizes() == at::IntArrayRef({rows, I}));
      // Sums to 1e-6 of their scale, then a ~1-ulp exp: compare against the magnitude of the gate/up terms.
      at::Tensor scale = at::matmul(x.abs().to(at::kDouble), w.abs().to(at::kDouble).t()) + b.abs().to(at::kDouble);
      at::Tensor bound = 1e-5 * (scale.narrow(-1, 0, I) * u.abs() + scale.narrow(-1, I, I) * g.abs() + 1e-6);
      CHECK(((y.to(at::kDouble) - expect).abs() <= bound).all().item<bool>());
    }
  }
}

TEST_CASE("a packed model gives the row-major model's logits and text") {
  const auto dir = shared_dir() / "models/stories260K/hf";
  LoadOptions plain;
  plain.pack_weights = false;
  auto a = Model::load(dir, plain);
  auto p = Model::load(dir);
  CHECK_FALSE(a->weights_packed());
  REQUIRE(p->weights_packed());
  CHECK(p->param_count() == a->param_count());
  const LayerWeights& lw = p->weights().layers[0];
  CHECK_FALSE(lw.qkv_w.defined());  // released: one copy of the weights in memory
  REQUIRE(lw.up_p);
  CHECK(at::equal(lw.up_p->unpack(), a->weights().layers[0].up_w));
  CHECK(lw.up_p->layout() == PackedWeight::Layout::GatePairs);
  expect_same_model(*a, *p, {1, 403, 407, 261, 378, 256, 282, 277, 365, 440, 403}, {1, 5, 11}, 40);
}

TEST_CASE("rotary-pair packing: products keep the matrix's order; the QKV product rotates into the cache exactly as the pass") {
  KernelChoice kernels;
  at::manual_seed(21);
  const int64_t H = 3, KVH = 1, D = 40, B = 2, pos0 = 4;
  // 2 x 7 rows: an 8-row and a 6-row tile, or 6 + 6 + 2; 2 x 150 rows: a 256-row item and a second one.
  for (int64_t T : {7, 150})
  for (int64_t hd : {32, 64}) {
    for (bool with_bias : {false, true}) {
      INFO("T ", T, " hd ", hd, " bias ", with_bias);
      const int64_t cap = pos0 + T + 5;
      const int64_t N = (H + 2 * KVH) * hd;
      at::Tensor w = at::randn({N, D}), b = with_bias ? at::randn({N}) : at::Tensor();
      const PackedWeight rp = PackedWeight::pack(w, PackedWeight::Layout::RopePairs, "qkv", hd, (H + KVH) * hd);
      const PackedWeight pl = PackedWeight::pack(w, PackedWeight::Layout::Plain, "qkv");
      CHECK(at::equal(rp.unpack(), w));
      at::Tensor x = at::randn({B, T, D});
      const at::Tensor qkv = engine::packed_linear(x, pl, b);
      CHECK(at::equal(engine::packed_linear(x, rp, b), qkv));
      at::Tensor res = at::randn({B, T, N});
      CHECK(at::equal(engine::packed_linear_residual(x, rp, b, res), engine::packed_linear_residual(x, pl, b, res)));
      at::Tensor freqs = at::rand({T, hd / 2}) * 3;
      const at::Tensor cos = freqs.cos(), sin = freqs.sin();
      at::Tensor kc = at::randn({B, KVH, cap, hd}), vc = at::randn({B, KVH, cap, hd});
      at::Tensor kc_ref = kc.clone(), vc_ref = vc.clone();
      at::Tensor q = engine::packed_qkv_rope(x, rp, b, cos, sin, 0.125f, H, KVH, kc, vc, pos0);
      at::Tensor q_ref = engine::fused_rope_to_cache(qkv.narrow(-1, 0, H * hd).view({B, T, H, hd}),
                                                     qkv.narrow(-1, H * hd, KVH * hd).view({B, T, KVH, hd}),
                                                     qkv.narrow(-1, (H + KVH) * hd, KVH * hd).view({B, T, KVH, hd}),
                                                     cos, sin, RopeStyle::Half, 0.125f, kc_ref, vc_ref, pos0);
      CHECK(q.sizes() == at::IntArrayRef({B, T, H, hd}));
      CHECK(at::equal(q, q_ref));
      CHECK(at::equal(kc, kc_ref));  // rotated keys at [pos0, pos0 + T), the rest untouched
      CHECK(at::equal(vc, vc_ref));
    }
  }
  // Refusals, before anything is written: a plain weight, a head size that is not a multiple of 32, positions past
  // the cache, a cache of another head count.
  at::Tensor w = at::randn({5 * 32, 40});
  const PackedWeight rp = PackedWeight::pack(w, PackedWeight::Layout::RopePairs, "qkv", 32, 4 * 32);
  const PackedWeight pl = PackedWeight::pack(w, PackedWeight::Layout::Plain, "qkv");
  at::Tensor x = at::randn({1, 3, 40}), cos = at::ones({3, 16}), sin = at::zeros({3, 16});
  at::Tensor kc = at::zeros({1, 1, 4, 32}), vc = at::zeros({1, 1, 4, 32});
  CHECK_THROWS_AS(engine::packed_qkv_rope(x, pl, {}, cos, sin, 1.0f, 3, 1, kc, vc, 0), Error);
  CHECK_THROWS_AS(PackedWeight::pack(at::randn({5 * 48, 40}), PackedWeight::Layout::RopePairs, "qkv", 48, 4 * 48), Error);
  CHECK_THROWS_AS(engine::packed_qkv_rope(x, rp, {}, cos, sin, 1.0f, 3, 1, kc, vc, 2), Error);
  at::Tensor kc2 = at::zeros({1, 2, 4, 32}), vc2 = at::zeros({1, 2, 4, 32});
  CHECK_THROWS_AS(engine::packed_qkv_rope(x, rp, {}, cos, sin, 1.0f, 3, 1, kc2, vc2, 0), Error);
  CHECK(kc.abs().sum().item<float>() == 0);
  CHECK(vc.abs().sum().item<float>() == 0);
}

TEST_CASE("a packed model with rotary pairs (SmolLM2 shape, 2 layers) gives the row-major model's logits and text") {
  KernelChoice kernels;
  hl_test::ScratchDir dir("rope_pairs");
  SynthOptions o;
  o.like = "smollm2-135m";
  o.seed = 5;
  o.layers = 2;
  write_synthetic_model(o, dir.dir);
  LoadOptions plain;
  plain.pack_weights = false;
  plain.load_tokenizer = false;
  LoadOptions packed;
  packed.load_tokenizer = false;
  auto a = Model::load(dir.dir, plain);
  auto p = Model::load(dir.dir, packed);
  REQUIRE(p->weights_packed());
  REQUIRE(p->weights().layers[0].qkv_p);
  CHECK(p->weights().layers[0].qkv_p->layout() == PackedWeight::Layout::RopePairs);
  expect_same_model(*a, *p, {1, 403, 407, 261, 378, 256, 282, 277, 365, 440, 403, 9000, 12}, {1, 6, 13}, 12);
}

TEST_CASE("packing over row blocks equals packing their concatenation, in every layout") {
  at::manual_seed(5);
  const at::Tensor q = at::randn({64, 96}).to(at::kBFloat16), k = at::randn({32, 96}).to(at::kBFloat16),
                   v = at::randn({32, 96}).to(at::kBFloat16);
  const at::Tensor qkv = at::cat({q, k, v});
  for (auto layout : {PackedWeight::Layout::Plain, PackedWeight::Layout::GatePairs, PackedWeight::Layout::RopePairs}) {
    const PackedWeight whole = PackedWeight::pack(qkv, layout, "whole", 32, 96);
    const PackedWeight parts = PackedWeight::pack({q, k, v}, layout, "parts", 32, 96);
    CHECK(parts.out_features() == 128);
    CHECK(parts.bytes() == whole.bytes());
    CHECK(std::memcmp(parts.panel_data(0), whole.panel_data(0), static_cast<size_t>(whole.bytes())) == 0);
  }
  CHECK_THROWS_WITH_AS(PackedWeight::pack({q, k.to(at::kFloat)}, PackedWeight::Layout::Plain, "the QKV projection"),
                       doctest::Contains("the QKV projection: its row blocks differ"), hl::Error);
}

TEST_CASE("loading packs each layer as it is read, from the mapped file: the row-major model's matrices and logits") {
  // A llama-2-7b shape scaled down (hidden 256, 2 heads of 128, vocab 2000), in bf16 with an untied head.
  hl_test::ScratchDir dir("pack_on_load");
  SynthOptions so;
  so.like = "llama-2-7b";
  so.dtype = "bf16";
  so.layers = 3;
  so.width_divisor = 16;
  so.shard_bytes = 1 << 20;  // sharded: each layer's tensors come from several files
  write_synthetic_model(so, dir.dir);
  std::vector<Progress> seen;
  LoadOptions lo;
  lo.load_tokenizer = false;
  lo.progress = [&](const Progress& p) { seen.push_back(p); };
  auto now = Model::load(dir.dir, lo);
  lo.progress = {};
  lo.pack_weights = false;
  auto after = Model::load(dir.dir, lo);
  CHECK(after->weight_storage() == "f32");  // row-major weights compute in float32: nothing 16-bit is kept
  REQUIRE(now->weights_packed());
  CHECK(now->weight_storage() == "bf16");
  REQUIRE(now->weights().lm_head_p);  // the untied bf16 head, packed from the file as it is
  CHECK_FALSE(now->weights().lm_head_w.defined());
  // Progress: config, one unit a layer (read and packed), the tokenizer.
  REQUIRE(seen.size() == 5);
  CHECK(seen[1].what == "weights and packing of layer 0");
  CHECK(seen.back().done == seen.back().total);
  CHECK(seen.back().total == 5);
  // Against the float32 row-major model of the same (bf16) values: every panel unpacks to its matrix.
  const auto& lw = now->weights().layers[2];
  const auto& rw = after->weights().layers[2];
  CHECK(at::equal(lw.qkv_p->unpack(), rw.qkv_w));
  CHECK(lw.qkv_p->layout() == PackedWeight::Layout::RopePairs);
  CHECK(at::equal(lw.o_p->unpack(), rw.o_w));
  CHECK(at::equal(lw.up_p->unpack(), rw.up_w));
  CHECK(lw.up_p->layout() == PackedWeight::Layout::GatePairs);
  CHECK(at::equal(lw.down_p->unpack(), rw.down_w));
  CHECK(at::equal(now->weights().lm_head_p->unpack(), after->weights().lm_head_w));
  CHECK(now->param_count() == after->param_count());
  expect_same_model(*after, *now, {1, 403, 407, 261, 378, 256, 282, 277, 365, 440, 403}, {1, 11}, 8);
}
