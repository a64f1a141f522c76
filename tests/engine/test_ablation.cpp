// Head ablation (the spec's "ablate"/"ablation" fields, compiled into AttentionBias::ablation): checked against
// weight surgery on the output projection, which is what zeroing a head's output before it means.
#include <cmath>
#include <map>

#include "core/engine/ablation.h"
#include "core/error.h"
#include "core/engine/head_scan.h"
#include "core/engine/session.h"
#include "core/steering/steering_spec.h"
#include "engine/golden.h"
#include "engine/doctest_torch.h"

using namespace hl;
using namespace hl::test;

namespace {

// The llama-gqa fixture (4 layers, 4 query / 2 KV heads) with row-major weights, so that they can be edited.
const Model& plain_model() {
  static std::unique_ptr<Model> m;
  if (!m) {
    LoadOptions lo;
    lo.pack_weights = false;
    m = Model::load(fixture("llama-gqa"), lo);
  }
  return *m;
}

// A copy of `m` with each listed (layer, head)'s input columns of the output projection zeroed, and `add_bias`
// (per layer, [D] or undefined) added to that layer's output-projection bias.
std::unique_ptr<Model> with_heads_cut(const Model& m, const std::vector<std::pair<int64_t, int64_t>>& heads,
                                      const std::map<int64_t, at::Tensor>& add_bias = {}) {
  ModelWeights w = m.weights();
  const int64_t hd = m.config().head_dim;
  for (auto& lw : w.layers) lw.o_w = lw.o_w.clone();
  for (auto [l, h] : heads) w.layers[static_cast<size_t>(l)].o_w.narrow(1, h * hd, hd).zero_();
  for (const auto& [l, b] : add_bias) {
    at::Tensor& ob = w.layers[static_cast<size_t>(l)].o_b;
    ob = ob.defined() ? ob + b : b.clone();
  }
  return std::make_unique<Model>(m.config(), w, m.device(), m.dtype());
}

std::vector<int64_t> prompt_ids() { return to_ids(golden(fixture("llama-gqa") / "golden.safetensors").at("input_ids_b")); }

at::Tensor all_logits(const Model& m, const std::vector<int64_t>& ids, const AttentionBias* bias) {
  KVCache c = m.new_cache(1, static_cast<int64_t>(ids.size()));
  ForwardOptions fo;
  fo.bias = bias;
  fo.all_logits = true;
  return m.forward(at::tensor(ids, at::kLong).unsqueeze(0), c, fo).logits;
}

AttentionBias compile_json(const Model& m, const std::string& json, int64_t T) {
  const SteeringSpec spec = parse_steering_spec(json);
  return compile(spec, m.config().n_layers, m.config().n_heads, T, spec.spans);
}

}  // namespace

TEST_CASE("zero ablation of a head equals zeroing its columns of the output projection (packed and plain)") {
  const Model& m = plain_model();
  const auto ids = prompt_ids();
  const auto T = static_cast<int64_t>(ids.size());
  const AttentionBias bias = compile_json(m, R"({"method": "none", "ablate": ["L1H2", "L3H0"]})", T);
  CHECK(bias.ablation.mode(0, 1, 2) == AblationMode::Zero);
  CHECK(bias.lowest_active_layer() == 1);
  auto cut = with_heads_cut(m, {{1, 2}, {3, 0}});
  const at::Tensor want = all_logits(*cut, ids, nullptr);
  const at::Tensor plain = all_logits(m, ids, &bias);
  CHECK(max_abs_diff(plain, want) <= 1e-5);
  // The packed kernels fold the output projection with the residual add: the ablation comes before them. Compared
  // with the cut weights packed too, so that both sides sum in the packed kernels' order.
  const Model& packed = fixture_model("llama-gqa");
  REQUIRE(packed.weights_packed());
  auto cut_packed = with_heads_cut(m, {{1, 2}, {3, 0}});
  REQUIRE(cut_packed->pack_weights());
  CHECK(max_abs_diff(all_logits(packed, ids, &bias), all_logits(*cut_packed, ids, nullptr)) <= 1e-5);
  // And it changes something: the unablated logits differ.
  CHECK(max_abs_diff(all_logits(m, ids, nullptr), want) > 1e-3);
}

TEST_CASE("ablating every head of a layer removes the attention block's contribution") {
  const Model& m = plain_model();
  REQUIRE_FALSE(m.config().o_bias);  // without an output bias, no head output = no attention contribution
  const auto ids = prompt_ids();
  const auto T = static_cast<int64_t>(ids.size());
  const AttentionBias bias = compile_json(m, R"({"method": "none", "ablate": ["L2"]})", T);
  ModelWeights w = m.weights();
  w.layers[2].o_w = at::zeros_like(w.layers[2].o_w);
  Model no_attn(m.config(), w, m.device(), m.dtype());
  CHECK(max_abs_diff(all_logits(m, ids, &bias), all_logits(no_attn, ids, nullptr)) <= 1e-5);
}

