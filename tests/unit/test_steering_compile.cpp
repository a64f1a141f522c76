// SteeringSpec -> AttentionBias: the methods.md oracles, the PASTA golden cases, and the PASTA/GUIDE
// equivalence, all through a small reference softmax over (logits + compiled key bias).
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/steering/head_config.h"
#include "core/formats/model_config.h"
#include "core/steering/steering_spec.h"

namespace fs = std::filesystem;
using hl::SteeringSpan;
using hl::SteeringSpec;

namespace {

// softmax_j(logits_j + B_j) for one steered (layer, head); keys past the prompt (generated) get no bias.
std::vector<double> steered_softmax(const std::vector<double>& logits, const hl::AttentionBias& bias, int64_t row,
                                    int64_t layer, int64_t head) {
  std::vector<double> x = logits;
  for (int64_t j = 0; j < bias.prompt_len() && j < static_cast<int64_t>(x.size()); ++j)
    x[static_cast<size_t>(j)] += bias.row(row, layer, head)[j];
  double m = x[0];
  for (double v : x) m = std::max(m, v);
  double s = 0;
  for (double& v : x) s += (v = std::exp(v - m));
  for (double& v : x) v /= s;
  return x;
}

void check_close(const std::vector<double>& got, const std::vector<double>& want, double tol) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    CAPTURE(i);
    CHECK(std::abs(got[i] - want[i]) <= tol);
  }
}

SteeringSpec pasta(const std::string& heads, double alpha, hl::ScalePosition pos = hl::ScalePosition::Exclude) {
  SteeringSpec s;
  s.method = hl::SteeringMethod::Pasta;
  s.heads = hl::parse_head_set_text(heads, "heads");
  s.alpha = alpha;
  s.scale_position = pos;
  return s;
}

SteeringSpec guide(double delta, hl::LayerSelection layers = {}) {
  SteeringSpec s;
  s.method = hl::SteeringMethod::Guide;
  s.delta = delta;
  s.layers = layers;
  return s;
}

const std::vector<double> kLogits = {1, 2, 0.5, 0, 1.5};  // 4 prompt keys + 1 generated key

}  // namespace

TEST_CASE("steering oracle: PASTA alpha=0.01, span = key 2, one generated key (methods 2.4)") {
  const hl::AttentionBias none = hl::compile(SteeringSpec{}, 1, 1, 4, {{2, 3}});
  check_close(steered_softmax(kLogits, none, 0, 0, 0), {.1577, .4287, .0956, .0580, .2600}, 5e-5);
  const hl::AttentionBias b = hl::compile(pasta("L0H0", 0.01), 1, 1, 4, {{2, 3}});
  CHECK(b.active(0, 0, 0));
  check_close(steered_softmax(kLogits, b, 0, 0, 0), {.00436, .01184, .26416, .00160, .71805}, 1e-5);
}

TEST_CASE("steering oracle: GUIDE delta=1 on key 2 (methods 10 iii) and InstABoost(M=e) == GUIDE(1)") {
  const hl::AttentionBias g = hl::compile(guide(1.0), 1, 1, 4, {{2, 3}});
  check_close(steered_softmax(kLogits, g, 0, 0, 0), {.135435, .368151, .223295, .049824, .223295}, 1e-6);

  SteeringSpec ib;
  ib.method = hl::SteeringMethod::InstaBoost;
  ib.multiplier = std::exp(1.0);
  const hl::AttentionBias i = hl::compile(ib, 1, 1, 4, {{2, 3}});
  for (int64_t j = 0; j < 4; ++j) CHECK(i.row(0, 0, 0)[j] == g.row(0, 0, 0)[j]);

  // A level scales delta like GUIDE's tags: <!-> = delta/2, <!!!-> = 2 delta.
  const auto kb = hl::key_bias(guide(1.0), 6, {{0, 1, 0.5}, {2, 3, 1.0}, {4, 5, 2.0}});
  CHECK(kb == std::vector<float>{0.5f, 0, 1.0f, 0, 2.0f, 0});
}

