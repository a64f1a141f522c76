// Section index: [KV cache] [rotary] [norms & MLP] [layer views for observers] [forward] [model misc]
#include "core/engine/model.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <set>
#include <thread>

#include "core/engine/ablation.h"
#include "core/engine/attention.h"
#include "core/engine/fused_ops.h"
#include "core/engine/load.h"
#include "core/engine/packed_linear.h"
#include "core/engine/small_linear.h"
#include "core/error.h"

namespace hl {

// ---------------------------------------------------------------------------------------------- [KV cache]

void KVCache::truncate(int64_t len, int64_t from_layer) {
  for (size_t l = static_cast<size_t>(from_layer); l < len_.size(); ++l) len_[l] = std::min(len_[l], len);
}

at::Tensor KVCache::keys(int64_t layer) const { return k_[layer].narrow(2, 0, len_[layer]); }
at::Tensor KVCache::values(int64_t layer) const { return v_[layer].narrow(2, 0, len_[layer]); }

KVCache KVCache::clone() const {
  KVCache c = *this;
  for (auto& t : c.k_) t = t.clone();
  for (auto& t : c.v_) t = t.clone();
  return c;
}

void KVCache::copy_prefix_from(const KVCache& src, int64_t len, int64_t from_layer, int64_t to_layer) {
  if ((src.batch_ != batch_ && src.batch_ != 1) || src.k_.size() != k_.size())
    throw Error("KV cache copy: caches of different shapes");
  if (len > capacity_) throw Error("KV cache copy: more positions than the cache holds");
  for (int64_t l = from_layer; l < to_layer; ++l) {
    const auto i = static_cast<size_t>(l);
    if (len > src.len_[i]) throw Error("KV cache copy: the source holds fewer positions than asked");
    k_[i].narrow(2, 0, len).copy_(src.k_[i].narrow(2, 0, len));
    v_[i].narrow(2, 0, len).copy_(src.v_[i].narrow(2, 0, len));
    len_[i] = len;
  }
}

KVCache Model::new_cache(int64_t batch, int64_t capacity) const {
  if (capacity > cfg_.max_positions)
    throw Error("sequence of " + std::to_string(capacity) + " tokens exceeds the model's context (" +
                std::to_string(cfg_.max_positions) + " positions)");
  KVCache c;
  c.batch_ = batch;
  c.capacity_ = capacity;
  auto opts = at::TensorOptions().dtype(dtype_).device(device_);
  for (int64_t l = 0; l < cfg_.n_layers; ++l) {
    c.k_.push_back(at::empty({batch, cfg_.n_kv_heads, capacity, cfg_.head_dim}, opts));
    c.v_.push_back(at::empty({batch, cfg_.n_kv_heads, capacity, cfg_.head_dim}, opts));
  }
  c.len_.assign(static_cast<size_t>(cfg_.n_layers), 0);
  return c;
}

// ---------------------------------------------------------------------------------------------- [rotary]
at::Tensor rope_inv_freq(const ModelConfig& c, at::Device dev) {
  if (c.rope == RopeStyle::None) return {};
  const int64_t dim = c.rotary_dim;
  // As HF computes it, in float32: 1 / theta^(arange(0, dim, 2) / dim).
  at::Tensor exps = at::arange(0, dim, 2, at::kLong).to(at::kFloat) / static_cast<double>(dim);
  at::Tensor inv = 1.0 / at::pow(c.rope_theta, exps);
  const auto& s = c.rope_scaling;
  if (s.type == "linear") {
    inv = inv / s.factor;
  } else if (s.type == "llama3") {
    const double old_len = static_cast<double>(s.original_max_position_embeddings);
    const double low_wavelen = old_len / s.low_freq_factor, high_wavelen = old_len / s.high_freq_factor;
    at::Tensor wavelen = 2 * M_PI / inv;
    at::Tensor scaled = at::where(wavelen > low_wavelen, inv / s.factor, inv);
    at::Tensor smooth = (old_len / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
    at::Tensor smoothed = (1 - smooth) * scaled / s.factor + smooth * scaled;
    at::Tensor medium = (wavelen >= high_wavelen).logical_and(wavelen <= low_wavelen);
    inv = at::where(medium, smoothed, scaled);
  }
  return inv.to(dev);
}

namespace {

// x: [B, T, N, hd]; rotates the first rotary_dim dims of each head, then multiplies by `scale`.
at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, RopeStyle style,
                      double scale = 1.0) {
  if (engine::fused_rope_applies(x, cos)) return engine::fused_rope(x, cos, sin, style, static_cast<float>(scale));
  const int64_t r = cos.size(-1) * 2, hd = x.size(-1);
  at::Tensor xr = r == hd ? x : x.narrow(-1, 0, r);
  at::Tensor c = cos.to(x.scalar_type()).unsqueeze(0).unsqueeze(2);  // [1, T, 1, r/2]
  at::Tensor s = sin.to(x.scalar_type()).unsqueeze(0).unsqueeze(2);
  at::Tensor out;
  if (style == RopeStyle::Half) {
    at::Tensor x1 = xr.narrow(-1, 0, r / 2), x2 = xr.narrow(-1, r / 2, r / 2);
    out = at::cat({x1 * c - x2 * s, x2 * c + x1 * s}, -1);
  } else {
    at::Tensor pairs = xr.unflatten(-1, {r / 2, 2});
    at::Tensor x0 = pairs.select(-1, 0), x1 = pairs.select(-1, 1);
    out = at::stack({x0 * c - x1 * s, x1 * c + x0 * s}, -1).flatten(-2);
  }
  out = r == hd ? out : at::cat({out, x.narrow(-1, r, hd - r)}, -1);
  return scale == 1.0 ? out : out * scale;
}

// ---------------------------------------------------------------------------------------------- [norms & MLP]

at::Tensor norm(const ModelConfig& c, const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  if (c.norm == NormKind::LayerNorm) return at::layer_norm(x, {x.size(-1)}, w, b, c.norm_eps);
  // RMSNorm exactly as HF: in float32, then weight * x.to(input dtype).
  if (engine::fused_rms_norm_applies(x, w)) return engine::fused_rms_norm(x, w, c.norm_eps);
  at::Tensor xf = x.to(at::kFloat);
  at::Tensor var = xf.pow(2).mean(-1, true);
  return w * (xf * at::rsqrt(var + c.norm_eps)).to(x.scalar_type());
}

at::Tensor activation(Activation a, const at::Tensor& x) {
  switch (a) {
    case Activation::SiLU: return at::silu(x);
    case Activation::GeluTanh: return at::gelu(x, "tanh");
    case Activation::GeluErf: return at::gelu(x);
    case Activation::ReLU: return at::relu(x);
  }
  return x;
}

at::Tensor linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  if (engine::small_linear_applies(x, w)) return engine::small_linear(x, w, b);
  return b.defined() ? at::linear(x, w, b) : at::linear(x, w);
}

// A layer projection: the packed kernel when the model's weights are packed, else as above.
at::Tensor linear(const at::Tensor& x, const std::shared_ptr<const engine::PackedWeight>& p, const at::Tensor& w,
                  const at::Tensor& b) {
  return p ? engine::packed_linear(x, *p, b) : linear(x, w, b);
}

// A gated MLP with SiLU (Llama, Mistral, Qwen2): the fused silu(gate) * up kernels apply, and the packed up
// projection is packed as gate/up pairs so that its epilogue computes it.
bool gated_silu(const ModelConfig& c) { return c.mlp == MlpKind::Gated && c.act == Activation::SiLU; }

// The MLP's hidden activations (before the down projection).
at::Tensor mlp_hidden(const ModelConfig& c, const LayerWeights& lw, const at::Tensor& x) {
  if (lw.up_p && lw.up_p->layout() == engine::PackedWeight::Layout::GatePairs)
    return engine::packed_silu_gate(x, *lw.up_p, lw.up_b);
  at::Tensor h = linear(x, lw.up_p, lw.up_w, lw.up_b);
  if (gated_silu(c) && engine::fused_silu_gate_applies(h)) {
    h = engine::fused_silu_gate(h);
  } else if (c.mlp == MlpKind::Gated) {
    const int64_t I = h.size(-1) / 2;
    h = activation(c.act, h.narrow(-1, 0, I)) * h.narrow(-1, I, I);
  } else {
    h = activation(c.act, h);
  }
  return h;
}

// residual += mlp(x), in place on `residual` (a fresh tensor of this layer that nothing else holds). On CPU float32
// without a bias the down projection's GEMM accumulates into it (beta = 1) rather than writing a product that a
// separate pass then adds.
void add_mlp(const ModelConfig& c, const LayerWeights& lw, const at::Tensor& x, at::Tensor& residual) {
  const at::Tensor h = mlp_hidden(c, lw, x);
  if (lw.down_p) {  // CPU float32 (packed): the projection's epilogue adds into the residual
    engine::packed_linear_accumulate(h, *lw.down_p, lw.down_b, residual);
    return;
  }
  if (engine::small_linear_applies(h, lw.down_w)) {
    residual.add_(engine::small_linear(h, lw.down_w, lw.down_b));
    return;
  }
  // CPU float32 only: in bf16/fp16 (GPU) HF rounds the projection before the residual add, and parity with it
  // matters more than one pass.
  if (residual.device().is_cpu() && residual.scalar_type() == at::kFloat && residual.is_contiguous() &&
      !lw.down_b.defined()) {
    const int64_t D = residual.size(-1);
    residual.view({-1, D}).addmm_(h.reshape({-1, h.size(-1)}), lw.down_w.t());
    return;
  }
  residual.add_(linear(h, lw.down_w, lw.down_b));
}

// ---------------------------------------------------------------------------------------------- [layer views]

class LayerTensors final : public LayerView {
 public:
  at::Tensor residual_in, attn_input, attn_output;  // [B, T, D]
  at::Tensor head_out;                              // [B, T, H, hd]
  at::Tensor values;                                // [B, KVH, S, hd]

