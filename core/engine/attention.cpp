#include "core/engine/attention.h"

#include "core/engine/fused_ops.h"

#include <algorithm>
#include <limits>

namespace hl::engine {

void tensor_to_host(const at::Tensor& t, float* out) {
  at::Tensor c = t.to(at::kCPU, at::kFloat).contiguous();
  std::copy(c.data_ptr<float>(), c.data_ptr<float>() + c.numel(), out);
}

at::Tensor value_l1_norms(const at::Tensor& values, int64_t heads) {
  const double group = static_cast<double>(heads / values.size(1));
  return values.to(at::kFloat).abs().sum(-1).sum(1) * group;
}

namespace {

// Views handed to observers: probabilities of a block of query rows, all heads.
class BlockView final : public AttentionView {
 public:
  // probs and scores [B, H, R, valid_keys] float32; values [B, KVH, S, hd].
  BlockView(const at::Tensor& probs, const at::Tensor& scores, const at::Tensor& values)
      : probs_(probs), scores_(scores), values_(values) {}

  void copy_head(int64_t b, int64_t h, float* out) const override { padded_to_host(probs_.select(0, b).select(0, h), out); }
  void copy_head_mean(int64_t b, float* out) const override { padded_to_host(probs_.select(0, b).mean(0), out); }
  void head_matvec(const float* v, float* out) const override {
    if (engine::probs_matvec_applies(probs_)) return engine::probs_matvec(probs_, v, keys, false, out);
    at::Tensor vt = host_vector(v, {batch, keys, 1}).narrow(1, 0, valid_keys).unsqueeze(1);  // [B, 1, Sv, 1]
    to_host(at::matmul(probs_, vt).squeeze(-1), out);  // [B, H, R]
  }
  void head_mean_matvec(const float* v, float* out) const override {
    if (engine::probs_matvec_applies(probs_)) return engine::probs_matvec(probs_, v, keys, true, out);
    at::Tensor vt = host_vector(v, {batch, keys, 1}).narrow(1, 0, valid_keys);  // [B, Sv, 1]
    // Mean of the per-head products: no [B, R, S] head-mean copy of the probabilities.
    to_host(at::matmul(probs_, vt.unsqueeze(1)).squeeze(-1).mean(1), out);  // [B, R]
  }
  void value_norms(float* out) const override { to_host(value_l1_norms(values_, heads), out); }
  const void* native() const override { return &probs_; }
  const void* native_scores() const override { return scores_.defined() ? &scores_ : nullptr; }