TEST_CASE("steering: no-op settings leave every head inactive") {
  const std::vector<SteeringSpan> span = {{2, 3}};
  CHECK_FALSE(hl::compile(pasta("all", 1.0), 2, 2, 4, span).any_active());
  CHECK_FALSE(hl::compile(pasta("all", 1.0, hl::ScalePosition::Include), 2, 2, 4, span).any_active());
  CHECK_FALSE(hl::compile(pasta("all", 1.0, hl::ScalePosition::Generation), 2, 2, 4, span).any_active());
  CHECK_FALSE(hl::compile(guide(0.0), 2, 2, 4, span).any_active());
  SteeringSpec ib;
  ib.method = hl::SteeringMethod::InstaBoost;
  ib.multiplier = 1.0;
  CHECK_FALSE(hl::compile(ib, 2, 2, 4, span).any_active());
  CHECK_FALSE(hl::compile(pasta("{}", 0.01), 2, 2, 4, span).any_active());
  CHECK_FALSE(hl::compile(guide(1.0, {hl::LayerSelection::Kind::None, {}}), 2, 2, 4, span).any_active());
  CHECK_FALSE(hl::compile(SteeringSpec{}, 2, 2, 4, span).any_active());
  CHECK_FALSE(hl::compile(pasta("all", 0.01), 2, 2, 4, {}).any_active());
  // And the oracle logits come back unchanged.
  const auto out = steered_softmax(kLogits, hl::compile(guide(0.0), 1, 1, 4, span), 0, 0, 0);
  const auto base = steered_softmax(kLogits, hl::compile(SteeringSpec{}, 1, 1, 4, span), 0, 0, 0);
  CHECK(out == base);
}

TEST_CASE("steering: GUIDE layer choices steer every head of those layers") {
  const hl::AttentionBias last = hl::compile(guide(1.0, {hl::LayerSelection::Kind::Last, {}}), 3, 2, 4, {{1, 2}});
  CHECK(last.lowest_active_layer() == 2);
  CHECK(last.active(0, 2, 0));
  CHECK(last.active(0, 2, 1));
  CHECK_FALSE(last.layer_active(0));
  const hl::AttentionBias list = hl::compile(guide(1.0, {hl::LayerSelection::Kind::List, {0, 2}}), 3, 2, 4, {{1, 2}});
  CHECK(list.layer_active(0));
  CHECK_FALSE(list.layer_active(1));
  CHECK(list.layer_active(2));
  CHECK(list.row(0, 2, 1)[1] == 1.0f);
  CHECK(list.row(0, 2, 1)[0] == 0.0f);
}