  void norms(Which which, int p, float* out) const override {
    const at::Tensor& t = which == Which::ResidualIn ? residual_in : which == Which::AttnInput ? attn_input : attn_output;
    engine::tensor_to_host(at::norm(t.to(at::kFloat), p, {-1}), out);
  }
  void head_output_norms(float* out) const override {
    engine::tensor_to_host(at::norm(head_out.to(at::kFloat), 2, {-1}).permute({0, 2, 1}), out);  // [B, H, T]
  }
  void value_norms(float* out) const override { engine::tensor_to_host(engine::value_l1_norms(values, heads), out); }
};

}  // namespace

// ---------------------------------------------------------------------------------------------- [forward]

ForwardResult Model::forward(const at::Tensor& ids_in, KVCache& cache, const ForwardOptions& opt) const {
  const ModelConfig& c = cfg_;
  if (ids_in.dim() != 2) throw Error("forward: ids must be [batch, tokens]");
  const at::Tensor ids = ids_in.to(device_, at::kLong);
  const int64_t B = ids.size(0), T = ids.size(1), H = c.n_heads, KVH = c.n_kv_heads, hd = c.head_dim;
  const int64_t first = opt.resume_layer;
  if (first < 0 || first >= c.n_layers) throw Error("forward: resume layer out of range");
  if (cache.batch() != B) throw Error("forward: KV cache batch does not match the ids");
  const int64_t pos0 = cache.length(first);
  if (pos0 + T > cache.capacity())
    throw Error("forward: " + std::to_string(pos0 + T) + " tokens exceed the KV cache capacity (" +
                std::to_string(cache.capacity()) + ")");
  {
    at::Tensor lo = ids.min(), hi = ids.max();
    if (T > 0 && (lo.item<int64_t>() < 0 || hi.item<int64_t>() >= c.vocab))
      throw Error("forward: token id out of range [0, " + std::to_string(c.vocab) + ")");
  }
  const Phase phase = pos0 == 0 || opt.continues_prompt ? Phase::Prefill : Phase::Decode;
  const bool bias_on = opt.bias && opt.bias->any_key_bias() &&
                       !(opt.bias->apply_at == ApplyAt::Prefill && phase == Phase::Decode);
  if (opt.bias && (opt.bias->batch() != B || opt.bias->layers() != c.n_layers || opt.bias->heads() != H))
    throw Error("forward: attention bias shape does not match the model/batch");

  // Mean ablation without means, on a prefill of the whole prompt: the means of these ids, unsteered (callers that
  // decode afterwards fill them once beforehand, as generate() and SteeringSession do).
  AttentionBias with_means;
  const AttentionBias* bias = opt.bias;
  if (bias && bias->ablation.needs_means() && first == 0 && pos0 == 0) {
    with_means = *bias;
    fill_ablation_means(*this, ids, with_means);
    bias = &with_means;
  }

  ForwardResult res;
  at::Tensor x;
  if (first == 0) {
    // A tied float32 head, packed, holds the embedding table (the lookups read its rows).
    x = w_.embed.defined() ? at::embedding(w_.embed, ids) : w_.lm_head_p->rows(ids);
    if (w_.pos_embed.defined()) {
      at::Tensor pos = at::arange(pos0, pos0 + T, at::TensorOptions().dtype(at::kLong).device(device_));
      x = x + at::embedding(w_.pos_embed, pos).unsqueeze(0);
    }
    if (opt.keep_hidden) res.embeddings = x;
  } else {
    if (!opt.resume_hidden.defined() || opt.resume_hidden.size(0) != B || opt.resume_hidden.size(1) != T)
      throw Error("forward: resume_hidden must be [batch, tokens, hidden] for the resumed tokens");
    x = opt.resume_hidden.to(device_, dtype_);
  }
  if (opt.keep_layer_inputs) res.layer_inputs.resize(static_cast<size_t>(c.n_layers));

  at::Tensor cos, sin;
  if (c.rope != RopeStyle::None) {
    at::Tensor pos = at::arange(pos0, pos0 + T, at::TensorOptions().dtype(at::kFloat).device(device_));
    at::Tensor freqs = pos.unsqueeze(1) * inv_freq_.unsqueeze(0);  // [T, r/2]
    cos = freqs.cos();
    sin = freqs.sin();
  }
  if (opt.observer) opt.observer->on_forward_begin(phase, B, pos0, T);

  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
  // Nothing reads the last layer's outputs at positions before the last one unless all logits, the hidden
  // states or an observer are asked for: that layer computes keys and values for every position (they go to the
  // cache) and the rest (attention, output projection, MLP) for the last position only.
  const bool last_layer_tail_only =
      !opt.all_logits && !opt.keep_hidden && !opt.observer && !opt.keep_head_means && T > 1;
  const bool ablation_on = bias && bias->ablation.any();
  if (ablation_on && bias->ablation.layers() != c.n_layers)
    throw Error("forward: head ablation shape does not match the model");
  if (opt.keep_head_means) res.head_means = at::zeros({B, c.n_layers, H, hd}, at::TensorOptions().device(device_));
  engine::AttentionWorkspace attn_ws;  // observers' score/probability blocks: one buffer for the whole forward
  for (int64_t l = first; l < c.n_layers; ++l) {
    if (opt.cancel && opt.cancel->cancelled()) throw Cancelled();
    const LayerWeights& lw = w_.layers[static_cast<size_t>(l)];
    if (opt.keep_layer_inputs) res.layer_inputs[static_cast<size_t>(l)] = x;
    at::Tensor h1 = norm(c, x, lw.norm1_w, lw.norm1_b);
    at::Tensor q;
    if (lw.qkv_p && lw.qkv_p->layout() == engine::PackedWeight::Layout::RopePairs) {
      // Projection, rotation, query scale and the cache writes in the product's epilogue.
      q = engine::packed_qkv_rope(h1, *lw.qkv_p, lw.qkv_b, cos, sin, static_cast<float>(scale), H, KVH, cache.k_[l],
                                  cache.v_[l], pos0);
    } else {
      at::Tensor qkv = linear(h1, lw.qkv_p, lw.qkv_w, lw.qkv_b);  // [B, T, (H + 2 KVH) hd]
      q = qkv.narrow(-1, 0, H * hd).view({B, T, H, hd});
      at::Tensor k = qkv.narrow(-1, H * hd, KVH * hd).view({B, T, KVH, hd});
      at::Tensor v = qkv.narrow(-1, (H + KVH) * hd, KVH * hd).view({B, T, KVH, hd});
      if (c.rope != RopeStyle::None &&
          engine::fused_rope_to_cache_applies(q, k, v, cos, cache.k_[l], cache.v_[l])) {
        // Rotation, query scale and the cache writes in one pass.
        q = engine::fused_rope_to_cache(q, k, v, cos, sin, c.rope, static_cast<float>(scale), cache.k_[l], cache.v_[l],
                                        pos0);
      } else {
        if (c.rope != RopeStyle::None) {
          q = apply_rope(q, cos, sin, c.rope, scale);  // the query scale rides along with the rotation
          k = apply_rope(k, cos, sin, c.rope);
        } else {
          q = q * scale;
        }
        // Write this step's K/V into the cache.
        cache.k_[l].narrow(2, pos0, T).copy_(k.transpose(1, 2));
        cache.v_[l].narrow(2, pos0, T).copy_(v.transpose(1, 2));
      }
    }
    cache.len_[l] = pos0 + T;
    const int64_t S = pos0 + T;
    int64_t Tq = T;  // query rows this layer computes past its keys and values
    if (last_layer_tail_only && l == c.n_layers - 1) {
      Tq = 1;
      q = q.narrow(1, T - 1, 1);
      x = x.narrow(1, T - 1, 1).contiguous();
      h1 = h1.narrow(1, T - 1, 1).contiguous();
    }

    engine::AttentionCall call;
    call.workspace = opt.observer ? &attn_ws : nullptr;
    call.layer = l;
    call.q_begin = S - Tq;
    call.sliding_window = c.sliding_window;
    call.observer = opt.observer;
    call.phase = phase;
    if (opt.attention_block_elems > 0) call.max_block_elems = opt.attention_block_elems;
    if (bias_on && bias->layer_active(l)) {
      // [B, H, S]: prompt keys from the plan, generated keys 0.
      const int64_t P = std::min(bias->prompt_len(), S);
      at::Tensor kb = at::zeros({B, H, S}, at::kFloat);
      float* dst = kb.data_ptr<float>();
      for (int64_t b = 0; b < B; ++b)
        for (int64_t h = 0; h < H; ++h)
          if (bias->active(b, l, h)) {
            std::copy_n(bias->row(b, l, h), P, dst + (b * H + h) * S);
            call.bias_heads.emplace_back(b, h);
          }
      call.key_bias = kb.to(device_);
    }
    at::Tensor qs = q.transpose(1, 2);  // [B, H, T, hd], scaled
    at::Tensor attn = engine::attend(qs, cache.keys(l), cache.values(l), call);  // [B, H, T, hd]
    if (opt.keep_head_means) res.head_means.select(1, l).copy_(attn.to(at::kFloat).mean(2));
    // Head ablation acts on the per-head outputs, before the output projection (which the packed path fuses).
    if (ablation_on && bias->ablation.layer_any(l)) attn = engine::ablate_heads(attn, bias->ablation, l);
    at::Tensor head_out = attn.transpose(1, 2);                                   // [B, T, H, hd]
    at::Tensor attn_flat = head_out.reshape({B, Tq, H * hd});

    // The MLP's input: the attention's output added to the residual (sequential blocks) or the layer input
    // (parallel blocks: its own norm, or the attention's).
    at::Tensor h2;
    if (c.block == BlockKind::Parallel) h2 = norm(c, x, lw.norm2_w, lw.norm2_b);
    else if (c.block == BlockKind::ParallelSharedNorm) h2 = h1;
    const bool observed = opt.observer && opt.observer->wants_layer(l, phase);
    if (lw.o_p && !observed) {
      // Packed weights: the output projection's epilogue adds the residual (x + o, a fresh tensor).
      x = engine::packed_linear_residual(attn_flat, *lw.o_p, lw.o_b, x);
    } else {
      at::Tensor o = linear(attn_flat, lw.o_p, lw.o_w, lw.o_b);
      if (observed) {
        LayerTensors view;
        view.layer = l;
        view.batch = B;
        view.tokens = T;
        view.q_begin = pos0;
        view.heads = H;
        view.phase = phase;
        view.residual_in = x;
        view.attn_input = h1;
        view.attn_output = o;
        view.head_out = head_out;
        view.values = cache.values(l);
        opt.observer->on_layer_end(view);
      }
      x = x + o;  // a fresh tensor: the MLP output is accumulated into it in place
    }
    if (c.block == BlockKind::Sequential) h2 = norm(c, x, lw.norm2_w, lw.norm2_b);
    add_mlp(c, lw, h2, x);
    if (opt.keep_hidden) res.layer_outputs.push_back(x);
  }
  if (opt.observer) opt.observer->on_forward_end();

  at::Tensor xn = norm(c, x, w_.final_norm_w, w_.final_norm_b);
  if (opt.keep_hidden) res.final_normed = xn;
  at::Tensor head_in = opt.all_logits ? xn : xn.narrow(1, xn.size(1) - 1, 1);
  res.logits = w_.lm_head_p ? engine::packed_linear(head_in, *w_.lm_head_p, w_.lm_head_b)
                            : linear(head_in, w_.lm_head_w, w_.lm_head_b).to(at::kFloat);
  return res;
}

