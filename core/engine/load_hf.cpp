// Loading HF model directories: config.json + safetensors, with each architecture's tensor names and layouts
// mapped onto ModelWeights (fused q|k|v rows, fused gate|up rows, [out, in] linear weights).
#include <ATen/ATen.h>

#include <fstream>
#include <set>

#include "core/engine/load.h"
#include "core/engine/packed_linear.h"
#include "core/engine/weight_source.h"
#include "core/error.h"

namespace hl::engine {
namespace {

struct Loader {
  const ModelConfig& c;
  const WeightSource& src;
  at::ScalarType dt;
  at::ScalarType proj_dt;  // the four projection matrices' dtype (the checkpoint's 16-bit type, or dt)
  at::Device dev;
  const LayerLoaded& on_layer;
  bool pack;  // pack each layer's projections as it is read (load_hf_weights)
  mutable std::vector<std::string> views;  // projections read in place, released once packed

  at::Tensor get(const std::string& name, std::vector<int64_t> shape) const { return src.get(name, shape, dt, dev); }
  // A projection matrix (what pack_layer packs): read in place when it is packed now from its stored type.
  at::Tensor proj(const std::string& name, std::vector<int64_t> shape) const {
    if (pack && src.dtype_of(name) == proj_dt) {
      views.push_back(name);
      return src.view(name, shape);
    }
    return src.get(name, shape, proj_dt, dev);
  }
  // Layer i's projections are read: packed now (and their mapped pages released), or kept row-major in lw (q | k | v
  // and gate | up concatenated).
  void layer_done(int64_t i, LayerWeights& lw, const std::vector<at::Tensor>& qkv, const at::Tensor& o,
                  const std::vector<at::Tensor>& up, const at::Tensor& down) const {
    if (pack) {
      pack_layer(c, i, lw, qkv, o, up, down);
      for (const auto& n : views) src.release(n);
      views.clear();
    } else {
      lw.qkv_w = qkv.size() == 1 ? qkv.front() : at::cat(qkv);
      lw.o_w = o;
      lw.up_w = up.size() == 1 ? up.front() : at::cat(up);
      lw.down_w = down;
    }
    if (on_layer) on_layer(i);
  }
  at::Tensor opt(const std::string& name, std::vector<int64_t> shape) const {
    return src.has(name) ? get(name, shape) : at::Tensor();
  }
};

void load_llama_family(const Loader& L, ModelWeights& w) {
  const ModelConfig& c = L.c;
  const int64_t D = c.hidden, Q = c.q_dim(), KV = c.kv_dim(), I = c.intermediate;
  const std::string p = L.src.detect_prefix({"model.", ""}, "embed_tokens.weight");
  w.embed = L.get(p + "embed_tokens.weight", {c.vocab, D});
  for (int64_t i = 0; i < c.n_layers; ++i) {
    const std::string lp = p + "layers." + std::to_string(i) + ".";
    LayerWeights lw;
    lw.norm1_w = L.get(lp + "input_layernorm.weight", {D});
    lw.norm2_w = L.get(lp + "post_attention_layernorm.weight", {D});
    const std::vector<at::Tensor> qkv = {L.proj(lp + "self_attn.q_proj.weight", {Q, D}),
                                         L.proj(lp + "self_attn.k_proj.weight", {KV, D}),
                                         L.proj(lp + "self_attn.v_proj.weight", {KV, D})};
    if (c.qkv_bias)
      lw.qkv_b = at::cat({L.get(lp + "self_attn.q_proj.bias", {Q}), L.get(lp + "self_attn.k_proj.bias", {KV}),
                          L.get(lp + "self_attn.v_proj.bias", {KV})});
    const at::Tensor o = L.proj(lp + "self_attn.o_proj.weight", {D, Q});
    if (c.o_bias) lw.o_b = L.get(lp + "self_attn.o_proj.bias", {D});
    const std::vector<at::Tensor> up = {L.proj(lp + "mlp.gate_proj.weight", {I, D}), L.proj(lp + "mlp.up_proj.weight", {I, D})};
    const at::Tensor down = L.proj(lp + "mlp.down_proj.weight", {D, I});
    if (c.mlp_bias) {
      lw.up_b = at::cat({L.get(lp + "mlp.gate_proj.bias", {I}), L.get(lp + "mlp.up_proj.bias", {I})});
      lw.down_b = L.get(lp + "mlp.down_proj.bias", {D});
    }
    L.layer_done(i, lw, qkv, o, up, down);
    w.layers.push_back(std::move(lw));
  }
  w.final_norm_w = L.get(p + "norm.weight", {D});
  if (c.tie_word_embeddings || !L.src.has("lm_head.weight")) {
    if (!c.tie_word_embeddings) L.get("lm_head.weight", {c.vocab, D});  // throws: untied model without a head
    w.lm_head_w = w.embed;
  } else if (L.pack && L.proj_dt != L.dt && L.src.dtype_of("lm_head.weight") == L.proj_dt) {
    // A 16-bit head packed in place, as Model::pack_weights would pack it (its values are the checkpoint's).
    w.lm_head_p = std::make_shared<const PackedWeight>(
        PackedWeight::pack(L.src.view("lm_head.weight", {c.vocab, D}), PackedWeight::Layout::Plain, "the LM head"));
    L.src.release("lm_head.weight");
  } else {
    w.lm_head_w = L.get("lm_head.weight", {c.vocab, D});
  }
}

void load_gpt2(const Loader& L, ModelWeights& w) {
  const ModelConfig& c = L.c;
  const int64_t D = c.hidden, I = c.intermediate;
  const std::string p = L.src.detect_prefix({"transformer.", ""}, "wte.weight");
  w.embed = L.get(p + "wte.weight", {c.vocab, D});
  w.pos_embed = L.get(p + "wpe.weight", {c.max_positions, D});
  // Conv1D stores [in, out]; transpose to the [out, in] layout of linear.
  auto conv = [&](const std::string& n, int64_t in, int64_t out) { return L.proj(n, {in, out}).t().contiguous(); };
  for (int64_t i = 0; i < c.n_layers; ++i) {
    const std::string lp = p + "h." + std::to_string(i) + ".";
    LayerWeights lw;
    lw.norm1_w = L.get(lp + "ln_1.weight", {D});
    lw.norm1_b = L.get(lp + "ln_1.bias", {D});
    lw.norm2_w = L.get(lp + "ln_2.weight", {D});
    lw.norm2_b = L.get(lp + "ln_2.bias", {D});
    lw.qkv_b = L.get(lp + "attn.c_attn.bias", {3 * D});
    lw.o_b = L.get(lp + "attn.c_proj.bias", {D});
    lw.up_b = L.get(lp + "mlp.c_fc.bias", {I});
    lw.down_b = L.get(lp + "mlp.c_proj.bias", {D});
    L.layer_done(i, lw, {conv(lp + "attn.c_attn.weight", D, 3 * D)}, conv(lp + "attn.c_proj.weight", D, D),
                 {conv(lp + "mlp.c_fc.weight", D, I)}, conv(lp + "mlp.c_proj.weight", I, D));
    w.layers.push_back(std::move(lw));
  }
  w.final_norm_w = L.get(p + "ln_f.weight", {D});
  w.final_norm_b = L.get(p + "ln_f.bias", {D});
  w.lm_head_w = (!c.tie_word_embeddings && L.src.has("lm_head.weight")) ? L.get("lm_head.weight", {c.vocab, D}) : w.embed;
}

void load_gptj(const Loader& L, ModelWeights& w) {
  const ModelConfig& c = L.c;
  const int64_t D = c.hidden, I = c.intermediate;
  const std::string p = L.src.detect_prefix({"transformer.", ""}, "wte.weight");
  w.embed = L.get(p + "wte.weight", {c.vocab, D});
  for (int64_t i = 0; i < c.n_layers; ++i) {
    const std::string lp = p + "h." + std::to_string(i) + ".";
    LayerWeights lw;
    lw.norm1_w = L.get(lp + "ln_1.weight", {D});
    lw.norm1_b = L.get(lp + "ln_1.bias", {D});
    lw.up_b = L.get(lp + "mlp.fc_in.bias", {I});
    lw.down_b = L.get(lp + "mlp.fc_out.bias", {D});
    L.layer_done(i, lw,
                 {L.proj(lp + "attn.q_proj.weight", {D, D}), L.proj(lp + "attn.k_proj.weight", {D, D}),
                  L.proj(lp + "attn.v_proj.weight", {D, D})},
                 L.proj(lp + "attn.out_proj.weight", {D, D}), {L.proj(lp + "mlp.fc_in.weight", {I, D})},
                 L.proj(lp + "mlp.fc_out.weight", {D, I}));
    w.layers.push_back(std::move(lw));
  }
  w.final_norm_w = L.get(p + "ln_f.weight", {D});
  w.final_norm_b = L.get(p + "ln_f.bias", {D});
  if (c.tie_word_embeddings) {
    w.lm_head_w = w.embed;
  } else {
    w.lm_head_w = L.get("lm_head.weight", {c.vocab, D});
  }
  w.lm_head_b = L.opt("lm_head.bias", {c.vocab});
}

void load_gpt_neox(const Loader& L, ModelWeights& w) {
  const ModelConfig& c = L.c;
  const int64_t D = c.hidden, I = c.intermediate, H = c.n_heads, hd = c.head_dim;
  const std::string p = L.src.detect_prefix({"gpt_neox.", ""}, "embed_in.weight");
  w.embed = L.get(p + "embed_in.weight", {c.vocab, D});
  for (int64_t i = 0; i < c.n_layers; ++i) {
    const std::string lp = p + "layers." + std::to_string(i) + ".";
    LayerWeights lw;
    lw.norm1_w = L.get(lp + "input_layernorm.weight", {D});
    lw.norm1_b = L.get(lp + "input_layernorm.bias", {D});
    lw.norm2_w = L.get(lp + "post_attention_layernorm.weight", {D});
    lw.norm2_b = L.get(lp + "post_attention_layernorm.bias", {D});
    // NeoX fuses q|k|v per head: rows [h][q k v][hd]. Regroup to q (all heads) | k | v.
    at::Tensor qkv = L.proj(lp + "attention.query_key_value.weight", {3 * D, D});
    const at::Tensor qkv_w = qkv.view({H, 3, hd, D}).transpose(0, 1).reshape({3 * D, D}).contiguous();
    if (c.qkv_bias) {
      at::Tensor b = L.get(lp + "attention.query_key_value.bias", {3 * D});
      lw.qkv_b = b.view({H, 3, hd}).transpose(0, 1).reshape({3 * D}).contiguous();
    }
    if (c.o_bias) lw.o_b = L.get(lp + "attention.dense.bias", {D});
    lw.up_b = L.get(lp + "mlp.dense_h_to_4h.bias", {I});
    lw.down_b = L.get(lp + "mlp.dense_4h_to_h.bias", {D});
    L.layer_done(i, lw, {qkv_w}, L.proj(lp + "attention.dense.weight", {D, D}),
                 {L.proj(lp + "mlp.dense_h_to_4h.weight", {I, D})}, L.proj(lp + "mlp.dense_4h_to_h.weight", {D, I}));
    w.layers.push_back(std::move(lw));
  }
  w.final_norm_w = L.get(p + "final_layer_norm.weight", {D});
  w.final_norm_b = L.get(p + "final_layer_norm.bias", {D});
  w.lm_head_w = c.tie_word_embeddings ? w.embed : L.get("embed_out.weight", {c.vocab, D});
}

// Weights the config does not use (a 4-layer config over 5 layers of weights, a renamed projection) are an error, as
// a missing tensor is: the model would run, wrongly. Buffers some checkpoints save and no forward reads are fine.
void check_all_used(const WeightSource& src, const std::filesystem::path& dir, const ModelConfig& cfg) {
  auto ignorable = [&](const std::string& n) {
    auto ends = [&](const std::string& suffix) {
      return n.size() >= suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    return ends("rotary_emb.inv_freq") || ends(".attn.bias") || ends(".attn.masked_bias") ||
           ends("attention.bias") || ends("attention.masked_bias") ||
           (cfg.tie_word_embeddings && (n == "lm_head.weight" || ends(".lm_head.weight")));
  };
  std::vector<std::string> extra;
  for (const auto& n : src.unused())
    if (!ignorable(n)) extra.push_back(n);
  if (extra.empty()) return;
  std::string list;
  for (size_t i = 0; i < extra.size() && i < 3; ++i) list += (i ? ", " : "") + std::string("\"") + extra[i] + "\"";
  if (extra.size() > 3) list += ", ...";
  throw Error(dir.string() + ": " + std::to_string(extra.size()) + " tensor(s) the config does not use (" + list +
              "); config.json says " + std::to_string(cfg.n_layers) + " layers of model_type \"" + cfg.model_type +
              "\": is it the config of these weights?");
}

}  // namespace

ModelWeights load_hf_weights(const std::filesystem::path& dir, const ModelConfig& cfg, at::ScalarType dtype,
                             at::Device dev, const LayerLoaded& on_layer, bool keep_16bit_projections, bool pack) {
  WeightSource src(dir);
  at::ScalarType proj_dt = dtype;
  if (keep_16bit_projections) {
    // A checkpoint stored all in bfloat16 (or all in float16) keeps that type for its projections.
    const std::set<at::ScalarType> types = src.dtypes();
    if (types.size() == 1 && (*types.begin() == at::kBFloat16 || *types.begin() == at::kHalf)) proj_dt = *types.begin();
  }
  Loader L{cfg, src, dtype, proj_dt, dev, on_layer, pack && dtype == at::kFloat && dev.is_cpu(), {}};
  ModelWeights w;
  if (cfg.model_type == "llama" || cfg.model_type == "mistral" || cfg.model_type == "qwen2") load_llama_family(L, w);
  else if (cfg.model_type == "gpt2") load_gpt2(L, w);
  else if (cfg.model_type == "gptj") load_gptj(L, w);
  else if (cfg.model_type == "gpt_neox") load_gpt_neox(L, w);
  else throw Error("no weight loader for model_type \"" + cfg.model_type + "\"");
  check_all_used(src, dir, cfg);
  return w;
}

}  // namespace hl::engine
