// PASTA through steering specs and the engine, against the official pastalib (fixtures/pasta): every case
// (three modes, one and two spans, alpha 0.01 and 0.1, head sets and whole layers) on llama-gqa, mistral, gptj.
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/engine/capture.h"
#include "core/engine/generate.h"
#include "core/steering/steering_spec.h"
#include "engine/golden.h"
#include "engine/kernel_choice.h"
#include "engine/doctest_torch.h"

using namespace hl;
using namespace hl::test;

TEST_CASE("PASTA steering matches the official code on every fixture case") {
  KernelChoice kernels;
  int cases = 0, generation_cases = 0;
  for (std::string name : {"llama-gqa", "mistral", "gptj"}) {
    const Model& m = fixture_model(name);
    const ModelConfig& c = m.config();
    const auto& g = golden(fixture("pasta/" + name) / "golden.safetensors");
    std::ifstream f(fixture("pasta/" + name) / "golden.json");
    nlohmann::json meta = nlohmann::json::parse(f);
    std::vector<int64_t> ids = to_ids(g.at("input_ids"));
    const auto T = static_cast<int64_t>(ids.size());
    for (auto it = meta["cases"].begin(); it != meta["cases"].end(); ++it) {
      const std::string key = it.key();
      if (key == "baseline") continue;
      INFO(name, " ", key);
      const auto& cs = it.value();
      AttentionBias bias = pasta_golden_bias(cs, key, c, T);

      KVCache cache = m.new_cache(1, T);
      AttentionRecorder rec(c.n_layers, c.n_heads);
      ForwardOptions fo;
      fo.all_logits = true;
      fo.bias = &bias;
      fo.observer = &rec;
      ForwardResult r = m.forward(at::tensor(ids, at::kLong).unsqueeze(0), cache, fo);
      CHECK(max_abs_diff(r.logits[0], g.at(key + ".logits")) <= 1e-4);
      if (g.count(key + ".attentions")) CHECK(max_abs_diff(rec.all(), g.at(key + ".attentions")) <= 1e-5);

      GenerateResult gr = greedy16(m, ids, &bias);
      CHECK(gr.tokens[0] == to_ids(g.at(key + ".gen_ids")));
      CHECK(max_abs_diff(gr.step_logits[0], g.at(key + ".gen_step_logits")) <= 1e-4);
      if (cs["scale_position"] == "generation") {
        // "generation" adds log alpha to every prompt key: a constant over the prompt, which softmax cancels, so the
        // prefill logits equal the baseline's to ~3e-6 and the logits check above cannot fail. What the mode does
        // shows from the first decode step on (the prompt keys get log alpha, the generated ones 0): the ids and
        // step logits checked above are the assertions that can fail, and here is proof that they would.
        GenerateResult plain = greedy16(m, ids, nullptr);
        CHECK(max_abs_diff(r.logits[0].select(0, T - 1), plain.step_logits[0][0]) <= 1e-5);
        CHECK(max_abs_diff(gr.step_logits[0], plain.step_logits[0]) > 1e-2);
        ++generation_cases;
      }
      ++cases;
    }
  }
  CHECK(cases == 24);
  CHECK(generation_cases == 6);
}

TEST_CASE("no-op steering is bit-identical to no steering") {
  const Model& m = fixture_model("llama-gqa");
  const auto& g = golden(fixture("llama-gqa") / "golden.safetensors");
  std::vector<int64_t> ids = to_ids(g.at("input_ids_b"));
  const auto T = static_cast<int64_t>(ids.size());
  auto logits = [&](const AttentionBias* b) {
    KVCache cache = m.new_cache(1, T);
    ForwardOptions fo;
    fo.all_logits = true;
    fo.bias = b;
    return m.forward(at::tensor(ids, at::kLong).unsqueeze(0), cache, fo).logits;
  };
  at::Tensor plain = logits(nullptr);
  for (const char* js : {R"({"method":"pasta","heads":{"1":[0,2]},"alpha":1.0,"spans":[[5,12]]})",
                         R"({"method":"guide","delta":0.0,"layers":"all","spans":[[5,12]]})",
                         R"({"method":"instaboost","multiplier":1.0,"layers":"all","spans":[[5,12]]})",
                         R"({"method":"pasta","heads":{},"alpha":0.01,"spans":[[5,12]]})"}) {
    INFO(js);
    SteeringSpec spec = parse_steering_spec(js);
    AttentionBias b = compile(spec, 4, 4, T, spec.spans);
    CHECK(at::equal(logits(&b), plain));
  }
  // An active head whose bias vector is all zeros takes the bias path and still changes nothing.
  AttentionBias zero(1, 4, 4, T);
  zero.touch(0, 2, 1);
  CHECK(at::equal(logits(&zero), plain));
}
