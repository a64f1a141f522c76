// scan_heads (the profiler's inner loop): every candidate head steered alone, batched per layer, branched from the
// unsteered layers below and the unsteered prompt prefix, equals one full steered forward per head.
#include <cmath>
#include <fstream>

#include "core/engine/head_scan.h"
#include "core/engine/synth.h"
#include "core/error.h"
#include "engine/doctest_torch.h"
#include "engine/golden.h"
#include "engine/kernel_choice.h"
#include "scratch_dir.h"

using namespace hl;
using namespace hl::test;

namespace {

// Next-token logits [V] of a full forward (no reuse) with only (layer, head) of `cand` steered.
at::Tensor one_head_reference(const Model& m, const std::vector<int64_t>& ids, const AttentionBias& cand,
                              int64_t layer, int64_t head) {
  const auto T = static_cast<int64_t>(ids.size());
  AttentionBias one(1, cand.layers(), cand.heads(), T);
  one.apply_at = cand.apply_at;
  one.set(0, layer, head, cand.row(0, layer, head));
  KVCache cache = m.new_cache(1, T);
  ForwardOptions fo;
  fo.bias = &one;
  return m.forward(at::tensor(ids, at::kLong).unsqueeze(0), cache, fo).logits[0][0];
}

// PASTA on every head: log alpha on the keys outside [s, e).
AttentionBias pasta_all_heads(const Model& m, int64_t T, int64_t s, int64_t e) {
  const ModelConfig& c = m.config();
  AttentionBias b(1, c.n_layers, c.n_heads, T);
  for (int64_t l = 0; l < c.n_layers; ++l)
    for (int64_t h = 0; h < c.n_heads; ++h) {
      b.add(0, l, h, 0, s, std::log(0.01f));
      b.add(0, l, h, e, T, std::log(0.01f));
      b.touch(0, l, h);
    }
  return b;
}

std::vector<int64_t> story_ids(const Model& m) {
  return m.tokenizer()
      ->encode("Once upon a time there was a little girl named Lily. She loved to play outside in the park with her dog.")
      .ids;
}

}  // namespace

TEST_CASE("scan_heads equals one full steered forward per head (stories260K, GQA)") {
  auto m = Model::load(shared_dir() / "models/stories260K/hf");
  REQUIRE(m->tokenizer() != nullptr);
  const std::vector<int64_t> ids = story_ids(*m);
  const auto T = static_cast<int64_t>(ids.size());
  REQUIRE(T > 20);
  const int64_t s = 8, e = 14;
  AttentionBias cand = pasta_all_heads(*m, T, s, e);
  const ModelConfig& c = m->config();

  struct Variant {
    int64_t max_rows;
    bool reuse;
  };
  for (Variant v : {Variant{0, true}, Variant{3, true}, Variant{0, false}, Variant{1, true}}) {
    INFO("max_rows ", v.max_rows, " prefix reuse ", v.reuse);
    HeadScanOptions o;
    o.max_rows = v.max_rows;
    o.reuse_prompt_prefix = v.reuse;
    HeadScanResult r = scan_heads(*m, ids, cand, o);
    REQUIRE(r.heads.size() == static_cast<size_t>(c.n_layers * c.n_heads));
    CHECK(r.done == c.n_layers * c.n_heads);
    CHECK_FALSE(r.cancelled);
    const int64_t per_layer = v.max_rows == 0 ? 1 : (c.n_heads + v.max_rows - 1) / v.max_rows;
    CHECK(r.forwards == c.n_layers * per_layer);
    // Positions before the span see log alpha on every key they can see: reused, not recomputed.
    int64_t expect_tokens = 0;
    for (int64_t l = 0; l < c.n_layers; ++l) expect_tokens += c.n_heads * (T - (v.reuse ? s : 0)) * (c.n_layers - l);
    CHECK(r.recomputed_tokens == expect_tokens);

    KVCache cache = m->new_cache(1, T);
    at::Tensor base = m->forward(at::tensor(ids, at::kLong).unsqueeze(0), cache).logits[0][0];
    CHECK(max_abs_diff(r.base, base) == 0.0);
    double largest_effect = 0;
    for (size_t i = 0; i < r.heads.size(); ++i) {
      const auto [l, h] = r.heads[i];
      INFO("layer ", l, " head ", h);
      at::Tensor ref = one_head_reference(*m, ids, cand, l, h);
      CHECK(max_abs_diff(r.steered[static_cast<int64_t>(i)], ref) <= 1e-4);
      largest_effect = std::max(largest_effect, max_abs_diff(ref, base));
    }
    CHECK(largest_effect > 0.05);  // the steering moves the logits: the comparison is not vacuous
  }
}

