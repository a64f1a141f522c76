// Retrieval-head score (Wu et al. 2024, "Retrieval Head Mechanistically Explains Long-Context Factuality"): while a
// model answers a needle-in-a-haystack prompt, at every generated token that is one of the needle's tokens (a copy
// step), a head "retrieves" when the key it attends to most is a needle position holding that very token. Its score
// is the fraction of copy steps, over all steps and cells, at which it retrieved. Torch-free: it takes the top keys
// per step (engine TopKeyRecorder) and the token ids.
#pragma once
#include <cstdint>
#include <vector>

namespace hl {

struct RetrievalTally {
  int64_t layers = 0, heads = 0;
  int64_t copy_steps = 0;      // generated tokens that are needle tokens
  std::vector<int64_t> hits;   // layers x heads: copy steps at which the head's top key was that needle token

  RetrievalTally() = default;
  RetrievalTally(int64_t layers, int64_t heads);
  // hits / copy_steps (0 when there was no copy step).
  double score(int64_t layer, int64_t head) const;
  std::vector<double> scores() const;  // layers x heads
  void merge(const RetrievalTally& o);
};

// Adds one answer: `top_keys[s]` holds every head's top key (layer-major) at the step that generated
// generated[s]; needle = prompt positions [needle_begin, needle_end). Steps past the shorter of the two are ignored.
// Throws hl::Error on an empty or out-of-range needle or a step with the wrong head count.
void tally_retrieval(RetrievalTally& tally, const std::vector<int64_t>& prompt, int64_t needle_begin, int64_t needle_end,
                     const std::vector<int64_t>& generated, const std::vector<std::vector<int64_t>>& top_keys);

}  // namespace hl
