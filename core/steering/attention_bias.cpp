#include "core/steering/attention_bias.h"

#include <algorithm>
#include <string>

#include "core/error.h"

namespace hl {

AttentionBias::AttentionBias(int64_t batch, int64_t layers, int64_t heads, int64_t prompt_len)
    : batch_(batch), layers_(layers), heads_(heads), prompt_len_(prompt_len) {
  if (batch <= 0 || layers <= 0 || heads <= 0 || prompt_len < 0)
    throw Error("attention bias: invalid dimensions");
  values_.assign(static_cast<size_t>(batch * layers * heads * prompt_len), 0.0f);
  active_.assign(static_cast<size_t>(batch * layers * heads), 0);
  ablation = HeadAblation(batch, layers, heads);
}

void AttentionBias::touch(int64_t b, int64_t layer, int64_t head) {
  if (layer < 0 || layer >= layers_) throw Error("attention bias: layer " + std::to_string(layer) + " out of range");
  if (head < 0 || head >= heads_) throw Error("attention bias: head " + std::to_string(head) + " out of range");
  if (b >= batch_) throw Error("attention bias: batch row " + std::to_string(b) + " out of range");
  if (b < 0) {
    for (int64_t r = 0; r < batch_; ++r) touch(r, layer, head);
    return;
  }
  active_[idx(b, layer, head)] = 1;
}

void AttentionBias::add(int64_t b, int64_t layer, int64_t head, int64_t key_begin, int64_t key_end, float v) {
  touch(b, layer, head);
  if (b < 0) {
    for (int64_t r = 0; r < batch_; ++r) add(r, layer, head, key_begin, key_end, v);
    return;
  }
  key_begin = std::max<int64_t>(0, key_begin);
  key_end = std::min(prompt_len_, key_end);
  float* p = &values_[idx(b, layer, head) * prompt_len_];
  for (int64_t j = key_begin; j < key_end; ++j) p[j] += v;
}

void AttentionBias::set(int64_t b, int64_t layer, int64_t head, const float* keys) {
  if (b < 0) throw Error("attention bias: set needs one batch row");
  touch(b, layer, head);
  std::copy_n(keys, prompt_len_, &values_[idx(b, layer, head) * prompt_len_]);
}

bool AttentionBias::layer_active(int64_t layer) const {
  for (int64_t b = 0; b < batch_; ++b)
    for (int64_t h = 0; h < heads_; ++h)
      if (active_[idx(b, layer, h)]) return true;
  return false;
}

int64_t AttentionBias::first_uneven_key(int64_t b) const {
  if (ablation.row_any(b)) return 0;
  int64_t first = prompt_len_;
  for (int64_t l = 0; l < layers_; ++l)
    for (int64_t h = 0; h < heads_; ++h) {
      if (!active_[idx(b, l, h)]) continue;
      const float* r = row(b, l, h);
      for (int64_t k = 1; k < first; ++k)
        if (r[k] != r[0]) {
          first = k;
          break;
        }
    }
  return first;
}

bool AttentionBias::any_key_bias() const {
  return std::any_of(active_.begin(), active_.end(), [](uint8_t a) { return a != 0; });
}

bool AttentionBias::any_active() const { return any_key_bias() || ablation.any(); }

int64_t AttentionBias::lowest_active_layer() const {
  for (int64_t l = 0; l < layers_; ++l)
    if (layer_active(l) || ablation.layer_any(l)) return l;
  return -1;
}

AttentionBias AttentionBias::broadcast_to(int64_t batch) const {
  AttentionBias out(batch, layers_, heads_, prompt_len_);
  out.apply_at = apply_at;
  const size_t per_row_a = static_cast<size_t>(layers_ * heads_);
  const size_t per_row_v = per_row_a * static_cast<size_t>(prompt_len_);
  for (int64_t b = 0; b < batch; ++b) {
    std::copy(values_.begin(), values_.begin() + per_row_v, out.values_.begin() + b * per_row_v);
    std::copy(active_.begin(), active_.begin() + per_row_a, out.active_.begin() + b * per_row_a);
  }
  if (ablation.batch() > 0) out.ablation = ablation.broadcast_to(batch);
  return out;
}

}  // namespace hl