TEST_CASE("steering property: PASTA exclude(alpha) == GUIDE(delta = -ln alpha) over prompt keys") {
  // On all heads, PASTA exclude biases keys outside the spans by log(alpha) per section and GUIDE biases
  // span keys by +delta; with disjoint spans and delta = -log(alpha) the two bias vectors differ by one
  // constant over the prompt (k*c for k sections under the official rule, c under "union"), so the
  // softmax over prompt keys is identical. A generated key (bias 0 in both) breaks the equivalence.
  std::mt19937 rng(1234);
  std::uniform_real_distribution<double> logit(-4, 4);
  std::uniform_real_distribution<double> alpha_dist(0.005, 0.9);
  for (int trial = 0; trial < 200; ++trial) {
    const int64_t n = 6 + trial % 20;
    const double alpha = alpha_dist(rng);
    std::vector<SteeringSpan> spans;
    // 1-3 disjoint spans.
    const int64_t k = 1 + trial % 3;
    const int64_t width = n / k;
    for (int64_t s = 0; s < k; ++s) {
      const int64_t b = s * width + static_cast<int64_t>(rng() % 2);
      const int64_t e = std::min<int64_t>(b + 1 + static_cast<int64_t>(rng() % std::max<int64_t>(1, width - 2)), (s + 1) * width);
      spans.push_back({b, std::max(e, b + 1)});
    }
    SteeringSpec p = pasta("all", alpha);
    if (trial % 2) p.multispan = hl::MultispanRule::Union;
    const SteeringSpec g = guide(-std::log(alpha));
    const hl::AttentionBias pb = hl::compile(p, 2, 2, n, spans);
    const hl::AttentionBias gb = hl::compile(g, 2, 2, n, spans);
    std::vector<double> x(static_cast<size_t>(n));
    for (double& v : x) v = logit(rng);
    for (int64_t l = 0; l < 2; ++l)
      for (int64_t h = 0; h < 2; ++h) {
        const double shift = pb.row(0, l, h)[0] - gb.row(0, l, h)[0];
        for (int64_t j = 0; j < n; ++j)
          CHECK(pb.row(0, l, h)[j] - gb.row(0, l, h)[j] == doctest::Approx(shift).epsilon(1e-6));
        check_close(steered_softmax(x, pb, 0, l, h), steered_softmax(x, gb, 0, l, h), 1e-6);
      }
  }
  // With a generated key the methods differ: PASTA leaves it level with the span, GUIDE leaves it behind.
  const hl::AttentionBias pb = hl::compile(pasta("L0H0", 0.01), 1, 1, 4, {{2, 3}});
  const hl::AttentionBias gb = hl::compile(guide(-std::log(0.01)), 1, 1, 4, {{2, 3}});
  const auto pp = steered_softmax(kLogits, pb, 0, 0, 0), gp = steered_softmax(kLogits, gb, 0, 0, 0);
  CHECK(pp[4] > 0.7);
  CHECK(gp[4] < 0.03);
  CHECK(pp[2] / pp[4] == doctest::Approx(gp[2] / gp[4] * 0.01).epsilon(1e-5));
}

TEST_CASE("steering: PASTA golden fixture cases compile to the per-key values the official hook adds") {
  const fs::path fixtures = fs::path(HEADLIGHT_SHARED_DIR) / "fixtures";
  int cases = 0;
  for (const char* model : {"llama-gqa", "mistral", "gptj"}) {
    std::ifstream in(fixtures / "pasta" / model / "golden.json");
    REQUIRE(in);
    const nlohmann::json golden = nlohmann::json::parse(in);
    const hl::ModelConfig cfg = hl::load_model_config(fixtures / model / "config.json");
    for (const auto& [name, c] : golden.at("cases").items()) {
      if (name == "baseline") continue;
      CAPTURE(model);
      const std::string case_name = name;  // clang (C++17) cannot capture a structured binding
      CAPTURE(case_name);
      ++cases;
      SteeringSpec spec;
      spec.method = hl::SteeringMethod::Pasta;
      spec.heads = hl::parse_head_set(c.at("head_config"), "head_config");
      spec.alpha = c.at("alpha").get<double>();
      const std::string pos = c.at("scale_position");
      spec.scale_position = pos == "exclude"   ? hl::ScalePosition::Exclude
                            : pos == "include" ? hl::ScalePosition::Include
                                               : hl::ScalePosition::Generation;
      std::vector<SteeringSpan> spans;
      for (const auto& r : c.at("token_ranges_end_exclusive")) spans.push_back({r[0].get<int64_t>(), r[1].get<int64_t>()});
      const int64_t n = c.at("input_len").get<int64_t>();

      const float cst = c.at("scale_constant_log_alpha_fp32").get<float>();
      CHECK(std::log(static_cast<float>(spec.alpha)) == cst);

      const hl::AttentionBias b = hl::compile(spec, cfg.n_layers, cfg.n_heads, n, spans);
      CHECK(b.prompt_len() == n);
      CHECK(b.apply_at == hl::ApplyAt::All);
      const auto steered = spec.heads.expand(cfg.n_layers, cfg.n_heads);
      for (int64_t l = 0; l < cfg.n_layers; ++l)
        for (int64_t h = 0; h < cfg.n_heads; ++h) {
          const bool want = std::find(steered.begin(), steered.end(), hl::HeadRef{l, h}) != steered.end();
          CHECK(b.active(0, l, h) == want);
          for (int64_t j = 0; j < n; ++j) {
            int inside = 0;
            for (const auto& s : spans) inside += (j >= s.begin && j < s.end);
            const int k = static_cast<int>(spans.size());
            float expect = 0.0f;
            if (want) {
              if (pos == "exclude")
                for (int i = 0; i < k - inside; ++i) expect += cst;  // +c per section the key is outside of
              else if (pos == "include")
                expect = inside ? 0.0f : -cst;
              else
                for (int i = 0; i < k; ++i) expect += cst;
            }
            CAPTURE(l);
            CAPTURE(h);
            CAPTURE(j);
            CHECK(b.row(0, l, h)[j] == expect);
          }
        }
    }
  }
  CHECK(cases == 24);
}