// ---------------------------------------------------------------------------------------------- [model misc]

Model::Model(ModelConfig cfg, ModelWeights w, at::Device device, at::ScalarType dtype)
    : cfg_(std::move(cfg)), w_(std::move(w)), device_(device), dtype_(dtype) {
  inv_freq_ = hl::rope_inv_freq(cfg_, device_);
}

Model::~Model() = default;

bool Model::weights_packed() const { return !w_.layers.empty() && w_.layers.front().qkv_p != nullptr; }

namespace engine {

void pack_layer(const ModelConfig& cfg, int64_t layer, LayerWeights& lw, const std::vector<at::Tensor>& qkv,
                const at::Tensor& o, const std::vector<at::Tensor>& up, const at::Tensor& down) {
  // Half-style rotary over whole heads of a multiple of 32 dims: the QKV product rotates queries and keys in its
  // epilogue and writes keys and values into the cache (packed_qkv_rope).
  const int64_t hd = cfg.head_dim, qkv_rows = (cfg.n_heads + 2 * cfg.n_kv_heads) * hd;
  const bool rope_pairs = cfg.rope == RopeStyle::Half && (cfg.rotary_dim + 1) / 2 * 2 == hd && hd % 32 == 0;
  int64_t rows = 0;
  for (const auto& t : qkv) rows += t.size(0);
  const std::string at_layer = " of layer " + std::to_string(layer);
  auto pack = [&](const std::vector<at::Tensor>& w, PackedWeight::Layout layout, const char* name,
                  int64_t head_dim = 0, int64_t rope_features = 0) {
    return std::make_shared<const PackedWeight>(PackedWeight::pack(w, layout, name + at_layer, head_dim, rope_features));
  };
  if (rope_pairs && rows == qkv_rows)
    lw.qkv_p = pack(qkv, PackedWeight::Layout::RopePairs, "the QKV projection", hd, (cfg.n_heads + cfg.n_kv_heads) * hd);
  else
    lw.qkv_p = pack(qkv, PackedWeight::Layout::Plain, "the QKV projection");
  lw.o_p = pack({o}, PackedWeight::Layout::Plain, "the output projection");
  lw.up_p = pack(up, gated_silu(cfg) ? PackedWeight::Layout::GatePairs : PackedWeight::Layout::Plain, "the up projection");
  lw.down_p = pack({down}, PackedWeight::Layout::Plain, "the down projection");
}

}  // namespace engine