 private:
  at::Tensor host_vector(const float* v, at::IntArrayRef shape) const {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    return at::from_blob(const_cast<float*>(v), {n}, at::kFloat).view(shape).to(probs_.device(), at::kFloat, false, true);
  }
  // [R, valid_keys] -> R rows of `keys` floats, zero past valid_keys.
  void padded_to_host(const at::Tensor& t, float* out) const {
    at::Tensor full = t;
    if (valid_keys < keys) full = at::constant_pad_nd(t, {0, keys - valid_keys}, 0.0);
    to_host(full, out);
  }
  static void to_host(const at::Tensor& t, float* out) { tensor_to_host(t, out); }
  at::Tensor probs_, scores_, values_;
};

// Adds the key bias [B, H, 1, Sv] to the scores: one broadcast add when most heads are steered, else only the
// steered heads' rows (PASTA typically steers a few heads per layer).
void add_key_bias(at::Tensor& scores, const at::Tensor& bias, const std::vector<std::pair<int64_t, int64_t>>& heads) {
  const int64_t B = scores.size(0), H = scores.size(1);
  if (heads.empty() || static_cast<int64_t>(heads.size()) * 2 > B * H) {
    scores.add_(bias);
    return;
  }
  for (auto [b, h] : heads) scores.select(0, b).select(0, h).add_(bias.select(0, b).select(0, h));
}

void notify_observer(const AttentionCall& call, const at::Tensor& probs, const at::Tensor& scores, const at::Tensor& v,
                     int64_t B, int64_t H, int64_t pos0, int64_t R, int64_t S, int64_t Sv) {
  BlockView view(probs, scores, v);
  view.layer = call.layer;
  view.batch = B;
  view.heads = H;
  view.q_begin = pos0;
  view.q_end = pos0 + R;
  view.keys = S;
  view.valid_keys = Sv;
  view.phase = call.phase;
  call.observer->on_attention(view);
}

}  // namespace

at::Tensor attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const AttentionCall& call) {
  const int64_t B = q.size(0), H = q.size(1), T = q.size(2), hd = q.size(3);
  const int64_t KVH = k.size(1), S = k.size(2), G = H / KVH;
  const bool observe = call.observer && call.observer->wants_layer(call.layer, call.phase);
  // The pre-softmax scores only for observers that read them (head statistics), not for probability readers.
  const bool keep_scores = observe && call.observer->wants_scores(call.layer, call.phase);
  const auto dev = q.device();

  if (T == 1 && engine::fused_query_attention_applies(q, k, v, call.key_bias)) {
    // Decode step: one query row per head, in one pass (no score block, no batched matmuls).
    at::Tensor probs, scores;
    at::Tensor out = fused_query_attention(q, k, v, call.key_bias, call.q_begin, call.sliding_window,
                                           observe ? &probs : nullptr, keep_scores ? &scores : nullptr);
    if (observe) notify_observer(call, probs, scores, v, B, H, call.q_begin, 1, S, S);
    return out;
  }

  // Query blocks: one block for short prompts; blocks of kBlockRows rows for long ones, so that each block
  // only computes the keys it can see (about half the attention work of a full causal square) and no
  // full [T, S] score matrix per head ever exists.
  constexpr int64_t kBlockRows = 256, kOneBlockUpTo = 256;
  int64_t rows = T <= kOneBlockUpTo ? T : kBlockRows;
  if (B * H * rows * S > call.max_block_elems) rows = std::max<int64_t>(1, call.max_block_elems / (B * H * S));

  // CPU float32: per-(head, row chunk) tasks on all threads, bias/mask/softmax fused per row.
  const bool fused = engine::fused_attention_block_applies(q, k, v, call.key_bias);
  const at::Tensor kt = fused ? at::Tensor() : k.transpose(-1, -2);  // [B, KVH, hd, S], for the ATen path
  std::vector<at::Tensor> outs;
  // The fused blocks write into one [B, T, H, hd] tensor (returned as its [B, H, T, hd] view): the caller's
  // transpose back to [B, T, H * hd] for the output projection is then a view, not a copy.
  const at::Tensor fused_out = fused ? at::empty({B, T, H, hd}, q.options()).transpose(1, 2) : at::Tensor();
  for (int64_t r0 = 0; r0 < T; r0 += rows) {
    const int64_t R = std::min(rows, T - r0);
    const int64_t pos0 = call.q_begin + r0;
    const int64_t Sv = std::min(S, pos0 + R);  // keys after the block's last query are masked for every row
    if (fused) {
      at::Tensor scores, probs;
      if (call.workspace) {
        // Views of the forward's buffers, allocated once at the largest block of this call (rows x all keys).
        const int64_t n = B * H * R * Sv, cap = B * H * rows * S;
        auto block = [&](at::Tensor& buf) {
          if (!buf.defined() || buf.numel() < n) buf = at::empty({std::max(n, cap)}, q.options());
          return buf.narrow(0, 0, n).view({B, H, R, Sv});
        };
        if (keep_scores) scores = block(call.workspace->scores);
        if (observe) probs = block(call.workspace->probs);
      }
      fused_attention_block(R == T ? q : q.narrow(2, r0, R), k, v, call.key_bias, pos0, Sv, call.sliding_window,
                            keep_scores ? &scores : nullptr, observe ? &probs : nullptr,
                            R == T ? fused_out : fused_out.narrow(2, r0, R));
      if (observe) notify_observer(call, probs, scores, v, B, H, pos0, R, S, Sv);
      continue;
    }
    at::Tensor qb = (R == T ? q : q.narrow(2, r0, R)).reshape({B, KVH, G * R, hd});
    at::Tensor scores = at::matmul(qb, Sv == S ? kt : kt.narrow(-1, 0, Sv)).view({B, H, R, Sv});
    if (scores.scalar_type() != at::kFloat) scores = scores.to(at::kFloat);
    at::Tensor probs;
    if (engine::fused_softmax_applies(scores, call.key_bias)) {
      // One pass per row: bias, causal/window mask and softmax; in place unless an observer reads the scores.
      if (!observe) probs = scores;
      fused_bias_mask_softmax(scores, call.key_bias, pos0, call.sliding_window, probs, observe);
    } else {
      if (call.key_bias.defined()) {
        const at::Tensor bias = call.key_bias.unsqueeze(2);  // [B, H, 1, S]
        add_key_bias(scores, Sv == S ? bias : bias.narrow(-1, 0, Sv), call.bias_heads);
      }
      // Causal mask inside the block (keys pos0..pos0+R-1), and the sliding window.
      if (R > 1 || call.sliding_window > 0) {
        at::Tensor qpos = at::arange(pos0, pos0 + R, at::TensorOptions().dtype(at::kLong).device(dev)).unsqueeze(1);
        at::Tensor kpos = at::arange(0, Sv, at::TensorOptions().dtype(at::kLong).device(dev)).unsqueeze(0);
        at::Tensor masked = kpos > qpos;
        if (call.sliding_window > 0) masked = masked.logical_or(kpos <= qpos - call.sliding_window);
        // The lowest float rather than -inf: softmax gives exactly 0 either way, and p * s stays finite (0) for
        // observers that use the scores (head entropy).
        scores.masked_fill_(masked, std::numeric_limits<float>::lowest());
      }
      probs = at::softmax(scores, -1);
    }
    if (observe) notify_observer(call, probs, scores, v, B, H, pos0, R, S, Sv);
    at::Tensor pv = probs.to(v.scalar_type()).view({B, KVH, G * R, Sv});
    outs.push_back(at::matmul(pv, Sv == S ? v : v.narrow(2, 0, Sv)).view({B, H, R, hd}));
  }
  if (fused) return fused_out;
  return outs.size() == 1 ? outs[0] : at::cat(outs, 2);
}

}  // namespace hl::engine
