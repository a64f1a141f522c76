// The projections of a CPU float32 model, with their weights repacked once at load into 16-column panels and
// multiplied by our own register-tiled kernels (AVX-512 where the CPU has it, else AVX2). A BLAS call repacks the
// weight matrix on every call: at the few hundred rows of an interactive re-run or a profiler batch that packing
// and the thread hand-off around it cost 10-30 % of the product (bench/, README). Epilogues fold the bias, the
// residual add and the gated MLP's SiLU into the store of each tile, so those passes over memory disappear too.
// The packed layout replaces the row-major weight (no second copy of the model in memory).
#pragma once
#include <ATen/core/Tensor.h>

#include <string>

namespace hl::engine {

class PackedWeight {
 public:
  // Plain: y = x W^T. GatePairs: W = [gate (I rows); up (I rows)] of a gated MLP, packed so that each tile holds
  // 16 gate and the same 16 up units: the product ends as act(gate) * up without writing either.
  enum class Layout { Plain, GatePairs };

  // Whether weights on this device and dtype are packed: CPU float32 on a CPU with AVX2 and FMA.
  static bool applies(const at::Tensor& w);
  // w: [N, K] float32 on the CPU (N even for GatePairs). Throws hl::Error naming `what` otherwise.
  static PackedWeight pack(const at::Tensor& w, Layout layout, const std::string& what);

  int64_t out_features() const { return n_; }
  int64_t in_features() const { return k_; }
  Layout layout() const { return layout_; }
  int64_t numel() const { return n_ * k_; }
  // The [N, K] matrix back (tests; callers that need the row-major weight).
  at::Tensor unpack() const;

  // Panel p: [K][16] floats, 64-byte aligned; columns past the matrix are zero.
  const float* panel(int64_t p) const { return base_ + p * k_ * 16; }
  int64_t panels() const { return panels_; }

 private:
  at::Tensor buf_;
  const float* base_ = nullptr;
  int64_t n_ = 0, k_ = 0, panels_ = 0;
  Layout layout_ = Layout::Plain;
};

// x: [..., K] float32 on the CPU (last dim contiguous rows); b: [N] or undefined.
// y = x W^T + b, [..., N]. Plain layout only.
at::Tensor packed_linear(const at::Tensor& x, const PackedWeight& w, const at::Tensor& b);
// y += x W^T + b in place; y: [..., N] contiguous float32 with x's rows. Plain layout only.
void packed_linear_accumulate(const at::Tensor& x, const PackedWeight& w, const at::Tensor& b, at::Tensor& y);
// y = x W^T + b into an existing y of that shape (no allocation). Plain layout only.
void packed_linear_into(const at::Tensor& x, const PackedWeight& w, const at::Tensor& b, at::Tensor& y);
// residual + (x W^T + b), a new contiguous tensor of the residual's shape (float32 [..., N] with x's rows): the
// output projection and the residual add in one pass. Plain layout only.
at::Tensor packed_linear_residual(const at::Tensor& x, const PackedWeight& w, const at::Tensor& b,
                                  const at::Tensor& residual);
// silu(x G^T + b_g) * (x U^T + b_u), [..., I], for a GatePairs weight [G; U]; b: [2 I] (= [b_g; b_u]) or undefined.
at::Tensor packed_silu_gate(const at::Tensor& x, const PackedWeight& w, const at::Tensor& b);

// "avx512", "avx2" or "portable": the kernels packed products run on now.
const char* packed_kernels();

}  // namespace hl::engine