TEST_CASE("an empty ablation list is bit-identical to none") {
  const Model& m = fixture_model("llama-gqa");
  const auto ids = prompt_ids();
  const auto T = static_cast<int64_t>(ids.size());
  const AttentionBias empty = compile_json(m, R"({"method": "none", "ablate": []})", T);
  CHECK_FALSE(empty.any_active());
  const at::Tensor a = all_logits(m, ids, &empty), b = all_logits(m, ids, nullptr);
  CHECK(at::equal(a, b));
  // Also next to a steering: the PASTA bias alone and with an empty ablation give the same bits.
  const std::string pasta = R"({"method": "pasta", "heads": ["L1H1"], "spans": [[2, 6]])";
  const AttentionBias p0 = compile_json(m, pasta + "}", T), p1 = compile_json(m, pasta + R"(, "ablate": []})", T);
  CHECK(at::equal(all_logits(m, ids, &p0), all_logits(m, ids, &p1)));
}

TEST_CASE("ablation combines with steering in one spec") {
  const Model& m = plain_model();
  const auto ids = prompt_ids();
  const auto T = static_cast<int64_t>(ids.size());
  const AttentionBias both =
      compile_json(m, R"({"method": "pasta", "heads": ["L1H1", "L2H3"], "spans": [[2, 6]], "ablate": ["L2H0"]})", T);
  const AttentionBias steer_only = compile_json(m, R"({"method": "pasta", "heads": ["L1H1", "L2H3"], "spans": [[2, 6]]})", T);
  auto cut = with_heads_cut(m, {{2, 0}});
  CHECK(max_abs_diff(all_logits(m, ids, &both), all_logits(*cut, ids, &steer_only)) <= 1e-5);
}

TEST_CASE("mean ablation replaces the head's output by its unsteered mean over the prompt") {
  const Model& m = plain_model();
  const auto ids = prompt_ids();
  const auto T = static_cast<int64_t>(ids.size());
  AttentionBias bias = compile_json(m, R"({"method": "none", "ablate": ["L1H3"], "ablation": "mean"})", T);
  CHECK(bias.ablation.needs_means());
  // A prefill from position 0 computes the means of its own ids when none were given.
  const at::Tensor self_filled = all_logits(m, ids, &bias);
  // A decode step cannot: it does not see the prompt. An error naming the head.
  {
    KVCache c = m.new_cache(1, T + 1);
    m.forward(at::tensor(ids, at::kLong).unsqueeze(0), c);
    ForwardOptions fo;
    fo.bias = &bias;
    CHECK_THROWS_WITH_AS(m.forward(at::tensor(std::vector<int64_t>{3}, at::kLong).unsqueeze(0), c, fo),
                         doctest::Contains("mean ablation of L1H3"), hl::Error);
  }
  const at::Tensor prompt = at::tensor(ids, at::kLong).unsqueeze(0);
  fill_ablation_means(m, prompt, bias);
  REQUIRE(bias.ablation.has_means());
  CHECK(at::equal(self_filled, all_logits(m, ids, &bias)));
  const int64_t hd = m.config().head_dim, D = m.config().hidden;
  const at::Tensor mu = at::from_blob(const_cast<float*>(bias.ablation.mean(0, 1, 3)), {hd}, at::kFloat).clone();
  // Oracle: zero the head's columns and add W_o[:, slice] @ mu to the output bias.
  const at::Tensor wo = m.weights().layers[1].o_w.narrow(1, 3 * hd, hd);  // [D, hd]
  auto cut = with_heads_cut(m, {{1, 3}}, {{1, at::matmul(wo, mu).view({D})}});
  CHECK(max_abs_diff(all_logits(m, ids, &bias), all_logits(*cut, ids, nullptr)) <= 1e-5);
  // generate() fills the means itself and agrees with the surgery model step by step (KV cache, decode steps).
  AttentionBias fresh = compile_json(m, R"({"method": "none", "ablate": ["L1H3"], "ablation": "mean"})", T);
  GenerateResult g = greedy16(m, ids, &fresh), want = greedy16(*cut, ids, nullptr);
  CHECK(g.tokens[0] == want.tokens[0]);
  CHECK(max_abs_diff(g.step_logits, want.step_logits) <= 1e-5);
}

TEST_CASE("head means are the per-position head outputs averaged") {
  // A one-token prompt: each head attends only to its own key, so its output (and mean) is that token's value
  // vector of the head's KV group.
  const Model& m = plain_model();
  const int64_t hd = m.config().head_dim, H = m.config().n_heads, KVH = m.config().n_kv_heads;
  KVCache c = m.new_cache(1, 1);
  ForwardOptions fo;
  fo.keep_head_means = true;
  ForwardResult r = m.forward(at::tensor(std::vector<int64_t>{5}, at::kLong).unsqueeze(0), c, fo);
  for (int64_t l = 0; l < m.config().n_layers; ++l)
    for (int64_t h = 0; h < H; ++h) {
      const at::Tensor v = c.values(l)[0][h / (H / KVH)][0];  // [hd]
      CHECK(max_abs_diff(r.head_means[0][l][h], v) <= 1e-6);
    }
  CHECK(r.head_means.size(3) == hd);
}

