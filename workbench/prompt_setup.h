// A prompt (text or ids) and its steering spec, resolved once against a model: ids, code-point offsets, the
// emphasised token spans and the compiled attention bias. Both front ends and every workbench job start here, so a
// spec is validated in one place (KV-head indices mapped, heads and layers checked against the model).
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/steering/attention_bias.h"
#include "core/steering/steering_spec.h"

namespace hl {
class Model;
class Tokenizer;
}  // namespace hl

namespace hl::wb {

struct PromptRequest {
  std::optional<std::string> text;          // a text prompt (markers parsed when the spec asks: spec.markers)
  std::optional<std::vector<int64_t>> ids;  // or token ids (checked against the vocabulary)
  std::optional<SteeringSpec> spec;         // none: no steering, and the text is taken literally (no markers)
};

struct PromptSetup {
  std::vector<int64_t> ids;
  std::string text;                                   // clean prompt text (markers stripped), when given as text
  std::vector<std::pair<int64_t, int64_t>> offsets;   // per id: code-point offsets into text (empty for ids)
  std::vector<std::pair<int64_t, int64_t>> spans;     // emphasised token spans [a, b)
  std::vector<SteeringSpan> steering_spans;           // the same with their GUIDE levels
  std::optional<std::pair<int64_t, int64_t>> influence_span;
  std::unique_ptr<AttentionBias> bias;                // null without steering
  SteeringSpec spec;                                  // as mapped to query heads (method none without a spec)
  std::string spec_json;                              // the spec as given (for the store); empty without one
};

// Throws hl::Error naming the field (a head outside the model, a span that matches nothing, an id outside the
// vocabulary, a prompt that tokenises to nothing, invalid UTF-8).
PromptSetup setup_prompt(const Model& m, const PromptRequest& req);

// Whether a text prompt gets BOS prepended (tokenizer_config.json add_bos_token, else per tokenizer kind).
bool default_add_bos(const Model& m);
const Tokenizer& require_tokenizer(const Model& m);
// Ids checked against the model's vocabulary; `where` names the field in errors.
void check_ids(const Model& m, const std::vector<int64_t>& ids, const std::string& where);

}  // namespace hl::wb
