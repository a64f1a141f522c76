#include "app/cli/prompt_setup.h"

#include "analysis/steering_resolve.h"
#include "app/cli/model_args.h"
#include "core/error.h"
#include "core/steering_spec.h"

namespace hl::cli {

PromptSetup setup_prompt(const Args& a, const Model& m) {
  if (a.has("ids") == a.has("prompt")) throw Error("give exactly one of --prompt TEXT or --ids 1,2,3");
  SteeringSpec spec;  // method none: markers in a text prompt still give spans (e.g. <?-> <-?> for Influence)
  PromptSetup ps;
  if (a.has("steering")) {
    spec = load_steering_spec(a.get("steering"));
    ps.spec_json = steering_spec_to_json(spec, -1);
  }
  // KV-head indices mapped once (spec_json keeps what the user wrote); checked before the prompt is read.
  const ModelConfig& mc = m.config();
  const SteeringSpec mapped = with_query_heads(spec, mc.n_layers, mc.n_heads, mc.n_kv_heads);
  validate_steering_spec(mapped, mc.n_layers, mc.n_heads);
  ResolvedSteering r = a.has("ids") ? resolve_ids(mapped, mc, prompt_ids(a, m))
                                    : resolve(mapped, mc, a.get("prompt"), require_tokenizer(m), default_add_bos(m));
  ps.ids = std::move(r.ids);
  ps.text = std::move(r.clean_text);
  ps.offsets = std::move(r.offsets);
  for (const auto& s : r.spans) ps.spans.emplace_back(s.begin, s.end);
  if (r.influence_span) ps.influence_span = std::make_pair(r.influence_span->begin, r.influence_span->end);
  if (mapped.method != SteeringMethod::None) ps.bias = std::make_unique<AttentionBias>(std::move(r.bias));
  if (ps.ids.empty()) throw Error("the prompt tokenises to nothing");
  return ps;
}

}  // namespace hl::cli
