// A steering request as users write it (JSON), and its compilation to the one steering operator,
// hl::AttentionBias (methods.md §1, §2.2, §4.1, §10). Torch-free.
//
//   {"method": "pasta", "heads": {"1": [0, 2], "2": [1]}, "alpha": 0.01, "scale_position": "exclude",
//    "spans": [[5, 12]], "apply_at": "all"}
//   {"method": "guide", "delta": 1.0, "layers": "all", "spans": [[5, 12]], "apply_at": "all"}
//   {"method": "instaboost", "multiplier": 2.718281828, "layers": "all", "emphasis": ["Answer in French"]}
//   {"method": "none"}
//
// Fields (all optional except method; PASTA also needs heads, InstABoost multiplier):
//   common      spans [[a, b], ...] token ranges, end-exclusive; a third element [a, b, level] scales GUIDE's
//               delta for that span (GUIDE tag levels 0.5 / 1 / 2); emphasis ["substring", ...] located in
//               the prompt text; occurrence (which occurrence of each emphasis string, 0 = first);
//               span_match "overlap" (default: half-open overlap of char and token ranges) | "pasta" (PASTA's
//               inclusive find_token_range, methods §2.3); apply_at "all" (default, prefill and every
//               decode step, as both official codes' generation paths) | "prefill" (GUIDE paper experiments);
//               influence_span [a, b] or "substring" (span for Influence, not steered); markers true
//               (default: `**...**` and GUIDE tags in the prompt text mark spans) | false (text taken literally).
//   pasta       heads (any HeadSet form, see head_config.h); head_index "query" (default) | "kv" (heads are
//               KV-head indices, SEKA's kv_head configs: each steers every query head of its GQA group; map
//               them with with_query_heads before validating or compiling); alpha > 0 (default 0.01); scale_position
//               "exclude" (default) | "include" | "generation"; multispan "pasta" (default: the official
//               per-section accumulation) | "union" (log alpha once, on prompt keys outside the union of spans).
//   guide       delta (default 1.0, any finite value); layers "all" (default) | "none" | "first" | "last" |
//               [layer, ...]. Every head of the chosen layers is steered.
//   instaboost  multiplier M > 0 (post-softmax x M then renormalise == GUIDE with delta = ln M); layers as GUIDE.
//   ablation    (any method, "none" included) ablate: heads whose output is ablated, any HeadSet form (query heads,
//               also on GQA models); ablation "zero" (default: the head's output x 0) | "mean" (its mean over the
//               prompt's positions in the unsteered forward). Combines with the method's steering in one spec.
//               {"method": "none", "ablate": ["L1H5", "L3"], "ablation": "mean"}
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/steering/attention_bias.h"
#include "core/steering/head_config.h"

namespace hl {

enum class SteeringMethod { None, Pasta, Guide, InstaBoost };
enum class ScalePosition { Exclude, Include, Generation };
enum class MultispanRule { Pasta, Union };
enum class SpanMatch { Overlap, Pasta };
enum class HeadIndex { Query, Kv };

// Token range [begin, end).
struct TokenRange {
  int64_t begin = 0, end = 0;
  bool operator==(const TokenRange& o) const { return begin == o.begin && end == o.end; }
  bool operator!=(const TokenRange& o) const { return !(*this == o); }
};

// A span to steer towards. `level` multiplies GUIDE's / InstABoost's delta (GUIDE tags <!-> = 0.5,
// <!!-> = 1, <!!!-> = 2); PASTA ignores it.
struct SteeringSpan {
  int64_t begin = 0, end = 0;
  double level = 1.0;
  bool operator==(const SteeringSpan& o) const { return begin == o.begin && end == o.end && level == o.level; }
};

struct LayerSelection {
  enum class Kind { All, None, First, Last, List };
  Kind kind = Kind::All;
  std::vector<int64_t> list;  // Kind::List only
  // The layer indices for a model with n_layers; throws hl::Error if a listed layer is out of range.
  std::vector<int64_t> resolve(int64_t n_layers, const std::string& where = "layers") const;
  bool operator==(const LayerSelection& o) const { return kind == o.kind && list == o.list; }
};

struct SteeringSpec {
  SteeringMethod method = SteeringMethod::None;

  // PASTA
  HeadSet heads;
  HeadIndex head_index = HeadIndex::Query;
  double alpha = 0.01;
  ScalePosition scale_position = ScalePosition::Exclude;
  MultispanRule multispan = MultispanRule::Pasta;

