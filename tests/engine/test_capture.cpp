// Capture: head statistics computed as attention runs equal the same statistics computed from full maps;
// query blocking (long prompts) gives the same probabilities and statistics as one block.
#include "core/engine/capture.h"
#include "core/error.h"
#include "core/observer_fanout.h"
#include "core/engine/head_stats.h"
#include "engine/golden.h"
#include "engine/kernel_choice.h"
#include "engine/doctest_torch.h"

using namespace hl;
using namespace hl::test;

TEST_CASE("head statistics for all heads match statistics of the full maps") {
  KernelChoice kernels;
  const Model& m = fixture_model("llama-gqa");
  const auto& g = golden(fixture("llama-gqa") / "golden.safetensors");
  at::Tensor ids = g.at("input_ids_b").unsqueeze(0);
  const int64_t T = ids.size(1), L = m.config().n_layers, H = m.config().n_heads;
  REQUIRE(T > 12);
  // Built element by element: filling a range of a vector sized at run time drew a GCC -Wstringop-overflow false
  // positive (it considered T = 0).
  std::vector<uint8_t> span;
  for (int64_t j = 0; j < T; ++j) span.push_back(j >= 5 && j < 12 ? 1 : 0);
  HeadStatsRecorder stats(L, H, span, 12);
  KVCache cache = m.new_cache(1, T);
  ForwardOptions fo;
  fo.observer = &stats;
  m.forward(ids, cache, fo);
  at::Tensor s = stats.stats()[0];  // [L, H, k]
  REQUIRE(s.sizes() == at::IntArrayRef({L, H, 7}));

  at::Tensor p = g.at("attentions_b").to(at::kDouble);  // [L, H, T, T] (HF's own probabilities)
  at::Tensor mask = at::zeros({T}, at::kDouble);
  mask.narrow(0, 5, 7).fill_(1);
  at::Tensor mass = at::matmul(p, mask);  // [L, H, T]
  at::Tensor expect_after = mass.narrow(-1, 12, T - 12).mean(-1);
  at::Tensor expect_last = mass.select(-1, T - 1);
  at::Tensor expect_entropy = -(at::special_xlogy(p, p)).sum(-1).mean(-1);
  at::Tensor expect_max = std::get<0>(p.max(-1)).mean(-1);
  at::Tensor expect_sink = p.select(-1, 0).mean(-1);
  CHECK(max_abs_diff(s.select(-1, 0), expect_after) <= 1e-5);
  CHECK(max_abs_diff(s.select(-1, 1), expect_last) <= 1e-5);
  CHECK(max_abs_diff(s.select(-1, 2), expect_entropy) <= 1e-4);
  CHECK(max_abs_diff(s.select(-1, 3), expect_max) <= 1e-5);
  CHECK(max_abs_diff(s.select(-1, 4), expect_sink) <= 1e-5);

  // Windowed attention distance and future attention influence from HF's n x n probabilities.
  const int64_t W = HeadStatsRecorder::kDefaultDistanceWindow;
  at::Tensor qi = at::arange(T, at::kDouble).unsqueeze(1), kj = at::arange(T, at::kDouble).unsqueeze(0);
  at::Tensor dist = (p * (qi - kj).clamp(0, static_cast<double>(W))).sum(-1);  // [L, H, T] per query
  at::Tensor received = (p * (kj < qi).to(at::kDouble)).sum(2);               // [L, H, T] per key
  at::Tensor later = (T - 1 - at::arange(T, at::kDouble)).clamp_min(1);
  at::Tensor fai = received / later;  // key T-1 has no later query: 0
  CHECK(max_abs_diff(s.select(-1, 5), dist.mean(-1)) <= 1e-4);
  CHECK(max_abs_diff(s.select(-1, 6), fai.narrow(-1, 0, T - 1).mean(-1)) <= 1e-5);
  at::Tensor tok = stats.token_stats()[0];  // [L, H, 2, T]
  REQUIRE(tok.sizes() == at::IntArrayRef({L, H, 2, T}));
  CHECK(max_abs_diff(tok.select(2, 0), dist) <= 1e-4);
  CHECK(max_abs_diff(tok.select(2, 1), fai) <= 1e-5);
  CHECK(HeadStatsRecorder::names().size() == 7);
  CHECK(HeadStatsRecorder::names()[5] == "attn_distance");
  CHECK(HeadStatsRecorder::names()[6] == "future_influence");
}