TEST_CASE("steering: README two-section values and the union rule") {
  const float c = std::log(0.01f);
  const std::vector<SteeringSpan> two = {{5, 12}, {20, 26}};
  auto kb = hl::key_bias(pasta("L0H0", 0.01), 40, two);
  CHECK(kb[0] == c + c);
  CHECK(kb[4] == c + c);
  CHECK(kb[5] == c);
  CHECK(kb[12] == c + c);
  CHECK(kb[25] == c);
  CHECK(kb[26] == c + c);
  CHECK(kb[39] == c + c);
  SteeringSpec u = pasta("L0H0", 0.01);
  u.multispan = hl::MultispanRule::Union;
  kb = hl::key_bias(u, 40, two);
  CHECK(kb[0] == c);
  CHECK(kb[5] == 0.0f);
  CHECK(kb[12] == c);
  CHECK(kb[20] == 0.0f);
  u.scale_position = hl::ScalePosition::Generation;
  kb = hl::key_bias(u, 40, two);
  CHECK(kb[0] == c);
  CHECK(kb[5] == c);
  u.scale_position = hl::ScalePosition::Include;
  kb = hl::key_bias(u, 40, {{5, 12}, {8, 14}});  // overlapping: union counts each key once
  CHECK(kb[9] == 0.0f);
  CHECK(kb[13] == 0.0f);
  CHECK(kb[14] == -c);
  kb = hl::key_bias(pasta("L0H0", 0.01, hl::ScalePosition::Include), 40, {{5, 12}, {8, 14}});
  CHECK(kb[9] == c + c - c);  // the official rule adds c per section, then subtracts once
}

TEST_CASE("steering: batched compile gives each row its own spec") {
  const SteeringSpec a = pasta("L1H0", 0.01), b = pasta("L2H1", 0.01);
  const hl::AttentionBias bias = hl::compile_per_row({a, b, SteeringSpec{}}, 4, 4, 10, {{{2, 5}}, {{3, 4}}, {}});
  CHECK(bias.batch() == 3);
  CHECK(bias.active(0, 1, 0));
  CHECK_FALSE(bias.active(0, 2, 1));
  CHECK(bias.active(1, 2, 1));
  CHECK_FALSE(bias.active(1, 1, 0));
  CHECK_FALSE(bias.layer_active(3));
  for (int64_t l = 0; l < 4; ++l)
    for (int64_t h = 0; h < 4; ++h) CHECK_FALSE(bias.active(2, l, h));
  CHECK(bias.row(0, 1, 0)[0] == std::log(0.01f));
  CHECK(bias.row(0, 1, 0)[2] == 0.0f);
  CHECK(bias.row(1, 2, 1)[2] == std::log(0.01f));
  CHECK(bias.row(1, 2, 1)[3] == 0.0f);

  SteeringSpec p = b;
  p.apply_at = hl::ApplyAt::Prefill;
  CHECK_THROWS_WITH_AS(hl::compile_per_row({a, p}, 4, 4, 10, {{{2, 5}}, {{3, 4}}}), doctest::Contains("apply_at"),
                       hl::Error);
  CHECK_THROWS_WITH_AS(hl::compile_per_row({a, b}, 4, 4, 10, {{{2, 5}}}), doctest::Contains("one per batch row"),
                       hl::Error);
  CHECK_THROWS_WITH_AS(hl::compile_per_row({a, b}, 4, 4, 10, {{{2, 5}}, {{3, 14}}}), doctest::Contains("row 1"),
                       hl::Error);
}

