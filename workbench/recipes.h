// The measurement recipes both front ends run on a loaded model: head statistics of every head, attention maps of
// chosen heads over a prompt and its continuation, Influence and rollout of a span. Results are plain arrays
// (workbench.h types). Engine-facing: callers hold a Model; nothing here keeps state between calls.
#pragma once
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "analysis/influence.h"
#include "core/steering/attention_bias.h"
#include "core/job.h"
#include "workbench/workbench.h"

namespace hl {
class Model;
}

namespace hl::wb {

struct CaptureRequest {
  std::vector<int64_t> prompt;
  // Generated tokens after the prompt: attention maps cover prompt + continuation (rows and columns), computed as
  // the generation saw them (the bias on prompt keys at every continuation row unless it applies at prefill only).
  std::vector<int64_t> continuation;
  const AttentionBias* bias = nullptr;
  bool stats = true;                                // statistics of every head (prompt only)
  std::vector<std::pair<int64_t, int64_t>> spans;   // emphasised token spans (for the span statistics)
  std::vector<std::pair<int64_t, int64_t>> maps;    // (layer, head) maps to keep; head -1 = the layer's head mean
  std::optional<std::pair<int64_t, int64_t>> influence_span;  // trace Influence and rollout of this span
  InfluenceNorms norms = InfluenceNorms::Residual;
  int last_k = 5;                                   // Influence / rollout summaries: mean over the last K tokens
  bool token_stats = false;                         // per-token statistics of every head (with stats)
  const CancelToken* cancel = nullptr;              // checked between layers (throws hl::Cancelled)
};

// Per-token statistics of every head over the prompt, [layers, heads, names, tokens] row-major.
struct HeadTokenStats {
  int64_t layers = 0, heads = 0, tokens = 0;
  std::vector<std::string> names;  // HeadStatsRecorder::token_names()
  std::vector<float> values;
};

struct CaptureOutput {
  std::optional<HeadStatsTable> stats;
  std::optional<HeadTokenStats> token_stats;
  std::vector<AttentionMap> maps;  // in request order
  std::optional<InfluenceCurves> influence;
  // Mean last-layer Influence and rollout over the last `last_k` prompt tokens (NaN without influence_span).
  double influence_lastk = std::numeric_limits<double>::quiet_NaN();
  double rollout_lastk = std::numeric_limits<double>::quiet_NaN();
};

// One forward over the prompt (every observer at once), and one over the continuation when maps are asked for.
// Throws hl::Error for a head outside the model or a span outside the prompt.
CaptureOutput capture(const Model& m, const CaptureRequest& req);

// Column labels for maps: each token's text (control characters shown as escapes).
std::vector<std::string> token_labels(const Model& m, const std::vector<int64_t>& ids);

}  // namespace hl::wb