bool Model::pack_weights(const std::function<void(int64_t layer)>& on_layer) {
  using engine::PackedWeight;
  if (!weights_packed()) {
    // Packed products compute in float32 (16-bit weights are widened in them): a bf16/f16 compute dtype stays on
    // ATen.
    if (dtype_ != at::kFloat) return false;
    if (w_.layers.empty() || !PackedWeight::applies(w_.layers.front().qkv_w)) return false;
    for (size_t l = 0; l < w_.layers.size(); ++l) {
      LayerWeights& lw = w_.layers[l];
      engine::pack_layer(cfg_, static_cast<int64_t>(l), lw, {lw.qkv_w}, lw.o_w, {lw.up_w}, lw.down_w);
      lw.qkv_w = lw.o_w = lw.up_w = lw.down_w = at::Tensor();  // released: the packed copies replace them
      if (on_layer) on_layer(static_cast<int64_t>(l));
    }
  }
  // The LM head is packed too: the packed product sums each logit in one order whatever the number of rows, where
  // the BLAS's order depends on it (so a profiled head's score would depend on how many heads share a forward).
  const PackedWeight::Storage st = w_.layers.front().qkv_p->storage();
  if (!w_.lm_head_p && w_.lm_head_w.defined() && w_.lm_head_w.dim() == 2) {
    if (st == PackedWeight::Storage::F32) {
      // Float32 (the compute dtype here): a tied head takes the embedding table's place (lookups read the packed
      // rows), one copy.
      const bool tied = w_.lm_head_w.is_same(w_.embed);
      w_.lm_head_p = std::make_shared<const PackedWeight>(
          PackedWeight::pack(w_.lm_head_w, PackedWeight::Layout::Plain, "the LM head"));
      w_.lm_head_w = at::Tensor();
      if (tied) w_.embed = at::Tensor();
    } else {
      // 16-bit projections (a bf16/f16 checkpoint): the LM head in the same type, exactly its checkpoint values
      // (read as float32, which holds them exactly). A tied head keeps the float32 embedding table for the lookups.
      const at::Tensor head = w_.lm_head_w.to(st == PackedWeight::Storage::BF16 ? at::kBFloat16 : at::kHalf);
      // Never a rounding the checkpoint did not have. Compared in blocks of rows: a whole float32 copy of the head
      // would add its size to the load's peak memory.
      bool exact = true;
      for (int64_t r = 0; r < head.size(0) && exact; r += 4096) {
        const int64_t n = std::min<int64_t>(4096, head.size(0) - r);
        exact = at::equal(head.narrow(0, r, n).to(at::kFloat), w_.lm_head_w.narrow(0, r, n));
      }
      if (exact) {
        w_.lm_head_p =
            std::make_shared<const PackedWeight>(PackedWeight::pack(head, PackedWeight::Layout::Plain, "the LM head"));
        w_.lm_head_w = at::Tensor();
      }
    }
  }
  return true;
}