TEST_CASE("AttentionRecorder keeps only the heads asked for and rejects unknown heads") {
  const Model& m = fixture_model("llama-gqa");
  const auto& g = golden(fixture("llama-gqa") / "golden.safetensors");
  at::Tensor ids = g.at("input_ids_a").unsqueeze(0);
  AttentionRecorder rec(4, 4, {{1, 0}, {3, 2}});
  KVCache cache = m.new_cache(1, ids.size(1));
  ForwardOptions fo;
  fo.observer = &rec;
  m.forward(ids, cache, fo);
  CHECK(max_abs_diff(rec.head(1, 0), g.at("attentions_a")[1][0]) <= 1e-5);
  CHECK(max_abs_diff(rec.head(3, 2), g.at("attentions_a")[3][2]) <= 1e-5);
  CHECK_THROWS_AS(rec.head(0, 0), hl::Error);
  CHECK_THROWS_AS(AttentionRecorder(4, 4, {{4, 0}}), hl::Error);
}

TEST_CASE("query blocking gives the same logits, maps and statistics as one block") {
  const Model& m = fixture_model("mistral");  // sliding window: blocks must respect it too
  const auto& g = golden(fixture("mistral") / "golden.safetensors");
  at::Tensor ids = g.at("input_ids_b").unsqueeze(0);
  const int64_t T = ids.size(1);
  std::vector<uint8_t> span(static_cast<size_t>(T), 0);
  span[3] = span[4] = 1;
  auto run = [&](int64_t block) {
    HeadStatsRecorder stats(3, 4, span, 5);
    AttentionRecorder rec(3, 4);
    ObserverFanout both({&stats, &rec});
    KVCache cache = m.new_cache(1, T);
    ForwardOptions fo;
    fo.all_logits = true;
    fo.observer = &both;
    fo.attention_block_elems = block;
    at::Tensor logits = m.forward(ids, cache, fo).logits;
    return std::make_tuple(logits, rec.all(), stats.stats());
  };
  auto [l1, a1, s1] = run(0);
  auto [l2, a2, s2] = run(4 * 7 * T);  // 7 query rows per block
  // Blocks see only the keys their rows can attend to, so sums run in another order: float32 rounding only.
  CHECK(max_abs_diff(l1, l2) <= 1e-5);
  CHECK(max_abs_diff(a1, a2) <= 1e-6);
  CHECK(max_abs_diff(s1, s2) <= 1e-6);
  CHECK(max_abs_diff(a2, g.at("attentions_b")) <= 1e-5);
}

namespace {

// Records, per layer, whether the view carried probabilities and pre-softmax scores.
class ScoreProbe : public AttentionObserver {
 public:
  explicit ScoreProbe(bool scores) : scores_(scores) {}
  bool wants_scores(int64_t, Phase) const override { return scores_; }
  void on_attention(const AttentionView& v) override {
    saw_probs.push_back(v.native() != nullptr);
    saw_scores.push_back(v.native_scores() != nullptr);
  }
  std::vector<bool> saw_probs, saw_scores;

 private:
  bool scores_;
};

}  // namespace

