#include "analysis/retrieval_score.h"

#include <algorithm>
#include <set>
#include <string>

#include "core/error.h"

namespace hl {

RetrievalTally::RetrievalTally(int64_t l, int64_t h) : layers(l), heads(h), hits(static_cast<size_t>(l * h), 0) {
  if (l <= 0 || h <= 0) throw Error("retrieval score: invalid head grid");
}

double RetrievalTally::score(int64_t layer, int64_t head) const {
  return copy_steps > 0 ? static_cast<double>(hits[static_cast<size_t>(layer * heads + head)]) / copy_steps : 0.0;
}

std::vector<double> RetrievalTally::scores() const {
  std::vector<double> s;
  for (int64_t l = 0; l < layers; ++l)
    for (int64_t h = 0; h < heads; ++h) s.push_back(score(l, h));
  return s;
}

void RetrievalTally::merge(const RetrievalTally& o) {
  if (o.layers != layers || o.heads != heads) throw Error("retrieval score: merging tallies of different head grids");
  copy_steps += o.copy_steps;
  for (size_t i = 0; i < hits.size(); ++i) hits[i] += o.hits[i];
}

void tally_retrieval(RetrievalTally& tally, const std::vector<int64_t>& prompt, int64_t needle_begin, int64_t needle_end,
                     const std::vector<int64_t>& generated, const std::vector<std::vector<int64_t>>& top_keys) {
  const auto T = static_cast<int64_t>(prompt.size());
  if (needle_begin < 0 || needle_end <= needle_begin || needle_end > T)
    throw Error("retrieval score: needle [" + std::to_string(needle_begin) + ", " + std::to_string(needle_end) +
                ") is empty or outside the prompt's " + std::to_string(T) + " tokens");
  const std::set<int64_t> needle_tokens(prompt.begin() + needle_begin, prompt.begin() + needle_end);
  const size_t n_heads = static_cast<size_t>(tally.layers * tally.heads);
  const size_t steps = std::min(generated.size(), top_keys.size());
  for (size_t s = 0; s < steps; ++s) {
    const int64_t tok = generated[s];
    if (!needle_tokens.count(tok)) continue;  // not a copy step
    const auto& keys = top_keys[s];
    if (keys.size() != n_heads)
      throw Error("retrieval score: step " + std::to_string(s) + " has " + std::to_string(keys.size()) +
                  " heads' top keys, expected " + std::to_string(n_heads));
    ++tally.copy_steps;
    for (size_t i = 0; i < n_heads; ++i) {
      const int64_t k = keys[i];
      if (k >= needle_begin && k < needle_end && prompt[static_cast<size_t>(k)] == tok) ++tally.hits[i];
    }
  }
}

}  // namespace hl
