// Several observers on one forward: each sees only the layers it wants.
#pragma once
#include <vector>

#include "core/attention_observer.h"

namespace hl {

class ObserverFanout : public AttentionObserver {
 public:
  ObserverFanout() = default;
  explicit ObserverFanout(std::vector<AttentionObserver*> observers) : obs(std::move(observers)) {}
  std::vector<AttentionObserver*> obs;

  void on_forward_begin(Phase p, int64_t b, int64_t q, int64_t t) override {
    for (auto* o : obs) o->on_forward_begin(p, b, q, t);
  }
  bool wants_layer(int64_t l, Phase p) const override {
    for (auto* o : obs)
      if (o->wants_layer(l, p)) return true;
    return false;
  }
  bool wants_scores(int64_t l, Phase p) const override {
    for (auto* o : obs)
      if (o->wants_layer(l, p) && o->wants_scores(l, p)) return true;
    return false;
  }
  void on_attention(const AttentionView& v) override {
    for (auto* o : obs)
      if (o->wants_layer(v.layer, v.phase)) o->on_attention(v);
  }
  void on_layer_end(const LayerView& v) override {
    for (auto* o : obs)
      if (o->wants_layer(v.layer, v.phase)) o->on_layer_end(v);
  }
  void on_forward_end() override {
    for (auto* o : obs) o->on_forward_end();
  }
};

}  // namespace hl