TEST_CASE("scan_heads: watched tokens, a subset of heads, GUIDE-style biases, learned positions") {
  SUBCASE("log-probabilities of watched tokens (llama-gqa, heads of two layers)") {
    const Model& m = fixture_model("llama-gqa");
    const auto& g = golden(fixture("llama-gqa") / "golden.safetensors");
    std::vector<int64_t> ids = to_ids(g.at("input_ids_b"));
    const auto T = static_cast<int64_t>(ids.size());
    const ModelConfig& c = m.config();
    AttentionBias cand(1, c.n_layers, c.n_heads, T);
    cand.add(0, 1, 0, 3, 9, 2.0f);  // GUIDE: +delta on an instruction span
    cand.add(0, 1, 2, 3, 9, 2.0f);
    cand.add(0, 3, 1, 0, 3, std::log(0.05f));
    cand.add(0, 3, 1, 9, T, std::log(0.05f));
    HeadScanOptions o;
    o.watch_tokens = {5, 17, 3};
    HeadScanResult r = scan_heads(m, ids, cand, o);
    REQUIRE(r.heads == std::vector<std::pair<int64_t, int64_t>>{{1, 0}, {1, 2}, {3, 1}});
    CHECK(r.steered.sizes() == at::IntArrayRef{3, 3});
    at::Tensor watch = at::tensor(o.watch_tokens, at::kLong);
    KVCache cache = m.new_cache(1, T);
    at::Tensor base = m.forward(at::tensor(ids, at::kLong).unsqueeze(0), cache).logits[0][0];
    CHECK(max_abs_diff(r.base, at::log_softmax(base, -1).index_select(0, watch)) <= 1e-6);
    double largest_effect = 0;
    for (size_t i = 0; i < r.heads.size(); ++i) {
      at::Tensor ref = at::log_softmax(one_head_reference(m, ids, cand, r.heads[i].first, r.heads[i].second), -1);
      CHECK(max_abs_diff(r.steered[static_cast<int64_t>(i)], ref.index_select(0, watch)) <= 1e-5);
      largest_effect = std::max(largest_effect, max_abs_diff(r.steered[static_cast<int64_t>(i)], r.base));
    }
    CHECK(largest_effect > 1e-3);  // the watched log-probabilities move: the comparison is not vacuous
  }
  SUBCASE("learned position embeddings, resumed at layer 0 past the first position (gpt2)") {
    const Model& m = fixture_model("gpt2");
    const auto& g = golden(fixture("gpt2") / "golden.safetensors");
    std::vector<int64_t> ids = to_ids(g.at("input_ids_b"));
    const auto T = static_cast<int64_t>(ids.size());
    AttentionBias cand = pasta_all_heads(m, T, 4, 7);
    HeadScanResult r = scan_heads(m, ids, cand);
    double largest_effect = 0;
    for (size_t i = 0; i < r.heads.size(); ++i) {
      INFO("layer ", r.heads[i].first, " head ", r.heads[i].second);
      at::Tensor ref = one_head_reference(m, ids, cand, r.heads[i].first, r.heads[i].second);
      CHECK(max_abs_diff(r.steered[static_cast<int64_t>(i)], ref) <= 1e-4);
      largest_effect = std::max(largest_effect, max_abs_diff(ref, r.base));
    }
    CHECK(largest_effect > 1e-3);  // the steering moves the logits: the comparison is not vacuous
  }
}

