// The key every head attends to most from the newest query, at every forward of a generation (the prefill's last
// prompt position, then each decode step): what a retrieval-head score (Wu et al. 2024) compares with the token the
// step generated. One argmax per (row, layer, head) per step; nothing else is kept.
#pragma once
#include <cstdint>
#include <vector>

#include "core/attention_observer.h"

namespace hl {

class TopKeyRecorder : public AttentionObserver {
 public:
  TopKeyRecorder(int64_t layers, int64_t heads);

  bool wants_scores(int64_t, Phase) const override { return false; }
  void on_forward_begin(Phase phase, int64_t batch, int64_t q_begin, int64_t tokens) override;
  void on_attention(const AttentionView& view) override;

  // Forwards seen; step s is the forward whose logits chose generated token s.
  int64_t steps() const { return static_cast<int64_t>(keys_.size()); }
  // Top keys of step s, row b: layers x heads key positions, layer-major (-1 if a layer was not observed).
  std::vector<int64_t> top_keys(int64_t step, int64_t b) const;
  // All steps of row b (steps() x layers*heads), the shape tally_retrieval takes.
  std::vector<std::vector<int64_t>> row(int64_t b) const;
  void clear() { keys_.clear(); }

 private:
  int64_t layers_, heads_;
  int64_t batch_ = 0, last_row_ = 0;      // this forward's last query position
  std::vector<std::vector<int64_t>> keys_;  // per step: [B, L, H]
};

}  // namespace hl
