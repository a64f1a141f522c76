// The model runtime: weights, one forward pass with per-(row, layer, head, key) attention bias and capture
// observers, KV cache. Every architecture in ModelConfig runs through the same forward; tensors are created
// on the model's device (CPU or CUDA).
#pragma once
#include <ATen/core/Tensor.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/steering/attention_bias.h"
#include "core/attention_observer.h"
#include "core/job.h"
#include "core/formats/model_config.h"
#include "core/tokenizers/tokenizer.h"

namespace hl {

namespace engine {
class PackedWeight;
}

struct LoadOptions {
  std::string device = "cpu";   // "cpu", "cuda", "cuda:1"
  // auto (default): compute in float32; a checkpoint stored in bf16 or f16 keeps that type for its packed
  // projections (16-bit panels, PackedWeight) where they are packed (CPU with AVX2/FMA), everything else float32.
  // f32: everything upcast to float32. bf16, f16: compute in that dtype (ATen; nothing is packed).
  std::string dtype = "auto";
  bool load_tokenizer = true;   // a missing tokenizer is not an error; tokenizer() is then null
  bool pack_weights = true;     // CPU float32: repack the projections for our kernels (Model::pack_weights)
  TokenizerOptions tokenizer;
  // Load progress (units: config, each layer's weights, each layer's packing, tokenizer) and cancellation, checked
  // between units: a set token makes load() throw hl::Cancelled and nothing of the half-loaded model remains.
  ProgressFn progress;
  const CancelToken* cancel = nullptr;
};

struct LayerWeights {
  at::Tensor norm1_w, norm1_b, norm2_w, norm2_b;
  at::Tensor qkv_w, qkv_b;  // [(H + 2 KVH) * hd, D]: rows q (all heads) | k | v
  at::Tensor o_w, o_b;      // [D, H * hd]
  at::Tensor up_w, up_b;    // gated: [2 I, D] = gate | up; plain: [I, D]
  at::Tensor down_w, down_b;
  // After Model::pack_weights: the four projection matrices in packed form; the row-major *_w above are then
  // released (undefined). PackedWeight::unpack() gives a matrix back.
  std::shared_ptr<const engine::PackedWeight> qkv_p, o_p, up_p, down_p;
};

struct ModelWeights {
  at::Tensor embed;      // [V, D]; undefined when a packed tied head holds it (lm_head_p->rows)
  at::Tensor pos_embed;  // [P, D] (learned positions) or undefined
  at::Tensor final_norm_w, final_norm_b;
  at::Tensor lm_head_w, lm_head_b;  // lm_head_w may alias embed (tied)
  // After Model::pack_weights: the LM head packed (float32; with 16-bit projections in their type, as decode reads
  // it whole every token); lm_head_w is then released.
  std::shared_ptr<const engine::PackedWeight> lm_head_p;
  std::vector<LayerWeights> layers;
};

// Keys and values of every layer, preallocated to a capacity. Layers keep their own length so that a forward
// resumed from layer l can rewrite layers >= l while layers < l keep their entries.
class KVCache {
 public:
  KVCache() = default;
  int64_t batch() const { return batch_; }
  int64_t capacity() const { return capacity_; }
  int64_t length(int64_t layer = 0) const { return len_.empty() ? 0 : len_[layer]; }
  // Drops entries past `len` in layers >= from_layer (e.g. to re-run a prompt from a cached layer).
  void truncate(int64_t len, int64_t from_layer = 0);
  at::Tensor keys(int64_t layer) const;    // [B, KVH, len, hd] view
  at::Tensor values(int64_t layer) const;  // [B, KVH, len, hd] view
  KVCache clone() const;
  // Copies positions [0, len) of layers [from_layer, to_layer) from `src` into this cache, in place, and sets those
  // layers' lengths to len. `src` has this cache's batch, or batch 1 (copied into every row); any capacity.
  void copy_prefix_from(const KVCache& src, int64_t len, int64_t from_layer, int64_t to_layer);

