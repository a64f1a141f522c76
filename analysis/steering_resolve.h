// Resolution: a SteeringSpec plus a concrete prompt -> token spans and the compiled AttentionBias.
// Spans come from three places, all combined (in this order):
//   1. the spec's token ranges (`spans`), in final token coordinates (BOS included when add_bos);
//   2. the spec's `emphasis` substrings, found in the clean text (spec.occurrence, spec.span_match);
//   3. markers in the prompt text (when spec.markers): **...** (level 1) and GUIDE tags (levels 0.5/1/2).
// The influence span comes from the spec (influence_span) or a <?-> ... <-?> tag; giving more than one
// is an error. Any span that matches nothing is an error that says which. Torch-free.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/steering/attention_bias.h"
#include "core/formats/model_config.h"
#include "core/steering/steering_spec.h"
#include "core/tokenizers/tokenizer.h"

namespace hl {

struct ResolvedSteering {
  std::string clean_text;  // prompt with markers stripped (empty for resolve_ids)
  std::vector<int64_t> ids;
  std::vector<std::pair<int64_t, int64_t>> offsets;  // per-token code-point offsets into clean_text
  std::vector<SteeringSpan> spans;                    // token spans that were compiled
  std::optional<TokenRange> influence_span;
  AttentionBias bias;  // batch 1, prompt_len = ids.size()
};

ResolvedSteering resolve(const SteeringSpec& spec, const ModelConfig& cfg, const std::string& prompt_with_markers,
                         const Tokenizer& tok, bool add_bos);

// The prompt is already token ids: only token-range spans (and a token-range influence span) are allowed.
ResolvedSteering resolve_ids(const SteeringSpec& spec, const ModelConfig& cfg, const std::vector<int64_t>& ids);

}  // namespace hl
