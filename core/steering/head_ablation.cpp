#include "core/steering/head_ablation.h"

#include <algorithm>
#include <string>

#include "core/error.h"

namespace hl {

const char* to_string(AblationMode m) {
  switch (m) {
    case AblationMode::None: return "none";
    case AblationMode::Zero: return "zero";
    case AblationMode::Mean: return "mean";
  }
  return "?";
}

HeadAblation::HeadAblation(int64_t batch, int64_t layers, int64_t heads)
    : batch_(batch), layers_(layers), heads_(heads) {
  if (batch <= 0 || layers <= 0 || heads <= 0) throw Error("head ablation: invalid dimensions");
  modes_.assign(static_cast<size_t>(batch * layers * heads), 0);
}

void HeadAblation::check(int64_t b, int64_t layer, int64_t head) const {
  if (layer < 0 || layer >= layers_) throw Error("head ablation: layer " + std::to_string(layer) + " out of range");
  if (head < 0 || head >= heads_) throw Error("head ablation: head " + std::to_string(head) + " out of range");
  if (b >= batch_) throw Error("head ablation: batch row " + std::to_string(b) + " out of range");
}

void HeadAblation::set(int64_t b, int64_t layer, int64_t head, AblationMode mode) {
  check(b, layer, head);
  if (b < 0) {
    for (int64_t r = 0; r < batch_; ++r) set(r, layer, head, mode);
    return;
  }
  uint8_t& m = modes_[idx(b, layer, head)];
  count_ += (mode != AblationMode::None) - (m != 0);
  m = static_cast<uint8_t>(mode);
}

bool HeadAblation::layer_any(int64_t layer) const {
  if (count_ == 0) return false;
  for (int64_t b = 0; b < batch_; ++b)
    for (int64_t h = 0; h < heads_; ++h)
      if (modes_[idx(b, layer, h)]) return true;
  return false;
}

bool HeadAblation::row_any(int64_t b) const {
  if (count_ == 0) return false;
  for (int64_t l = 0; l < layers_; ++l)
    for (int64_t h = 0; h < heads_; ++h)
      if (modes_[idx(b, l, h)]) return true;
  return false;
}

int64_t HeadAblation::lowest_layer() const {
  for (int64_t l = 0; l < layers_; ++l)
    if (layer_any(l)) return l;
  return -1;
}

bool HeadAblation::any_mean() const {
  if (count_ == 0) return false;
  for (uint8_t m : modes_)
    if (m == static_cast<uint8_t>(AblationMode::Mean)) return true;
  return false;
}

void HeadAblation::set_means(int64_t head_dim, int64_t rows, std::vector<float> means) {
  if (head_dim <= 0 || (rows != 1 && rows != batch_))
    throw Error("head ablation: means need a positive head size and one row or one per batch row");
  if (static_cast<int64_t>(means.size()) != rows * layers_ * heads_ * head_dim)
    throw Error("head ablation: " + std::to_string(means.size()) + " mean values, expected " +
                std::to_string(rows * layers_ * heads_ * head_dim));
  head_dim_ = head_dim;
  mean_rows_ = rows;
  means_ = std::move(means);
}

const float* HeadAblation::mean(int64_t b, int64_t layer, int64_t head) const {
  if (!has_means()) throw Error("head ablation: no mean head outputs were computed for mean ablation");
  const int64_t row = mean_rows_ == 1 ? 0 : b;
  return &means_[idx(row, layer, head) * static_cast<size_t>(head_dim_)];
}

HeadAblation HeadAblation::broadcast_to(int64_t batch) const {
  if (modes_.empty()) return {};
  HeadAblation out(batch, layers_, heads_);
  const size_t per_row = static_cast<size_t>(layers_ * heads_);
  for (int64_t b = 0; b < batch; ++b) std::copy_n(modes_.begin(), per_row, out.modes_.begin() + b * per_row);
  out.count_ = 0;
  for (uint8_t m : out.modes_) out.count_ += m != 0;
  if (has_means()) {
    const size_t n = per_row * static_cast<size_t>(head_dim_);
    out.set_means(head_dim_, 1, std::vector<float>(means_.begin(), means_.begin() + n));
  }
  return out;
}

bool HeadAblation::operator==(const HeadAblation& o) const {
  return batch_ == o.batch_ && layers_ == o.layers_ && heads_ == o.heads_ && modes_ == o.modes_ &&
         head_dim_ == o.head_dim_ && mean_rows_ == o.mean_rows_ && means_ == o.means_;
}

}  // namespace hl