  // GUIDE / InstABoost
  double delta = 1.0;       // GUIDE
  double multiplier = 1.0;  // InstABoost
  LayerSelection layers;

  // Head ablation (core/head_ablation.h), with any method
  HeadSet ablate;
  AblationMode ablation = AblationMode::Zero;

  // Where to steer
  std::vector<SteeringSpan> spans;
  std::vector<std::string> emphasis;
  int64_t occurrence = 0;
  SpanMatch span_match = SpanMatch::Overlap;
  bool markers = true;
  ApplyAt apply_at = ApplyAt::All;

  // Influence (not steered)
  std::optional<TokenRange> influence_span;
  std::optional<std::string> influence_text;

  // The additive logit delta of GUIDE or InstABoost for a span of level 1 (ln M for InstABoost).
  double effective_delta() const;
};

const char* to_string(SteeringMethod m);
const char* to_string(ScalePosition p);

// Parses a JSON document. Throws hl::Error naming `where` and the field for malformed JSON, unknown
// fields or methods, fields that do not apply to the method, wrong types, alpha <= 0, multiplier <= 0,
// non-finite numbers, empty or reversed spans.
// PASTA's `heads` may also name a file ("heads": "heads.json"): a PASTA head config or a `profile-export`
// sidecar, read with load_head_config; a relative path is taken from base_dir (the spec file's folder when
// loaded from a file, else the working directory).
SteeringSpec parse_steering_spec(const std::string& json_text, const std::string& where = "steering spec",
                                 const std::filesystem::path& base_dir = {});
SteeringSpec load_steering_spec(const std::filesystem::path& file);
// Writes only the fields that apply to the method; parse(to_json(s)) == s.
std::string steering_spec_to_json(const SteeringSpec& spec, int indent = 2);
void save_steering_spec(const SteeringSpec& spec, const std::filesystem::path& file);
bool operator==(const SteeringSpec& a, const SteeringSpec& b);
inline bool operator!=(const SteeringSpec& a, const SteeringSpec& b) { return !(a == b); }

// The spec with KV-head-indexed PASTA heads mapped to the query heads they stand for (head_index becomes
// Query); other specs come back unchanged. Throws hl::Error naming the field for out-of-range KV heads.
SteeringSpec with_query_heads(SteeringSpec spec, int64_t n_layers, int64_t n_heads, int64_t n_kv_heads);

// Checks the spec against a model (heads and layers in range). Throws hl::Error naming the field.
void validate_steering_spec(const SteeringSpec& spec, int64_t n_layers, int64_t n_heads);

// Compiles a spec and its resolved token spans (already in prompt coordinates: the spec's own `spans`
// are NOT read here, so resolution decides what gets steered) to an AttentionBias with batch 1.
//
// PASTA, with c = logf(float32(alpha)) as the official code computes it, summed in float32 in its order:
//   exclude  per span: +c on keys [0, begin) and [end, prompt_len)   (k spans: a key outside all gets k*c)
//   include  per span: +c on [begin, end); then -c once on [0, prompt_len)
//   generation  per span: +c on [0, prompt_len)
//   multispan "union": one pass with the union of the spans instead of one pass per span.
// GUIDE / InstABoost: +float32(level * delta) on each span's keys (overlapping spans add up), every head of
// the selected layers.
// Heads in spec.ablate are ablated (bias.ablation) with spec.ablation, whatever the method.
// Keys past the prompt (generated tokens) get 0. A (layer, head) whose bias is all exactly 0 (alpha = 1,
// delta = 0, M = 1, empty head set, no spans) is left inactive, so the model runs the plain path and its
// logits are bit-identical to unsteered ones.
// Throws hl::Error for out-of-range heads/layers or a span that is empty or extends past prompt_len.
AttentionBias compile(const SteeringSpec& spec, int64_t n_layers, int64_t n_heads, int64_t prompt_len,
                      const std::vector<SteeringSpan>& spans);
// One spec (and its spans) per batch row, e.g. the profiler steering a different head per row. All rows
// share apply_at (rows with method none or no active heads do not count); differing values are an error.
AttentionBias compile_per_row(const std::vector<SteeringSpec>& specs, int64_t n_layers, int64_t n_heads,
                              int64_t prompt_len, const std::vector<std::vector<SteeringSpan>>& spans);

// The per-key bias a spec puts on each steered head (same for every head it steers), length prompt_len.
// Exposed so the GUI can show it and tests can check the arithmetic.
std::vector<float> key_bias(const SteeringSpec& spec, int64_t prompt_len, const std::vector<SteeringSpan>& spans);

}  // namespace hl
