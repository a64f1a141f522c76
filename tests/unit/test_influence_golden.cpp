// InfluenceTracer against the official GUIDE code's Influence and AttentionRollout outputs
// (fixtures/guide/README.md): the recorded per-layer head-mean attention and embeddings are fed through fake
// views, and the traced influence must match the recorded one.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <string>

#include "analysis/influence.h"
#include "core/formats/safetensors.h"
#include "unit/fake_views.h"

namespace {

const std::string kGuideDir = std::string(HEADLIGHT_SHARED_DIR) + "/fixtures/guide/";

std::vector<float> read_f32(const hl::SafetensorsFile& f, const std::string& name, std::vector<int64_t> shape) {
  const hl::TensorInfo& t = f.at(name);
  REQUIRE(t.dtype == hl::DType::F32);
  REQUIRE(t.shape == shape);
  std::vector<float> v(static_cast<size_t>(t.numel()));
  std::memcpy(v.data(), f.data(t), v.size() * sizeof(float));
  return v;
}

}  // namespace

TEST_CASE("influence golden: official GUIDE Influence and AttentionRollout") {
  const int64_t T = 40, D = 64, span_begin = 5, span_end = 12;
  for (const char* model : {"llama-gqa", "llama3-rope", "mistral"}) {
    hl::SafetensorsFile f(kGuideDir + model + "/golden.safetensors");
    for (const char* delta : {"0.0", "1.0"}) {
      CAPTURE(model);
      CAPTURE(delta);
      const std::string prefix = std::string("fwdhook.delta") + delta + ".";
      const int64_t L = f.at(prefix + "avg_attention_heads").shape.at(0);
      const std::vector<float> attn = read_f32(f, prefix + "avg_attention_heads", {L, T, T});
      const std::vector<float> raw = read_f32(f, prefix + "raw_embedding", {L, T, D});
      const std::vector<float> modified = read_f32(f, prefix + "modified_embedding", {L, T, D});

      std::vector<hl::test::FakeLayer> layers(static_cast<size_t>(L));
      for (int64_t l = 0; l < L; ++l) {
        hl::test::FakeLayer& fl = layers[l];
        fl.tokens = fl.keys = T;
        fl.heads = 1;  // the recorded matrix already is the head mean
        fl.probs.assign(attn.begin() + l * T * T, attn.begin() + (l + 1) * T * T);
        fl.dim = D;
        fl.attn_input.assign(raw.begin() + l * T * D, raw.begin() + (l + 1) * T * D);
        fl.attn_output.assign(modified.begin() + l * T * D, modified.begin() + (l + 1) * T * D);
      }
      hl::InfluenceConfig cfg;
      cfg.indicator = hl::InfluenceConfig::span_indicator(span_begin, span_end);
      cfg.norms = hl::InfluenceNorms::Guide;
      for (int64_t block : {0, 7}) {  // whole prompt in one block, and in blocks of 7 rows
        hl::InfluenceTracer tracer(cfg);
        hl::test::replay_forward(tracer, layers, block);
        const hl::InfluenceTrace trace = tracer.trace(0);
        REQUIRE(trace.layers == L);
        REQUIRE(trace.tokens == T);
        const std::vector<float> want_i = read_f32(f, std::string("influence.delta") + delta + ".influence", {L + 1, T});
        const std::vector<float> want_r =
            read_f32(f, std::string("attentionrollout.delta") + delta + ".influence", {L + 1, T});
        double max_i = 0, max_r = 0;
        for (size_t k = 0; k < want_i.size(); ++k) {
          max_i = std::max(max_i, static_cast<double>(std::fabs(trace.influence[k] - want_i[k])));
          max_r = std::max(max_r, static_cast<double>(std::fabs(trace.rollout[k] - want_r[k])));
        }
        CAPTURE(block);
        CHECK(max_i <= 1e-5);
        CHECK(max_r <= 1e-5);
      }
    }
  }
}

TEST_CASE("influence golden: residual norms differ from the official lag") {
  // Guards the "guide" flag: the official code's lag is observable on these fixtures (README: up to 9.5e-3 on
  // llama-gqa when layer l's own input is used instead).
  hl::SafetensorsFile f(kGuideDir + "llama-gqa/golden.safetensors");
  const int64_t T = 40, D = 64;
  const std::string prefix = "fwdhook.delta0.0.";
  const int64_t L = f.at(prefix + "avg_attention_heads").shape.at(0);
  const std::vector<float> attn = read_f32(f, prefix + "avg_attention_heads", {L, T, T});
  const std::vector<float> raw = read_f32(f, prefix + "raw_embedding", {L, T, D});
  const std::vector<float> modified = read_f32(f, prefix + "modified_embedding", {L, T, D});
  std::vector<hl::test::FakeLayer> layers(static_cast<size_t>(L));
  for (int64_t l = 0; l < L; ++l) {
    hl::test::FakeLayer& fl = layers[l];
    fl.tokens = fl.keys = T;
    fl.probs.assign(attn.begin() + l * T * T, attn.begin() + (l + 1) * T * T);
    fl.dim = D;
    fl.attn_input.assign(raw.begin() + l * T * D, raw.begin() + (l + 1) * T * D);
    fl.residual_in = fl.attn_input;  // "own layer's input": what the lag-free recursion would use
    fl.attn_output.assign(modified.begin() + l * T * D, modified.begin() + (l + 1) * T * D);
  }
  hl::InfluenceConfig cfg;
  cfg.indicator = hl::InfluenceConfig::span_indicator(5, 12);
  cfg.norms = hl::InfluenceNorms::Residual;
  hl::InfluenceTracer tracer(cfg);
  hl::test::replay_forward(tracer, layers);
  const std::vector<float> want = read_f32(f, "influence.delta0.0.influence", {L + 1, T});
  double max_diff = 0;
  const hl::InfluenceTrace trace = tracer.trace(0);
  for (size_t k = 0; k < want.size(); ++k)
    max_diff = std::max(max_diff, static_cast<double>(std::fabs(trace.influence[k] - want[k])));
  CHECK(max_diff > 1e-3);
}
