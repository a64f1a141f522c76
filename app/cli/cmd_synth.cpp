// synth: write a random-weight model of a real architecture's shape.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "app/cli/commands.h"
#include "core/engine/synth.h"

namespace hl::cli {
namespace {

int cmd_synth(const Args& a) {
  SynthOptions o;
  o.like = a.get("like", "smollm2-135m");
  o.seed = static_cast<uint64_t>(a.get_int("seed", 0));
  o.dtype = a.get("dtype", "f32");
  o.layers = a.get_int("layers", 0);
  int64_t params = write_synthetic_model(o, a.get("out"));
  const SynthPlan plan = plan_synthetic_model(o);
  nlohmann::json j = {{"out", a.get("out")}, {"like", o.like},   {"params", params},
                      {"dtype", o.dtype},    {"seed", o.seed},   {"bytes", plan.total_bytes},
                      {"shards", plan.shard_files.size()}};
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

RegisterCommand reg("synth", "a random-weight HF model of a real model's exact shape",
                    {text("like", "NAME", "smollm2-135m (default), qwen2.5-0.5b, llama-3.2-1b, gpt2, llama-2-7b, mistral-7b, llama-3-8b"),
                     integer("seed", "S", "weights seed (default 0)", 0),
                     text("dtype", "TYPE", "stored dtype: f32 (default), bf16, f16"),
                     integer("layers", "N", "keep only the first N layers (default: all)", 0, 4096),
                     text("out", "DIR", "output folder (required)")},
                    cmd_synth);

}  // namespace
}  // namespace hl::cli