TEST_CASE("pre-softmax scores are materialised only when an observer wants them, probabilities always") {
  const Model& m = fixture_model("llama-gqa");
  at::Tensor ids = golden(fixture("llama-gqa") / "golden.safetensors").at("input_ids_b").unsqueeze(0);
  const int64_t L = m.config().n_layers;
  for (bool prefill : {true, false}) {
    INFO("prefill ", prefill);
    ScoreProbe probs_only(false), with_scores(true);
    ObserverFanout both({&probs_only, &with_scores});
    for (AttentionObserver* o : {static_cast<AttentionObserver*>(&probs_only), static_cast<AttentionObserver*>(&both)}) {
      KVCache cache = m.new_cache(1, ids.size(1) + 1);
      ForwardOptions fo;
      if (prefill) fo.observer = o;
      m.forward(ids, cache, fo);
      if (!prefill) {  // one decode step (the one-query kernel)
        fo.observer = o;
        m.forward(ids.narrow(1, 0, 1), cache, fo);
      }
    }
    // Alone, the probability reader gets no scores; next to an observer that wants them, both see them.
    REQUIRE(probs_only.saw_scores.size() == static_cast<size_t>(2 * L));
    for (int64_t l = 0; l < L; ++l) {
      CHECK(probs_only.saw_probs[static_cast<size_t>(l)]);
      CHECK_FALSE(probs_only.saw_scores[static_cast<size_t>(l)]);
      CHECK(probs_only.saw_scores[static_cast<size_t>(L + l)]);
      CHECK(with_scores.saw_scores[static_cast<size_t>(l)]);
    }
  }
}

namespace {

// An engine-like view over given probabilities and scores (native tensors), for the statistics' two code paths.
class TensorView : public AttentionView {
 public:
  at::Tensor p, s;
  void copy_head(int64_t, int64_t, float*) const override { throw hl::Error("not used"); }
  void copy_head_mean(int64_t, float*) const override { throw hl::Error("not used"); }
  void head_matvec(const float*, float*) const override { throw hl::Error("not used"); }
  void head_mean_matvec(const float*, float*) const override { throw hl::Error("not used"); }
  void value_norms(float*) const override { throw hl::Error("not used"); }
  const void* native() const override { return &p; }
  const void* native_scores() const override { return &s; }
};

}  // namespace

TEST_CASE("head statistics: the tensor path (non-CPU or strided blocks) equals the CPU row path") {
  KernelChoice kernels;
  const auto& g = golden(fixture("llama-gqa") / "golden.safetensors");
  const at::Tensor maps = g.at("attentions_b").to(at::kFloat);  // [L, H, T, T]
  const int64_t L = maps.size(0), H = maps.size(1), T = maps.size(2);
  std::vector<uint8_t> span(static_cast<size_t>(T), 0);
  for (int64_t j = 3; j < 9; ++j) span[static_cast<size_t>(j)] = 1;
  auto run = [&](bool strided) {
    HeadStatsRecorder rec(L, H, span, 9, 4);
    rec.on_forward_begin(Phase::Prefill, 1, 0, T);
    for (int64_t l = 0; l < L; ++l)
      for (int64_t q0 : {int64_t{0}, T / 2}) {  // two blocks of query rows
        const int64_t R = q0 == 0 ? T / 2 : T - T / 2, n = q0 + R;
        TensorView v;
        v.layer = l, v.batch = 1, v.heads = H, v.q_begin = q0, v.q_end = q0 + R, v.keys = T, v.valid_keys = n;
        at::Tensor p = maps[l].narrow(1, q0, R).narrow(2, 0, n).unsqueeze(0).contiguous();
        at::Tensor s = at::log(p.clamp_min(1e-30f));
        v.p = strided ? p.transpose(2, 3).contiguous().transpose(2, 3) : p;
        v.s = s;
        REQUIRE(v.p.is_contiguous() == !strided);
        rec.on_attention(v);
      }
    return std::make_pair(rec.stats(), rec.token_stats());
  };
  auto [s_cpu, t_cpu] = run(false);
  auto [s_ten, t_ten] = run(true);
  CHECK(max_abs_diff(s_cpu, s_ten) <= 1e-4);
  CHECK(max_abs_diff(t_cpu, t_ten) <= 1e-4);
  CHECK(s_cpu.select(-1, 5).max().item<float>() > 0);  // distances were measured
}
