#include "analysis/steering_resolve.h"

#include "analysis/prompt_markers.h"
#include "analysis/span_finder.h"
#include "core/error.h"

namespace hl {

namespace {

void require_steerable(const SteeringSpec& spec, const std::vector<SteeringSpan>& spans) {
  // A steering method with nothing to steer towards is almost surely a forgotten span, not a request
  // for an unsteered run (that is method "none").
  if (spec.method != SteeringMethod::None && spans.empty())
    throw Error(std::string("steering: method \"") + to_string(spec.method) +
                "\" has no span to steer towards (give 'spans', 'emphasis', or mark the prompt with **...** or GUIDE "
                "tags)");
}

void check_token_range(const TokenRange& r, int64_t n, const std::string& what) {
  if (r.end > n)
    throw Error("steering: " + what + " [" + std::to_string(r.begin) + ", " + std::to_string(r.end) +
                ") extends past the prompt (" + std::to_string(n) + " tokens)");
}

void set_influence(std::optional<TokenRange>& slot, TokenRange r, const std::string& source) {
  if (slot) throw Error("steering: more than one influence span (second one from " + source + ")");
  slot = r;
}

}  // namespace

ResolvedSteering resolve(const SteeringSpec& spec_in, const ModelConfig& cfg, const std::string& prompt_with_markers,
                         const Tokenizer& tok, bool add_bos) {
  const SteeringSpec spec = with_query_heads(spec_in, cfg.n_layers, cfg.n_heads, cfg.n_kv_heads);
  validate_steering_spec(spec, cfg.n_layers, cfg.n_heads);
  ResolvedSteering out;
  MarkedPrompt marked;
  if (spec.markers) {
    marked = parse_prompt_markers(prompt_with_markers);
  } else {
    marked.clean = prompt_with_markers;
  }
  out.clean_text = marked.clean;

  EncodeOptions eo;
  eo.add_bos = add_bos;
  Encoding enc = tok.encode(out.clean_text, eo);
  if (enc.offsets.size() != enc.ids.size())
    throw Error("steering: tokenizer returned " + std::to_string(enc.offsets.size()) + " offsets for " +
                std::to_string(enc.ids.size()) + " tokens");
  out.ids = std::move(enc.ids);
  out.offsets = std::move(enc.offsets);
  const int64_t n = static_cast<int64_t>(out.ids.size());

  for (size_t i = 0; i < spec.spans.size(); ++i) {
    const auto& s = spec.spans[i];
    check_token_range({s.begin, s.end}, n, "spans[" + std::to_string(i) + "]");
    out.spans.push_back(s);
  }
  for (const std::string& text : spec.emphasis) {
    const TokenRange r = find_token_span(out.clean_text, out.offsets, text, spec.occurrence, spec.span_match);
    out.spans.push_back({r.begin, r.end, 1.0});
  }
  for (const MarkedRange& m : marked.ranges) {
    TokenRange r;
    try {
      r = char_range_to_tokens(out.offsets, {m.char_begin, m.char_end}, spec.span_match);
    } catch (const Error& e) {
      throw Error(std::string(e.what()) + " (marked text \"" + m.text + "\")");
    }
    if (m.kind == MarkKind::Influence) set_influence(out.influence_span, r, "a <?-> tag");
    else out.spans.push_back({r.begin, r.end, m.level});
  }
  if (spec.influence_span) {
    check_token_range(*spec.influence_span, n, "influence_span");
    set_influence(out.influence_span, *spec.influence_span, "field 'influence_span'");
  }
  if (spec.influence_text) {
    // `occurrence` is about emphasis strings; an influence string names its first occurrence.
    const TokenRange r = find_token_span(out.clean_text, out.offsets, *spec.influence_text, 0, spec.span_match);
    set_influence(out.influence_span, r, "field 'influence_span'");
  }
  require_steerable(spec, out.spans);
  out.bias = compile(spec, cfg.n_layers, cfg.n_heads, n, out.spans);
  return out;
}

ResolvedSteering resolve_ids(const SteeringSpec& spec_in, const ModelConfig& cfg, const std::vector<int64_t>& ids) {
  const SteeringSpec spec = with_query_heads(spec_in, cfg.n_layers, cfg.n_heads, cfg.n_kv_heads);
  validate_steering_spec(spec, cfg.n_layers, cfg.n_heads);
  if (!spec.emphasis.empty())
    throw Error("steering: field 'emphasis' needs the prompt as text; with token ids give token ranges in 'spans'");
  if (spec.influence_text)
    throw Error("steering: a text 'influence_span' needs the prompt as text; with token ids give [begin, end]");
  ResolvedSteering out;
  out.ids = ids;
  const int64_t n = static_cast<int64_t>(ids.size());
  for (size_t i = 0; i < spec.spans.size(); ++i) {
    const auto& s = spec.spans[i];
    check_token_range({s.begin, s.end}, n, "spans[" + std::to_string(i) + "]");
    out.spans.push_back(s);
  }
  if (spec.influence_span) {
    check_token_range(*spec.influence_span, n, "influence_span");
    out.influence_span = spec.influence_span;
  }
  require_steerable(spec, out.spans);
  out.bias = compile(spec, cfg.n_layers, cfg.n_heads, n, out.spans);
  return out;
}

}  // namespace hl
