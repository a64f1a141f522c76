// Model loaders (internal to core/engine).
#pragma once
#include <ATen/ATen.h>

#include <filesystem>
#include <functional>

#include "core/engine/model.h"

namespace hl::engine {

// Called after each layer's weights are read (for load progress and cancellation: it may throw).
using LayerLoaded = std::function<void(int64_t layer)>;

// keep_16bit_projections: a checkpoint stored in bfloat16 or float16 keeps that type for the four projection
// matrices of each layer (for 16-bit packed panels); everything else, and other checkpoints, are read as dtype.
// pack: each layer's projections are packed as they are read (pack_layer), straight from the mapped file where
// the stored type is the panels' type, and their pages released: the model is never resident twice (row-major and
// packed, or map and copy) while it loads. So is an untied LM head stored in the projections' 16-bit type.
ModelWeights load_hf_weights(const std::filesystem::path& dir, const ModelConfig& cfg, at::ScalarType dtype,
                             at::Device dev, const LayerLoaded& on_layer = {}, bool keep_16bit_projections = false,
                             bool pack = false);

// Packs one layer's projections as Model::pack_weights does (the layouts its kernels expect for cfg), from row
// blocks: qkv = q | k | v (or one fused block), up = gate | up (or one block). Sets lw's *_p.
void pack_layer(const ModelConfig& cfg, int64_t layer, LayerWeights& lw, const std::vector<at::Tensor>& qkv,
                const at::Tensor& o, const std::vector<at::Tensor>& up, const at::Tensor& down);

// llama2.c checkpoint (v0 "legacy" format, as karpathy's stories*.bin): 7 int32 header fields, then fp32 weights.
// The q/k rows stay in llama2.c's interleaved-RoPE order; the returned config says RopeStyle::Interleaved.
std::pair<ModelConfig, ModelWeights> load_llama2c(const std::filesystem::path& file, at::ScalarType dtype, at::Device dev);

}  // namespace hl::engine
