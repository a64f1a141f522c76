// Golden parity against HF transformers (fixtures/<arch>): logits, attention probabilities, hidden states,
// greedy generation, under every kernel family the CPU runs. Tolerances are the fixtures' (logits 1e-4, probs 1e-5, hidden 1e-4); never widen them.
#include "core/engine/capture.h"
#include "core/engine/generate.h"
#include "engine/golden.h"
#include "engine/kernel_choice.h"
#include "engine/doctest_torch.h"

using namespace hl;
using namespace hl::test;

namespace {

const char* kFixtures[] = {"llama-gqa", "llama-tied", "llama3-rope", "mistral", "qwen2", "gpt2", "gptj", "gpt-neox"};

void check_prompt(const std::string& name, const std::string& suffix) {
  const Model& m = fixture_model(name);
  const auto& g = golden(fixture(name) / "golden.safetensors");
  at::Tensor ids = g.at("input_ids_" + suffix);
  const int64_t T = ids.size(0);
  KVCache cache = m.new_cache(1, T);
  AttentionRecorder rec(m.config().n_layers, m.config().n_heads);
  ForwardOptions fo;
  fo.all_logits = true;
  fo.keep_hidden = true;
  fo.observer = &rec;
  ForwardResult r = m.forward(ids.unsqueeze(0), cache, fo);

  CHECK(max_abs_diff(r.logits[0], g.at("logits_" + suffix)) <= 1e-4);
  CHECK(max_abs_diff(rec.all(), g.at("attentions_" + suffix)) <= 1e-5);
  // hidden_states: [0] embeddings, [i] residual after layer i-1, [L] final norm of the last block output.
  at::Tensor hs = g.at("hidden_states_" + suffix);
  const int64_t L = m.config().n_layers;
  CHECK(max_abs_diff(r.embeddings[0], hs[0]) <= 1e-4);
  for (int64_t i = 1; i < L; ++i) CHECK(max_abs_diff(r.layer_outputs[i - 1][0], hs[i]) <= 1e-4);
  CHECK(max_abs_diff(r.final_normed[0], hs[L]) <= 1e-4);
  at::Tensor lo = g.at("layer_outputs_" + suffix);
  for (int64_t i = 0; i < L; ++i) CHECK(max_abs_diff(r.layer_outputs[i][0], lo[i]) <= 1e-4);

  // Last-position logits only, no observer: the last layer runs attention and MLP for the last query alone.
  KVCache c2 = m.new_cache(2, T);
  at::Tensor last = m.forward(ids.unsqueeze(0).expand({2, T}), c2).logits;
  CHECK(last.sizes() == at::IntArrayRef{2, 1, m.config().vocab});
  for (int64_t b = 0; b < 2; ++b) CHECK(max_abs_diff(last[b][0], g.at("logits_" + suffix)[T - 1]) <= 1e-4);
  for (int64_t l = 0; l < L; ++l) CHECK(max_abs_diff(c2.keys(l)[0], cache.keys(l)[0]) <= 1e-5);
}

}  // namespace

TEST_CASE("parity: every fixture architecture matches HF transformers") {
  KernelChoice kernels;  // every kernel family this CPU runs, the portable one included
  for (const char* name : kFixtures) {
    {
      INFO("fixture ", std::string(name));
      check_prompt(name, "a");
      check_prompt(name, "b");

      const Model& m = fixture_model(name);
      const auto& g = golden(fixture(name) / "golden.safetensors");
      GenerateResult gr = greedy16(m, to_ids(g.at("input_ids_a")), nullptr);
      CHECK(gr.tokens[0] == to_ids(g.at("gen_ids_a")));
      CHECK(max_abs_diff(gr.step_logits[0], g.at("gen_step_logits_a")) <= 1e-4);
      if (g.count("rope_inv_freq")) CHECK(max_abs_diff(m.rope_inv_freq().to(at::kCPU), g.at("rope_inv_freq")) <= 1e-6);
    }
  }
}