TEST_CASE("steering: compile rejects out-of-range heads and spans past the prompt") {
  CHECK_THROWS_WITH_AS(hl::compile(pasta("L4H0", 0.01), 4, 4, 10, {{1, 2}}), doctest::Contains("L4"), hl::Error);
  CHECK_THROWS_WITH_AS(hl::compile(pasta("L1H0", 0.01), 4, 4, 10, {{5, 11}}),
                       doctest::Contains("extends past the prompt (10 tokens)"), hl::Error);
  CHECK_THROWS_WITH_AS(hl::compile(guide(1), 4, 4, 10, {{5, 5}}), doctest::Contains("empty"), hl::Error);
  CHECK_THROWS_WITH_AS(hl::compile(pasta("L1H0", 0.0), 4, 4, 10, {{1, 2}}), doctest::Contains("'alpha'"), hl::Error);
  CHECK_THROWS_WITH_AS(hl::key_bias(pasta("L1H0", -1.0), 10, {{1, 2}}), doctest::Contains("'alpha'"), hl::Error);
  CHECK_THROWS_WITH_AS(hl::key_bias(guide(NAN), 10, {{1, 2}}), doctest::Contains("'delta'"), hl::Error);
  const hl::AttentionBias pre = hl::compile(
      hl::parse_steering_spec(R"({"method": "guide", "apply_at": "prefill"})"), 2, 2, 4, {{0, 1}});
  CHECK(pre.apply_at == hl::ApplyAt::Prefill);
}

TEST_CASE("attention bias: set copies one head's vector and marks it active") {
  hl::AttentionBias src(1, 2, 2, 5);
  src.add(0, 1, 0, 1, 3, -4.6f);
  src.add(0, 1, 0, 2, 5, 0.5f);
  hl::AttentionBias b(3, 2, 2, 5);
  b.add(2, 1, 1, 0, 5, 7.0f);  // replaced, not added to
  b.set(2, 1, 1, src.row(0, 1, 0));
  CHECK(b.active(2, 1, 1));
  CHECK_FALSE(b.active(0, 1, 1));
  for (int64_t k = 0; k < 5; ++k) CHECK(b.row(2, 1, 1)[k] == src.row(0, 1, 0)[k]);
  CHECK(b.first_uneven_key(2) == 1);
  CHECK_THROWS_AS(b.set(-1, 1, 1, src.row(0, 1, 0)), hl::Error);
  CHECK_THROWS_AS(b.set(3, 1, 1, src.row(0, 1, 0)), hl::Error);
}

TEST_CASE("attention bias: the first key an active head biases unevenly, per row") {
  hl::AttentionBias b(2, 3, 2, 10);
  CHECK(b.first_uneven_key(0) == 10);  // nothing active
  b.touch(0, 1, 1);
  CHECK(b.first_uneven_key(0) == 10);  // active, all zero: even
  b.add(0, 1, 0, 0, 6, -4.6f);         // PASTA outside a span [6, 10): keys 0-5 share one bias
  CHECK(b.first_uneven_key(0) == 6);
  b.add(0, 2, 1, 8, 10, 1.0f);         // a later span elsewhere does not move it
  CHECK(b.first_uneven_key(0) == 6);
  b.add(0, 2, 0, 3, 4, 0.5f);          // key 3 differs from key 0
  CHECK(b.first_uneven_key(0) == 3);
  CHECK(b.first_uneven_key(1) == 10);  // row 1 is its own
  b.add(1, 0, 0, 0, 10, 2.0f);         // constant over the whole prompt: no query sees a difference
  CHECK(b.first_uneven_key(1) == 10);
  b.add(1, 0, 1, 1, 2, 2.0f);
  CHECK(b.first_uneven_key(1) == 1);
}
