// Runs needle-in-a-haystack cells on a model: build the prompt, steer the needle with GUIDE's Δ (all layers,
// all heads), generate the answer greedily, score it, and trace the needle's Influence and rollout on the last
// K prompt tokens during the same prefill.
#pragma once
#include <memory>
#include <utility>
#include <vector>

#include "analysis/haystack.h"
#include "analysis/niah.h"
#include "core/engine/model.h"

namespace hl {

enum class NiahSteering { Guide, Pasta };

struct NiahRunOptions {
  // A cell's `delta` is its steering strength: GUIDE's Δ on the needle's keys (all layers, all heads), or
  // PASTA's α on the prompt keys outside the needle for `pasta_heads` (α = 1 or an empty head set: unsteered;
  // GUIDE: Δ = 0).
  NiahSteering method = NiahSteering::Guide;
  std::vector<std::pair<int64_t, int64_t>> pasta_heads;  // (layer, head)
  int64_t max_new_tokens = 30;
  int64_t last_k = 5;
  bool add_bos = true;
  ApplyAt apply_at = ApplyAt::Prefill;  // the GUIDE paper's needle experiments steer the prompt pass only
  NiahScoring scoring = NiahScoring::Substring;
  // Retrieval-head scores (Wu et al.): every head's top key at each answer step, tallied against the needle.
  bool retrieval_scores = false;
};

// The builder must outlive the runner. Throws hl::Error when a cell's prompt + answer exceed the context.
NiahCellRunner make_niah_runner(const Model& model, NiahBuilder& builder, const NiahRunOptions& opt);

// An EncodeFn over the model's tokenizer (BOS per add_bos).
EncodeFn model_encoder(const Model& model, bool add_bos);

}  // namespace hl
