// Runs needle-in-a-haystack cells on a model: build the prompt, steer the needle through the steering compiler
// (the spec's method, heads, layers, scale position and apply-at; the needle is the span; the cell's strength is
// the spec's alpha, delta or multiplier), generate the answer greedily, score it, and trace the needle's Influence
// and rollout on the last K prompt tokens during the same prefill.
#pragma once
#include <memory>
#include <utility>
#include <vector>

#include "analysis/haystack.h"
#include "analysis/niah.h"
#include "core/engine/model.h"
#include "core/steering/steering_spec.h"

namespace hl {

struct NiahRunOptions {
  // The steering of every cell, in query-head indices (with_query_heads applied). A cell's `delta` is its strength:
  // PASTA's alpha, GUIDE's delta or InstABoost's multiplier (alpha = 1, delta = 0, M = 1: unsteered). The spec's
  // spans and emphasis are ignored: the needle is the span. Default: GUIDE on every layer, prefill only (the GUIDE
  // paper's needle experiments steer the prompt pass only).
  SteeringSpec steering = default_niah_steering();
  int64_t max_new_tokens = 30;
  int64_t last_k = 5;
  bool add_bos = true;
  NiahScoring scoring = NiahScoring::Substring;
  // Retrieval-head scores (Wu et al.): every head's top key at each answer step, tallied against the needle.
  bool retrieval_scores = false;

  static SteeringSpec default_niah_steering();
};

// The spec with the cell's strength in the field its method reads. Throws hl::Error for alpha/multiplier <= 0.
SteeringSpec with_strength(SteeringSpec spec, double strength);

// The builder must outlive the runner. Throws hl::Error when a cell's prompt + answer exceed the context.
NiahCellRunner make_niah_runner(const Model& model, NiahBuilder& builder, const NiahRunOptions& opt);

// An EncodeFn over the model's tokenizer (BOS per add_bos).
EncodeFn model_encoder(const Model& model, bool add_bos);

}  // namespace hl
