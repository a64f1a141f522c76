// generate: baseline (and, with --steering, steered) continuation of a prompt.
#include <ATen/ATen.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "app/cli/commands.h"
#include "app/cli/model_args.h"
#include "app/cli/prompt_setup.h"
#include "core/engine/generate.h"

namespace hl::cli {
namespace {

std::string decode(const Model& m, const std::vector<int64_t>& ids) {
  return m.tokenizer() ? m.tokenizer()->decode(ids, true) : std::string();
}

int cmd_generate(const Args& a) {
  auto m = load_model(a);
  PromptSetup ps = setup_prompt(a, *m);
  GenerateOptions go;
  go.max_new_tokens = a.get_int("max-new", 64);
  if (go.max_new_tokens < 1) throw Error("--max-new must be >= 1");
  go.cancel = &interrupted();
  go.sampling.temperature = a.get_double("temperature", 0);
  go.sampling.top_k = a.get_int("top-k", 0);
  go.sampling.top_p = a.get_double("top-p", 1.0);
  go.sampling.seed = static_cast<uint64_t>(a.get_int("seed", 0));
  go.stop_at_eos = !a.has("ignore-eos");
  if (go.sampling.temperature < 0) throw Error("--temperature must be >= 0");
  if (go.sampling.top_p <= 0 || go.sampling.top_p > 1) throw Error("--top-p must be in (0, 1]");
  if (go.sampling.top_k < 0) throw Error("--top-k must be >= 0");
  const bool json = a.has("json");
  const bool stream = !json && m->tokenizer();
  const bool steered = ps.bias != nullptr;
  auto run = [&](const AttentionBias* bias, const char* title) {
    GenerateOptions o = go;
    o.bias = bias;
    if (stream) {
      if (steered) std::printf("--- %s ---\n", title);
      std::printf("%s", (ps.text.empty() ? decode(*m, ps.ids) : ps.text).c_str());
      o.on_token = [&](int64_t, int64_t tok) {
        std::printf("%s", m->tokenizer()->token_text(tok).c_str());
        std::fflush(stdout);
        return true;
      };
    }
    GenerateResult r = generate(*m, ps.ids, o);
    if (stream) std::printf("\n");
    if (r.cancelled) throw Cancelled();
    return r;
  };
  auto rec = open_recorder(a);
  if (rec) {
    store::SamplingSettings ss{go.sampling.temperature, go.sampling.top_p, go.sampling.top_k, go.max_new_tokens};
    rec->start("generate", *m, ps, ss, static_cast<int64_t>(go.sampling.seed));
  }
  GenerateResult base_r = run(nullptr, "baseline");
  std::vector<int64_t> base = base_r.tokens[0];
  std::vector<int64_t> steer;
  GenerateResult steer_r;
  if (steered) {
    steer_r = run(ps.bias.get(), "steered");
    steer = steer_r.tokens[0];
  }
  if (rec) {
    auto gen = [&](const char* variant, const GenerateResult& g) {
      store::GenerationRecord r;
      r.variant = variant;
      for (auto t : g.tokens[0]) r.token_ids.push_back(static_cast<int32_t>(t));
      r.text = decode(*m, g.tokens[0]);
      r.step_probs = g.chosen_probs[0];
      return r;
    };
    std::vector<store::GenerationRecord> gens = {gen("baseline", base_r)};
    if (steered) gens.push_back(gen("steered", steer_r));
    rec->store().add_generations(rec->run_id(), gens);
    rec->finish();
  }
  if (json) {
    nlohmann::json j = {{"prompt_ids", ps.ids}, {"generated_ids", base}, {"text", decode(*m, base)}};
    if (rec) j["run_id"] = rec->run_id();
    if (steered) {
      j["baseline_ids"] = base;
      j["steered_ids"] = steer;
      j["steered_text"] = decode(*m, steer);
      j["spans"] = ps.spans;
    }
    std::printf("%s\n", j.dump().c_str());
  } else if (!stream) {
    nlohmann::json j = {{"generated_ids", base}};
    if (rec) j["run_id"] = rec->run_id();
    if (steered) j["steered_ids"] = steer;
    std::printf("%s\n", j.dump().c_str());
  }
  if (rec && stream) std::fprintf(stderr, "recorded run %lld in %s\n", static_cast<long long>(rec->run_id()),
                                  rec->store().path().c_str());
  return 0;
}

RegisterCommand reg(
    "generate", "the baseline continuation of a prompt and, with --steering, the steered one",
    model_options() + prompt_options() +
        std::vector<OptionSpec>{integer("max-new", "N", "new tokens (default 64)", 1, 1 << 20),
                                real("temperature", "T", "0 = greedy (default 0)", 0),
                                integer("top-k", "K", "sample from the K most likely (default 0 = off)", 0),
                                real("top-p", "P", "nucleus sampling, in (0, 1] (default 1 = off)", 1e-12, 1),
                                integer("seed", "S", "sampling seed (default 0)", 0),
                                flag("ignore-eos", "keep going past the end-of-sequence token"),
                                flag("json", "print ids and texts as JSON instead of streaming text"),
                                text("db", "FILE", "record the run in this store")},
    cmd_generate);

}  // namespace
}  // namespace hl::cli
