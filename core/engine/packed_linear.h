// The projections of a CPU float32 model, with their weights repacked once at load into 16-column panels and
// multiplied by our own register-tiled kernels (AVX-512 where the CPU has it, else AVX2). A BLAS call repacks the
// weight matrix on every call: at the few hundred rows of an interactive re-run or a profiler batch that packing
// and the thread hand-off around it cost 10-30 % of the product (bench/, README). Epilogues fold the bias, the
// residual add and the gated MLP's SiLU into the store of each tile, so those passes over memory disappear too.
// The packed layout replaces the row-major weight (no second copy of the model in memory).
// Panels keep the weight's own type: float32, or bfloat16 / IEEE half, the type checkpoints ship in. 16-bit panels
// hold half the bytes (decode reads every weight once a token, so about half the time) and each weight is widened
// to float32 exactly before the same FMAs and epilogues: activations, sums and outputs stay float32, and a 16-bit
// product equals the float32 product of the rounded weights bit for bit.
#pragma once
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

namespace hl::engine {

class PackedWeight {
 public:
  // Plain: y = x W^T. GatePairs: W = [gate (I rows); up (I rows)] of a gated MLP, packed so that each tile holds
  // 16 gate and the same 16 up units: the product ends as act(gate) * up without writing either.
  // RopePairs: a fused QKV matrix whose first rope_features rows are heads of head_dim (a multiple of 32) that
  // rotary embedding rotates in halves (dims i and i + head_dim/2 pair up): each tile holds 16 dims of a head's
  // first half and the same 16 of its second half, so the product's epilogue can rotate them in registers. The
  // rows after rope_features (the values) stay in order. Any product of such a weight still writes its outputs
  // in the matrix's own order.
  enum class Layout { Plain, GatePairs, RopePairs };
  // The panels' element type (the packed tensor's dtype).
  enum class Storage { F32, BF16, F16 };

  // Whether weights on this device and dtype are packed: a 2-D CPU float32, bfloat16 or float16 tensor (on every
  // kernel family, the portable one included).
  static bool applies(const at::Tensor& w);
  // w: [N, K] float32, bfloat16 or float16 on the CPU (N even for GatePairs), packed in its own type. Throws
  // hl::Error naming `what` otherwise.
  static PackedWeight pack(const at::Tensor& w, Layout layout, const std::string& what, int64_t head_dim = 0,
                           int64_t rope_features = 0);
  // The same for W = the row blocks stacked in order (q | k | v, gate | up), all of one dtype and width: each
  // block is read where it lies (a loader passes views of the mapped checkpoint), never concatenated first.
  static PackedWeight pack(const std::vector<at::Tensor>& blocks, Layout layout, const std::string& what,
                           int64_t head_dim = 0, int64_t rope_features = 0);

  int64_t out_features() const { return n_; }
  int64_t in_features() const { return k_; }
  Layout layout() const { return layout_; }
  Storage storage() const { return storage_; }
  int64_t numel() const { return n_ * k_; }
  // Bytes the panels take (padding columns included).
  int64_t bytes() const { return panels_ * k_ * 16 * element_size(); }
  int64_t element_size() const { return storage_ == Storage::F32 ? 4 : 2; }
  // The [N, K] matrix back as float32 (exact for every storage; tests, callers that need the row-major weight).
  at::Tensor unpack() const;
  // Rows ids of the [N, K] matrix as float32 [ids..., K] (exact): a tied LM head, packed, serves the embedding
  // lookups. A Plain-layout float32 weight; throws hl::Error for an id outside [0, N).
  at::Tensor rows(const at::Tensor& ids) const;

  // Panel p: [K][16] elements of the storage type, 64-byte aligned; columns past the matrix are zero.
  const void* panel_data(int64_t p) const { return base_ + p * k_ * 16 * element_size(); }
  int64_t panels() const { return panels_; }
  // The first output feature (row of W) that panel p holds; its 16 columns are consecutive features (Plain and
  // RopePairs layouts).
  int64_t panel_feature(int64_t p) const;
  int64_t head_dim() const { return head_dim_; }
  int64_t rope_features() const { return rope_features_; }

 private:
  at::Tensor buf_;
  const unsigned char* base_ = nullptr;
  Storage storage_ = Storage::F32;
  int64_t n_ = 0, k_ = 0, panels_ = 0, head_dim_ = 0, rope_features_ = 0;
  Layout layout_ = Layout::Plain;
};

// x: [..., K] float32 on the CPU (last dim contiguous rows); b: [N] or undefined. These four take a Plain or a
// RopePairs weight (outputs in the matrix's order either way), not GatePairs.
// y = x W^T + b, [..., N].
at::Tensor packed_linear(const at::Tensor& x, const PackedWeight& w, const at::Tensor& b);
// y += x W^T + b in place; y: [..., N] contiguous float32 with x's rows.
void packed_linear_accumulate(const at::Tensor& x, const PackedWeight& w, const at::Tensor& b, at::Tensor& y);
// y = x W^T + b into an existing y of that shape (no allocation).
void packed_linear_into(const at::Tensor& x, const PackedWeight& w, const at::Tensor& b, at::Tensor& y);
// residual + (x W^T + b), a new contiguous tensor of the residual's shape (float32 [..., N] with x's rows): the
// output projection and the residual add in one pass.
at::Tensor packed_linear_residual(const at::Tensor& x, const PackedWeight& w, const at::Tensor& b,
                                  const at::Tensor& residual);
// The QKV projection of a RopePairs weight with rotary embedding (half style, all head dims rotated) and the KV-cache
// writes in its epilogue: x [B * T rows, D] (rows b * T + t), cos/sin [T, head_dim / 2] for positions pos0 + t.
// Returns the rotated queries times q_scale, [B, T, H, head_dim]; writes the rotated keys and the values into
// k_cache/v_cache [B, KVH, capacity, head_dim] at positions [pos0, pos0 + T). The same floats as packed_linear
// followed by fused_rope_to_cache (which it runs where the AVX-512 kernels are off).
at::Tensor packed_qkv_rope(const at::Tensor& x, const PackedWeight& w, const at::Tensor& b, const at::Tensor& cos,
                           const at::Tensor& sin, float q_scale, int64_t heads, int64_t kv_heads, at::Tensor& k_cache,
                           at::Tensor& v_cache, int64_t pos0);
// silu(x G^T + b_g) * (x U^T + b_u), [..., I], for a GatePairs weight [G; U]; b: [2 I] (= [b_g; b_u]) or undefined.
at::Tensor packed_silu_gate(const at::Tensor& x, const PackedWeight& w, const at::Tensor& b);

// "avx512", "avx2" or "portable": the kernel family packed products run on now (kernels::active_isa()).
const char* packed_kernels();
// "f32", "bf16" or "f16".
const char* storage_name(PackedWeight::Storage s);

}  // namespace hl::engine