 private:
  friend class Model;
  int64_t batch_ = 0, capacity_ = 0;
  std::vector<at::Tensor> k_, v_;
  std::vector<int64_t> len_;
};

struct ForwardOptions {
  const AttentionBias* bias = nullptr;      // applied to every active (row, layer, head); its ablation too
  AttentionObserver* observer = nullptr;
  bool all_logits = false;                  // false: logits of the last position only
  bool keep_hidden = false;                 // fill ForwardResult::embeddings / layer_outputs / final_normed
  bool keep_layer_inputs = false;           // fill ForwardResult::layer_inputs (residual entering each layer)
  bool keep_head_means = false;             // fill ForwardResult::head_means (for mean ablation)
  // Resume: start at resume_layer with resume_hidden = the residual stream entering it ([B, T, D]); the cache
  // must hold layers < resume_layer for these positions already.
  int64_t resume_layer = 0;
  at::Tensor resume_hidden;
  // The tokens continue a prompt whose first positions are already in the cache (a prefill resumed at a
  // position > 0): the pass counts as prefill for ApplyAt::Prefill biases and observers, not as a decode step.
  bool continues_prompt = false;
  // Upper bound on the elements of one block of attention scores (B x H x rows x keys); 0 = default (32 M).
  // Long prompts are processed in blocks of query rows so that no full n x n score matrix per head exists.
  int64_t attention_block_elems = 0;
  // Checked before every layer: a set token makes forward() throw hl::Cancelled (a moved slider must not wait for
  // the stale re-prefill). The cache's layers from the resume layer up are then partly written: callers that keep a
  // cache across forwards (SteeringSession) rewrite those layers before reusing them.
  const CancelToken* cancel = nullptr;
};

struct ForwardResult {
  at::Tensor logits;                      // [B, T, V] (all_logits) or [B, 1, V], float32
  at::Tensor embeddings;                  // [B, T, D] (keep_hidden)
  std::vector<at::Tensor> layer_outputs;  // L x [B, T, D] residual after each block (keep_hidden)
  at::Tensor final_normed;                // [B, T, D] (keep_hidden)
  std::vector<at::Tensor> layer_inputs;   // L x [B, T, D] (keep_layer_inputs; layers < resume_layer undefined)
  // [B, L, H, hd] float32: each head's output (before the output projection, before any ablation) averaged over
  // this forward's T positions (keep_head_means; layers < resume_layer 0).
  at::Tensor head_means;
};

class Model {
 public:
  // `path`: an HF model directory (config.json + safetensors), a llama2.c .bin checkpoint, or a folder holding
  // exactly one of them (an `hf/` subfolder or a single .bin next to its tokenizer, as ../shared/models/stories260K).
  static std::unique_ptr<Model> load(const std::filesystem::path& path, const LoadOptions& opt = {});
  Model(ModelConfig cfg, ModelWeights w, at::Device device, at::ScalarType dtype);
  ~Model();

  const ModelConfig& config() const { return cfg_; }
  const ModelWeights& weights() const { return w_; }
  const Tokenizer* tokenizer() const { return tokenizer_.get(); }
  void set_tokenizer(std::unique_ptr<Tokenizer> t);
  // CPU float32 on a CPU with AVX2/FMA: repacks each layer's projections for the packed kernels
  // (engine/packed_linear.h) and releases the row-major matrices, one layer at a time. Elsewhere a no-op.
  // Model::load does it unless LoadOptions::pack_weights is false. Returns whether the weights are packed.
  // on_layer (optional) is called after each layer is packed (load progress; it may throw to cancel).
  bool pack_weights(const std::function<void(int64_t layer)>& on_layer = {});
  bool weights_packed() const;
  at::Device device() const { return device_; }
  at::ScalarType dtype() const { return dtype_; }
  // The projections' storage: "bf16"/"f16" (16-bit packed panels), else the compute dtype's name ("f32", ...).
  std::string weight_storage() const;
  // Bytes of the four projections of every layer, and of the LM head when it is packed, as stored.
  int64_t projection_bytes() const;
  const std::filesystem::path& source() const { return source_; }
  int64_t param_count() const;

  KVCache new_cache(int64_t batch, int64_t capacity) const;
  // ids: [B, T] int64 on any device. Positions continue from cache.length(resume_layer).
  ForwardResult forward(const at::Tensor& ids, KVCache& cache, const ForwardOptions& opt = {}) const;
  // Rotary inverse frequencies as used (for parity checks); undefined for learned positions.
  at::Tensor rope_inv_freq() const;

 private:
  ModelConfig cfg_;
  ModelWeights w_;
  at::Device device_;
  at::ScalarType dtype_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::filesystem::path source_;
  at::Tensor inv_freq_;  // [rotary_dim / 2] float32 on device
};

// Rotary inverse frequencies of a config (float32 on `dev`, [rotary_dim / 2]) as HF computes them, with the
// config's rope scaling (linear or llama3) applied; undefined without rotary positions. Training code that must
// match the engine (the model organism) computes its frequencies here too.
at::Tensor rope_inv_freq(const ModelConfig& c, at::Device dev);

// Sets the intra-op thread count (0 = hardware concurrency). Debian's libtorch defaults to 1.
void set_compute_threads(int n);
// Distinct threads one of the engine's own parallel loops (at::parallel_for in hl_core) actually runs on: the
// intra-op thread count when hl_core is built with OpenMP, 1 if the loops were compiled serial.
int parallel_loop_threads();
// "openblas", "mkl", "reference blas", ... as far as the process can tell.
std::string blas_backend();

}  // namespace hl
