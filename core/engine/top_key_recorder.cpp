#include "core/engine/top_key_recorder.h"

#include <ATen/ATen.h>

#include "core/error.h"

namespace hl {

TopKeyRecorder::TopKeyRecorder(int64_t layers, int64_t heads) : layers_(layers), heads_(heads) {}

void TopKeyRecorder::on_forward_begin(Phase, int64_t batch, int64_t q_begin, int64_t tokens) {
  batch_ = batch;
  last_row_ = q_begin + tokens - 1;
  keys_.emplace_back(static_cast<size_t>(batch * layers_ * heads_), -1);
}

void TopKeyRecorder::on_attention(const AttentionView& view) {
  if (keys_.empty() || view.q_end - 1 != last_row_) return;  // only the block holding the newest query
  if (view.heads != heads_ || view.layer >= layers_) throw Error("top-key recorder: view does not match the model");
  std::vector<int64_t>& step = keys_.back();
  const auto* native = static_cast<const at::Tensor*>(view.native());
  if (native) {
    // [B, H, R, valid_keys]: argmax of the last row, on the model's device, then B x H ints to the host.
    const at::Tensor top = native->select(2, native->size(2) - 1).argmax(-1).to(at::kCPU, at::kLong).contiguous();
    const int64_t* t = top.data_ptr<int64_t>();
    for (int64_t b = 0; b < view.batch; ++b)
      for (int64_t h = 0; h < heads_; ++h) step[static_cast<size_t>((b * layers_ + view.layer) * heads_ + h)] = t[b * heads_ + h];
    return;
  }
  std::vector<float> row(static_cast<size_t>(view.rows() * view.keys));
  for (int64_t b = 0; b < view.batch; ++b)
    for (int64_t h = 0; h < heads_; ++h) {
      view.copy_head(b, h, row.data());
      const float* last = row.data() + (view.rows() - 1) * view.keys;
      int64_t best = 0;
      for (int64_t j = 1; j < view.keys; ++j)
        if (last[j] > last[best]) best = j;
      step[static_cast<size_t>((b * layers_ + view.layer) * heads_ + h)] = best;
    }
}

std::vector<int64_t> TopKeyRecorder::top_keys(int64_t step, int64_t b) const {
  if (step < 0 || step >= steps() || b < 0 || b >= batch_) throw Error("top-key recorder: step or row out of range");
  const auto& s = keys_[static_cast<size_t>(step)];
  const size_t n = static_cast<size_t>(layers_ * heads_);
  return std::vector<int64_t>(s.begin() + static_cast<std::ptrdiff_t>(b * n), s.begin() + static_cast<std::ptrdiff_t>((b + 1) * n));
}

std::vector<std::vector<int64_t>> TopKeyRecorder::row(int64_t b) const {
  std::vector<std::vector<int64_t>> out;
  for (int64_t s = 0; s < steps(); ++s) out.push_back(top_keys(s, b));
  return out;
}

}  // namespace hl