void Model::set_tokenizer(std::unique_ptr<Tokenizer> t) { tokenizer_ = std::move(t); }

at::Tensor Model::rope_inv_freq() const { return inv_freq_; }

std::string Model::weight_storage() const {
  if (weights_packed()) return engine::storage_name(w_.layers.front().qkv_p->storage());
  const at::ScalarType t = w_.layers.empty() ? dtype_ : w_.layers.front().qkv_w.scalar_type();
  return t == at::kFloat ? "f32" : t == at::kBFloat16 ? "bf16" : t == at::kHalf ? "f16" : c10::toString(t);
}

int64_t Model::projection_bytes() const {
  int64_t n = 0;
  for (const auto& l : w_.layers) {
    for (const auto* t : {&l.qkv_w, &l.o_w, &l.up_w, &l.down_w})
      if (t->defined()) n += t->numel() * static_cast<int64_t>(t->element_size());
    for (const auto* p : {&l.qkv_p, &l.o_p, &l.up_p, &l.down_p})
      if (*p) n += (*p)->bytes();
  }
  if (w_.lm_head_p) n += w_.lm_head_p->bytes();
  return n;
}

int64_t Model::param_count() const {
  int64_t n = w_.embed.defined() ? w_.embed.numel() : 0;
  auto add = [&](const at::Tensor& t) {
    if (t.defined()) n += t.numel();
  };
  add(w_.pos_embed);
  add(w_.final_norm_w);
  add(w_.final_norm_b);
  if (!cfg_.tie_word_embeddings) add(w_.lm_head_w);
  if (w_.lm_head_p && (!cfg_.tie_word_embeddings || !w_.embed.defined())) n += w_.lm_head_p->numel();
  add(w_.lm_head_b);
  for (const auto& l : w_.layers) {
    for (const auto* t : {&l.norm1_w, &l.norm1_b, &l.norm2_w, &l.norm2_b, &l.qkv_w, &l.qkv_b, &l.o_w, &l.o_b, &l.up_w,
                          &l.up_b, &l.down_w, &l.down_b})
      add(*t);
    for (const auto* p : {&l.qkv_p, &l.o_p, &l.up_p, &l.down_p})
      if (*p) n += (*p)->numel();
  }
  return n;
}

int parallel_loop_threads() {
  std::mutex m;
  std::set<std::thread::id> ids;
  at::parallel_for(0, 4096, 1, [&](int64_t, int64_t) {
    std::lock_guard<std::mutex> g(m);
    ids.insert(std::this_thread::get_id());
  });
  return static_cast<int>(ids.size());
}

void set_compute_threads(int n) {
  if (n <= 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(n);
}

}  // namespace hl