TEST_CASE("scan_heads: progress, cancellation from the progress callback, no candidates, bad input") {
  const Model& m = fixture_model("llama-gqa");
  const auto& g = golden(fixture("llama-gqa") / "golden.safetensors");
  std::vector<int64_t> ids = to_ids(g.at("input_ids_b"));
  const auto T = static_cast<int64_t>(ids.size());
  const ModelConfig& c = m.config();
  AttentionBias cand = pasta_all_heads(m, T, 2, 6);

  CancelToken cancel;
  std::vector<int64_t> seen;
  HeadScanOptions o;
  o.max_rows = 3;
  o.cancel = &cancel;
  o.progress = [&](const Progress& p) {
    seen.push_back(p.done);
    CHECK(p.total == c.n_layers * c.n_heads);
    CHECK(p.eta_s >= 0);
    if (p.done >= 5) cancel.cancel();
  };
  HeadScanResult r = scan_heads(m, ids, cand, o);
  CHECK(r.cancelled);
  CHECK(seen == std::vector<int64_t>{3, 4, 7});  // 4 heads per layer in groups of at most 3; stops after the third
  CHECK(r.done == 7);
  for (int64_t i = 0; i < r.done; ++i)
    CHECK(max_abs_diff(r.steered[i], one_head_reference(m, ids, cand, r.heads[static_cast<size_t>(i)].first,
                                                         r.heads[static_cast<size_t>(i)].second)) <= 1e-4);
  CHECK(r.steered.narrow(0, r.done, r.steered.size(0) - r.done).abs().max().item<float>() == 0.0f);

  AttentionBias none(1, c.n_layers, c.n_heads, T);
  HeadScanResult empty = scan_heads(m, ids, none);
  CHECK(empty.heads.empty());
  CHECK(empty.steered.size(0) == 0);
  CHECK(empty.base.size(0) == c.vocab);

  auto error_of = [&](auto&& f) -> std::string {
    try {
      f();
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  CHECK(error_of([&] { scan_heads(m, {}, AttentionBias(1, c.n_layers, c.n_heads, 0)); }).find("empty") !=
        std::string::npos);
  CHECK(error_of([&] { scan_heads(m, ids, AttentionBias(2, c.n_layers, c.n_heads, T)); }).find("one row") !=
        std::string::npos);
  CHECK(error_of([&] { scan_heads(m, ids, AttentionBias(1, c.n_layers, c.n_heads, T + 1)); }).find("covers") !=
        std::string::npos);
  HeadScanOptions bad;
  bad.watch_tokens = {c.vocab};
  CHECK(error_of([&] { scan_heads(m, ids, cand, bad); }).find("watched token") != std::string::npos);
}

TEST_CASE("batch invariance: a head's scanned logits and a sequence's logits are the same floats in any batch, every kernel") {
  // More heads a layer than the small-batch row kernels take (8), so that batched forwards reach the LM head with
  // more rows than that: a tied head (the embedding table) and an untied one.
  KernelChoice kernels;
  for (const bool tied : {true, false}) {
    INFO("tied LM head ", tied);
    hl_test::ScratchDir dir(tied ? "batch_inv_tied" : "batch_inv_untied");
    const std::string cfg = (dir.dir / "shape.json").string();
    {
      std::ofstream f(cfg);
      f << R"({"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 192,
               "intermediate_size": 320, "num_hidden_layers": 2, "num_attention_heads": 12, "num_key_value_heads": 4,
               "vocab_size": 1000, "max_position_embeddings": 256, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
               "hidden_act": "silu", "torch_dtype": "float32", "tie_word_embeddings": )"
        << (tied ? "true" : "false") << "}";
    }
    SynthOptions so;
    so.like = cfg;
    so.seed = 3;
    write_synthetic_model(so, dir.dir / "m");
    LoadOptions lo;
    lo.load_tokenizer = false;
    const auto m = Model::load(dir.dir / "m", lo);
    const std::vector<int64_t> ids = {1, 403, 407, 261, 378, 256, 282, 277, 365, 440, 403, 900, 12, 77, 5, 613};
    const AttentionBias cand = pasta_all_heads(*m, static_cast<int64_t>(ids.size()), 3, 7);
    HeadScanOptions all;  // one batched forward of 12 rows a layer
    HeadScanOptions fives;
    fives.max_rows = 5;
    const HeadScanResult a = scan_heads(*m, ids, cand, all), b = scan_heads(*m, ids, cand, fives);
    CHECK(a.forwards < b.forwards);
    CHECK(at::equal(a.base, b.base));
    CHECK(at::equal(a.steered, b.steered));
    // Twelve sequences in one forward: each row's logits are those of the sequence run alone.
    at::Tensor batch = at::randint(4, 1000, {12, 16}, at::kLong);
    KVCache cb = m->new_cache(12, 16);
    ForwardOptions fo;
    fo.all_logits = true;
    const at::Tensor lb = m->forward(batch, cb, fo).logits;
    for (int64_t r : {0, 11}) {
      KVCache c1 = m->new_cache(1, 16);
      CHECK(at::equal(lb.narrow(0, r, 1), m->forward(batch.narrow(0, r, 1), c1, fo).logits));
    }
  }
}