TEST_CASE("batched rows ablate different heads; generation and the session agree with full runs") {
  const Model& m = fixture_model("llama-gqa");
  const auto ids = prompt_ids();
  const auto T = static_cast<int64_t>(ids.size());
  const std::vector<std::string> specs = {R"({"method": "none", "ablate": ["L0H1"]})",
                                          R"({"method": "none", "ablate": ["L2H2"], "ablation": "mean"})",
                                          R"({"method": "none"})"};
  std::vector<SteeringSpec> ss;
  std::vector<std::vector<SteeringSpan>> spans;
  for (const auto& j : specs) {
    ss.push_back(parse_steering_spec(j));
    spans.emplace_back();
  }
  AttentionBias rows = compile_per_row(ss, 4, 4, T, spans);
  const at::Tensor prompt = at::tensor(ids, at::kLong).unsqueeze(0);
  fill_ablation_means(m, prompt, rows);
  KVCache c = m.new_cache(3, T);
  ForwardOptions fo;
  fo.bias = &rows;
  fo.all_logits = true;
  const at::Tensor batched = m.forward(prompt.expand({3, T}), c, fo).logits;
  for (int64_t r = 0; r < 3; ++r) {
    INFO("row ", r);
    AttentionBias one = compile_json(m, specs[static_cast<size_t>(r)], T);
    fill_ablation_means(m, prompt, one);
    CHECK(max_abs_diff(batched[r], all_logits(m, ids, &one)[0]) <= 1e-5);
  }

  SteeringSession s(m, ids, 10);
  GenerateOptions go;
  go.max_new_tokens = 10;
  go.stop_at_eos = false;
  go.keep_step_logits = true;
  (void)s.baseline(go);
  for (const auto& j : {specs[0], specs[1], std::string(R"({"method": "guide", "layers": [3], "spans": [[1, 4]], "ablate": ["L2H1"]})")}) {
    INFO(j);
    const AttentionBias b = compile_json(m, j, T);
    GenerateOptions o = go;
    o.bias = &b;
    GenerateResult fast = s.steered(o), full = generate(m, ids, o);
    CHECK(s.last_resume_layer() == b.ablation.lowest_layer());
    CHECK(s.last_resume_position() == 0);
    CHECK(fast.tokens[0] == full.tokens[0]);
    CHECK(max_abs_diff(fast.step_logits, full.step_logits) <= 1e-4);
  }
}

TEST_CASE("scan_heads --effect ablate: each head ablated alone, the prompt loss per head") {
  const Model& m = fixture_model("llama-gqa");
  const auto ids = prompt_ids();
  const auto T = static_cast<int64_t>(ids.size());
  const AttentionBias cands = compile_json(m, R"({"method": "none", "ablate": ["L0", "L3H1"]})", T);
  for (AblationMode mode : {AblationMode::Zero, AblationMode::Mean}) {
    INFO(to_string(mode));
    HeadScanOptions so;
    so.effect = HeadEffect::Ablate;
    so.ablation = mode;
    so.prompt_loss = true;
    so.max_rows = 3;  // layer 0's four heads in two forwards
    HeadScanResult r = scan_heads(m, ids, cands, so);
    REQUIRE(r.heads.size() == 5);
    CHECK(r.heads.back() == std::make_pair<int64_t, int64_t>(3, 1));
    const at::Tensor next = at::tensor(std::vector<int64_t>(ids.begin() + 1, ids.end()), at::kLong);
    auto loss_of = [&](const at::Tensor& logits) {  // [1, T, V]
      const at::Tensor lp = at::log_softmax(logits[0].narrow(0, 0, T - 1).to(at::kDouble), -1);
      return -lp.gather(1, next.unsqueeze(1)).mean().item<double>();
    };
    CHECK(r.base_loss == doctest::Approx(loss_of(all_logits(m, ids, nullptr))).epsilon(1e-9));
    for (size_t i = 0; i < r.heads.size(); ++i) {
      AttentionBias one(1, 4, 4, T);
      one.ablation.set(0, r.heads[i].first, r.heads[i].second, mode);
      fill_ablation_means(m, at::tensor(ids, at::kLong).unsqueeze(0), one);
      const at::Tensor full = all_logits(m, ids, &one);
      CHECK(std::abs(r.loss[i] - loss_of(full)) <= 1e-5);
      CHECK(max_abs_diff(r.steered[static_cast<int64_t>(i)], full[0][T - 1]) <= 1e-4);
    }
  }
}
