// The interactive reuse path: re-running a prompt from the lowest steered layer gives the same logits and
// generation as a full steered run.
#include <atomic>
#include <chrono>
#include <thread>

#include "core/engine/session.h"
#include "engine/golden.h"
#include "engine/doctest_torch.h"

using namespace hl;
using namespace hl::test;

TEST_CASE("SteeringSession resumes from the lowest steered layer and matches a full run") {
  const Model& m = fixture_model("llama-gqa");
  const auto& g = golden(fixture("llama-gqa") / "golden.safetensors");
  std::vector<int64_t> ids = to_ids(g.at("input_ids_b"));
  const auto T = static_cast<int64_t>(ids.size());
  SteeringSession s(m, ids, 12);
  GenerateOptions go;
  go.max_new_tokens = 12;
  go.stop_at_eos = false;
  go.keep_step_logits = true;
  const GenerateResult& base = s.baseline(go);
  GenerateResult full_base = generate(m, ids, go);
  CHECK(base.tokens[0] == full_base.tokens[0]);
  // Every steered case below must move the logits: fast == full between two runs the bias did not touch would
  // prove nothing.
  auto check_steers = [&](const GenerateResult& full) { CHECK(max_abs_diff(full.step_logits, base.step_logits) > 1e-3); };

  // Any order: a higher lowest layer after a lower one must restore the layers the earlier run rewrote.
  for (int64_t lowest : {0, 2, 3, 1, 3, 0, 2}) {
    INFO("lowest steered layer ", lowest);
    AttentionBias bias(1, 4, 4, T);
    for (int64_t l = lowest; l < 4; ++l) bias.add(0, l, 1, 0, 5, std::log(0.01f));
    bias.add(0, lowest, 3, 20, 30, 2.0f);
    GenerateOptions o = go;
    o.bias = &bias;
    GenerateResult fast = s.steered(o);
    CHECK(s.last_resume_layer() == lowest);
    CHECK(s.last_resume_position() == 5);  // keys 0-4 of head 1 get log alpha: queries 0-4 see a constant
    GenerateResult full = generate(m, ids, o);
    check_steers(full);
    CHECK(fast.tokens[0] == full.tokens[0]);
    CHECK(max_abs_diff(fast.step_logits, full.step_logits) <= 1e-5);
  }
  // Without the prompt-prefix reuse, and with biases that leave no prefix (uneven from key 1) or a long one.
  for (bool reuse : {false, true}) {
    for (int64_t first_uneven : {int64_t(1), int64_t(9), T - 3}) {
      INFO("prefix reuse ", reuse, " first uneven key ", first_uneven);
      s.set_reuse_prompt_prefix(reuse);
      AttentionBias bias(1, 4, 4, T);
      bias.add(0, 2, 0, 0, first_uneven, std::log(0.05f));   // PASTA-like: keys before the span
      bias.add(0, 3, 2, first_uneven, T, 1.5f);              // GUIDE-like: the span itself
      GenerateOptions o = go;
      o.bias = &bias;
      GenerateResult fast = s.steered(o);
      CHECK(s.last_resume_layer() == 2);
      CHECK(s.last_resume_position() == (reuse ? first_uneven : 0));
      GenerateResult full = generate(m, ids, o);
      check_steers(full);
      CHECK(fast.tokens[0] == full.tokens[0]);
      CHECK(max_abs_diff(fast.step_logits, full.step_logits) <= 1e-5);
    }
  }
  s.set_reuse_prompt_prefix(true);
  {
    // ApplyAt::Prefill: the resumed prompt positions still take the bias (they are prompt, not decode steps).
    AttentionBias bias(1, 4, 4, T);
    bias.add(0, 1, 3, 0, 7, std::log(0.01f));
    bias.apply_at = ApplyAt::Prefill;
    GenerateOptions o = go;
    o.bias = &bias;
    GenerateResult fast = s.steered(o);
    CHECK(s.last_resume_position() == 7);
    GenerateResult full = generate(m, ids, o);
    check_steers(full);
    CHECK(fast.tokens[0] == full.tokens[0]);
    CHECK(max_abs_diff(fast.step_logits, full.step_logits) <= 1e-5);
    CHECK(max_abs_diff(s.last_prompt_logits(), full.step_logits[0][0]) <= 1e-5);
  }
  // No active head: the baseline, with no layer recomputed.
  AttentionBias none(1, 4, 4, T);
  GenerateOptions o = go;
  o.bias = &none;
  GenerateResult r = s.steered(o);
  CHECK(s.last_resume_layer() == 4);
  CHECK(r.tokens[0] == base.tokens[0]);
  CHECK(max_abs_diff(r.step_logits, base.step_logits) <= 1e-5);
}

TEST_CASE("generation is cancelled from another thread and reports progress through the token callback") {
  const Model& m = fixture_model("llama-gqa");
  CancelToken cancel;
  std::atomic<int> seen{0};
  GenerateOptions go;
  go.max_new_tokens = 200;
  go.stop_at_eos = false;
  go.cancel = &cancel;
  go.on_token = [&](int64_t, int64_t) {
    ++seen;
    // Slow the worker down a little so the other thread's cancel lands mid-run.
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return true;
  };
  GenerateResult r;
  std::thread worker([&] { r = generate(m, std::vector<int64_t>{5, 6, 7, 8}, go); });
  while (seen.load() < 5) std::this_thread::yield();
  cancel.cancel();
  worker.join();
  CHECK(r.cancelled);
  CHECK(r.tokens[0].size() >= 5);
  CHECK(r.tokens[0].size() < 200);
}
