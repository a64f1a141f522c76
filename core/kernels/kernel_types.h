// The types the CPU kernels share with their callers: the packed products' panel layout and epilogues, the rotary
// epilogue's destinations, a head-statistics row, and the signature of every entry of the dispatch table
// (cpu_features.h). Plain C++: no intrinsics, no ATen.
#pragma once
#include <cstdint>

namespace hl::kernels {

// ---------------------------------------------------------------------------------------------- packed products

constexpr int64_t kPanel = 16;      // columns per panel
constexpr int64_t kTile = 2;        // panels per tile: 32 columns, or 16 gate + 16 up units
constexpr int64_t kTileCols = kPanel * kTile;
constexpr int64_t kRowBlock = 256;  // rows per work item: a thread takes a weight tile for all rows of up to 256

enum class Epilogue { Store, Accumulate, Residual, SiluGate, QkvRope };

// The element type of a packed weight's panels.
enum class PanelType { F32, BF16, F16 };

// Panel element types besides float: the 16 bits of a bfloat16 or of an IEEE half. Both widen to float exactly, so
// a product over such a panel is the float32 product of the rounded weights, bit for bit (same FMAs, same order).
struct Bf16 {
  uint16_t bits;
};
struct F16 {
  uint16_t bits;
};

// Where the QKV product with rotary embedding writes (packed_qkv_rope): rows m = b * T + t of the product.
struct RopeOut {
  const float* cos = nullptr;  // [T, half]
  const float* sin = nullptr;
  int64_t half = 0, T = 0, pos0 = 0, hd = 0;
  int64_t q_features = 0, k_end = 0;  // features [0, q_features) are queries, [q_features, k_end) keys, then values
  float q_scale = 1.0f;
  float* q = nullptr;   // [rows, q_features]
  float* kc = nullptr;  // [B, KVH, capacity, hd] with these strides
  float* vc = nullptr;
  int64_t kc0 = 0, kc1 = 0, kc2 = 0, vc0 = 0, vc1 = 0, vc2 = 0;
};

// An AVX-512 register tile of a packed product with its epilogue (B: the tile's first panel; pstride: elements from
// one panel to the next). See packed_tiles_avx512.h.
using PackedTile = void (*)(const float* A, int64_t lda, const void* B, int64_t pstride, int64_t K, float* C,
                            int64_t ldc, const float* bias0, const float* bias1, int64_t cols, const float* R);
// The same with the rotary epilogue: rows [m0, m0 + mr) of a RopePairs tile whose panels hold features f0.., f1...
using RopeTile = void (*)(const float* A, int64_t lda, const void* B, int64_t pstride, int64_t K, const RopeOut& ro,
                          int64_t m0, int64_t f0, int64_t f1, const float* bias0, const float* bias1);

// ---------------------------------------------------------------------------------------------- head statistics

// Per-row quantities of one attention row (span mass sum_j p_j m_j, max p, entropy max s - log(max p) - sum p s,
// and p_0).
struct RowStats {
  float span, max_p, entropy, sink;
};

// Small-batch linear rows: rows [o0, o1) of y[r, o] = sum_i w[o, i] x[r, i] for R = 1..8 rows of x.
constexpr int kSmallLinearMaxRows = 8;

// ---------------------------------------------------------------------------------------------- table signatures

// C[r][0, cols) = sum over k < K of A[r * lda + k] * B[k * ldb + c], r < m (1..6), a tile of `width` = 8 or 16 columns
// (any width <= 16 on the portable path).
using GemmTileFn = void (*)(int64_t m, int64_t width, const float* A, int64_t lda, const float* B, int64_t ldb,
                            int64_t K, float* C, int64_t ldc, int64_t cols);
// dst[i] = the float value of the 16-bit src[i] (bfloat16 if bf16, else IEEE half), exactly, i < n.
using Widen16Fn = void (*)(bool bf16, const uint16_t* src, float* dst, int64_t n);
// The AVX-512 tile for panels of `type`, epilogue e, np panels (1 or 2) and mr rows (1..8).
using PackedTileFor = PackedTile (*)(PanelType type, Epilogue e, int64_t np, int64_t mr);
using RopeTileFor = RopeTile (*)(PanelType type, int64_t mr);
// p[k] = exp(s[k] - max) / sum over [lo, hi); p = 0 elsewhere in [0, n). p may equal s.
using SoftmaxRowFn = void (*)(const float* s, float* p, int64_t n, int64_t lo, int64_t hi);
// out[i] = silu(g[i]) * u[i], i < n.
using SiluMulFn = void (*)(const float* g, const float* u, float* out, int64_t n);
// yr = wp * xr / sqrt(mean(xr^2) + eps), D values (HF's RMSNorm in float32, the sum of squares in double).
using RmsNormRowFn = void (*)(const float* xr, const float* wp, float* yr, int64_t D, float eps);
// y = rotate(x) * scale for one head of hd values: the first 2 half dims rotated by (c, s) (halves pair dims i and
// i + half; interleaved pairs 2i and 2i + 1), the rest only scaled.
using RotateHeadFn = void (*)(const float* x, float* y, const float* c, const float* s, int64_t half, int64_t hd,
                              bool interleaved, float scale);
// The attention's products: C[r][0, n) = sum over k < K of A[r * lda + k] * B[k * ldb + c], r < m (1..6).
// attn_scores may read B up to the next multiple of 16 columns (the transposed keys are padded); attn_values reads
// only n columns (value rows).
using AttnProductFn = void (*)(int64_t m, int64_t n, const float* A, int64_t lda, const float* B, int64_t ldb,
                               int64_t K, float* C, int64_t ldc);
using DotFn = float (*)(const float* a, const float* b, int64_t n);
// y += alpha * x
using AxpyFn = void (*)(float alpha, const float* x, float* y, int64_t n);
using SmallLinearRowsFn = void (*)(const float* w, const float* x, float* y, int64_t o0, int64_t o1, int64_t in,
                                   int64_t out);
// One row's statistics over n keys (probabilities p, biased scores s, span mask m); adds p into `received`.
using HeadStatsRowFn = RowStats (*)(const float* p, const float* s, const float* m, int64_t n, float* received);

}  // namespace hl::kernels
