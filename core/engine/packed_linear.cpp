#include "core/engine/packed_linear.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "core/engine/fused_ops.h"
#include "core/engine/simd_math.h"
#include "core/error.h"

namespace hl::engine {
namespace {

constexpr int64_t kPanel = 16;     // columns per panel
constexpr int64_t kTile = 2;       // panels per tile: 32 columns, or 16 gate + 16 up units
constexpr int64_t kTileCols = kPanel * kTile;
constexpr int64_t kRowBlock = 256;  // rows per work item: a thread takes a weight tile for all rows of up to 256 (see run)

enum class Epilogue { Store, Accumulate, Residual, SiluGate, QkvRope };

#if defined(__x86_64__)
// c[i][j] = sum over k < K of A[i * lda + k] * panel j (B + j * pstride, [K][16]): the inner loop every AVX-512
// tile shares, inlined into each, where its constant bounds unroll fully and the accumulators stay in registers.
template <int MR, int NP>
__attribute__((target("avx512f"), always_inline)) inline void accumulate_avx512(const float* A, int64_t lda,
                                                                              const float* B, int64_t pstride,
                                                                              int64_t K, __m512 (&c)[MR][NP]) {
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NP; ++j) c[i][j] = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    __m512 b[NP];
    for (int j = 0; j < NP; ++j) b[j] = _mm512_load_ps(B + j * pstride + kPanel * k);
    for (int i = 0; i < MR; ++i) {
      const __m512 a = _mm512_set1_ps(A[i * lda + k]);
      for (int j = 0; j < NP; ++j) c[i][j] = _mm512_fmadd_ps(a, b[j], c[i][j]);
    }
  }
}

// MR rows x NP panels of 16 columns in zmm registers (MR * NP <= 16 accumulators of the 32 registers), and the
// epilogue in registers on the way out, for columns c < cols (masked loads and stores past them):
//   Store:      C[i][c] = sum (+ bias0[c]);   Accumulate: C[i][c] += sum (+ bias0[c])   (0 < cols <= 16 NP)
//   Residual:   C[i][c] = R[i][c] + (sum (+ bias0[c])), R laid out as C (ldc floats a row)
//   SiluGate:   C[i][c] = silu(gate + bias0[c]) * (up + bias1[c]), gate in panel 0, up in panel 1 (cols units).
// The loops have constant bounds and unroll fully, so the accumulators stay in registers.
template <int MR, int NP, Epilogue E>
__attribute__((target("avx512f"))) void tile_avx512(const float* A, int64_t lda, const float* B, int64_t pstride,
                                                     int64_t K, float* C, int64_t ldc, const float* bias0,
                                                     const float* bias1, int64_t cols, const float* R) {
  static_assert(E != Epilogue::SiluGate || NP == 2, "the gated epilogue takes a gate panel and an up panel");
  __m512 c[MR][NP];
  accumulate_avx512<MR, NP>(A, lda, B, pstride, K, c);
  auto mask = [](int64_t n) {
    return n >= kPanel ? static_cast<__mmask16>(0xFFFF) : n <= 0 ? static_cast<__mmask16>(0)
                                                              : static_cast<__mmask16>((1u << n) - 1u);
  };
  if constexpr (E == Epilogue::SiluGate) {
    const __mmask16 m = mask(cols);
    const __m512 bg = bias0 ? _mm512_maskz_loadu_ps(m, bias0) : _mm512_setzero_ps();
    const __m512 bu = bias0 ? _mm512_maskz_loadu_ps(m, bias1) : _mm512_setzero_ps();
    for (int i = 0; i < MR; ++i) {
      const __m512 g = bias0 ? _mm512_add_ps(c[i][0], bg) : c[i][0];
      const __m512 u = bias0 ? _mm512_add_ps(c[i][1], bu) : c[i][1];
      _mm512_mask_storeu_ps(C + i * ldc, m, silu_mul_avx512(g, u));
    }
  } else {
    __mmask16 m[NP];
    __m512 bv[NP];
    for (int j = 0; j < NP; ++j) {
      m[j] = mask(cols - kPanel * j);
      bv[j] = bias0 ? _mm512_maskz_loadu_ps(m[j], bias0 + kPanel * j) : _mm512_setzero_ps();
    }
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < NP; ++j) {
        float* o = C + i * ldc + kPanel * j;
        const __m512 v = bias0 ? _mm512_add_ps(c[i][j], bv[j]) : c[i][j];
        if constexpr (E == Epilogue::Accumulate) {
          _mm512_mask_storeu_ps(o, m[j], _mm512_add_ps(_mm512_maskz_loadu_ps(m[j], o), v));
        } else if constexpr (E == Epilogue::Residual) {
          const float* r = R + i * ldc + kPanel * j;
          _mm512_mask_storeu_ps(o, m[j], _mm512_add_ps(_mm512_maskz_loadu_ps(m[j], r), v));
        } else {
          _mm512_mask_storeu_ps(o, m[j], v);
        }
      }
  }
}

using Tile512 = void (*)(const float* A, int64_t lda, const float* B, int64_t pstride, int64_t K, float* C,
                         int64_t ldc, const float* bias0, const float* bias1, int64_t cols, const float* R);

template <int NP, Epilogue E>
Tile512 avx512_rows(int64_t mr) {
  switch (mr) {
    case 1: return tile_avx512<1, NP, E>;
    case 2: return tile_avx512<2, NP, E>;
    case 3: return tile_avx512<3, NP, E>;
    case 4: return tile_avx512<4, NP, E>;
    case 5: return tile_avx512<5, NP, E>;
    case 6: return tile_avx512<6, NP, E>;
    case 7: return tile_avx512<7, NP, E>;
    default: return tile_avx512<8, NP, E>;
  }
}

Tile512 avx512_tile(Epilogue e, int64_t np, int64_t mr) {
  switch (e) {
    case Epilogue::Store: return np == 2 ? avx512_rows<2, Epilogue::Store>(mr) : avx512_rows<1, Epilogue::Store>(mr);
    case Epilogue::Accumulate:
      return np == 2 ? avx512_rows<2, Epilogue::Accumulate>(mr) : avx512_rows<1, Epilogue::Accumulate>(mr);
    case Epilogue::Residual:
      return np == 2 ? avx512_rows<2, Epilogue::Residual>(mr) : avx512_rows<1, Epilogue::Residual>(mr);
    case Epilogue::QkvRope: throw Error("packed product: the rotary epilogue has its own tile");
    case Epilogue::SiluGate: break;
  }
  return avx512_rows<2, Epilogue::SiluGate>(mr);
}
#endif

// Where the QKV product with rotary embedding writes (packed_qkv_rope): rows m = b * T + t of the product.
struct RopeOut {
  const float* cos = nullptr;  // [T, half]
  const float* sin = nullptr;
  int64_t half = 0, T = 0, pos0 = 0, hd = 0;
  int64_t q_features = 0, k_end = 0;  // features [0, q_features) are queries, [q_features, k_end) keys, then values
  float q_scale = 1.0f;
  float* q = nullptr;  // [rows, q_features]
  float* kc = nullptr;  // [B, KVH, capacity, hd] with these strides
  float* vc = nullptr;
  int64_t kc0 = 0, kc1 = 0, kc2 = 0, vc0 = 0, vc1 = 0, vc2 = 0;
};

#if defined(__x86_64__)
// A RopePairs tile of rows [m0, m0 + MR): panel 0 holds features f0.. (a head's first rotary half, or 16 values),
// panel 1 features f1.. (the same dims of the second half, or the next 16 values). Queries and keys are rotated in
// registers (x1 c - x2 s, x2 c + x1 s: multiplications and additions as written, no fused multiply-add, as
// fused_rope_to_cache computes them), queries scaled; keys and values go to their cache rows. No fp contraction:
// the same floats as the product followed by the rotation pass.
template <int MR>
__attribute__((target("avx512f"), optimize("fp-contract=off"))) void tile_rope_avx512(
    const float* A, int64_t lda, const float* B, int64_t pstride, int64_t K, const RopeOut& ro, int64_t m0,
    int64_t f0, int64_t f1, const float* bias0, const float* bias1) {
  __m512 c[MR][2];
  accumulate_avx512<MR, 2>(A, lda, B, pstride, K, c);
  const __m512 bv0 = bias0 ? _mm512_loadu_ps(bias0) : _mm512_setzero_ps();
  const __m512 bv1 = bias1 ? _mm512_loadu_ps(bias1) : _mm512_setzero_ps();
  const bool value = f0 >= ro.k_end, query = f0 < ro.q_features;
  const int64_t g = value ? f0 - ro.k_end : query ? f0 : f0 - ro.q_features;  // feature within its part
  const int64_t head = g / ro.hd, d0 = g % ro.hd, d1 = d0 + (f1 - f0);
  for (int i = 0; i < MR; ++i) {
    const int64_t m = m0 + i, b = m / ro.T, t = m % ro.T;
    const __m512 x1 = bias0 ? _mm512_add_ps(c[i][0], bv0) : c[i][0];
    const __m512 x2 = bias0 ? _mm512_add_ps(c[i][1], bv1) : c[i][1];
    if (value) {
      float* dst = ro.vc + b * ro.vc0 + head * ro.vc1 + (ro.pos0 + t) * ro.vc2;
      _mm512_storeu_ps(dst + d0, x1);
      _mm512_storeu_ps(dst + d1, x2);
      continue;
    }
    const __m512 cs = _mm512_loadu_ps(ro.cos + t * ro.half + d0), sn = _mm512_loadu_ps(ro.sin + t * ro.half + d0);
    __m512 y1 = _mm512_sub_ps(_mm512_mul_ps(x1, cs), _mm512_mul_ps(x2, sn));
    __m512 y2 = _mm512_add_ps(_mm512_mul_ps(x2, cs), _mm512_mul_ps(x1, sn));
    if (query) {
      const __m512 sc = _mm512_set1_ps(ro.q_scale);
      _mm512_storeu_ps(ro.q + m * ro.q_features + f0, _mm512_mul_ps(y1, sc));
      _mm512_storeu_ps(ro.q + m * ro.q_features + f1, _mm512_mul_ps(y2, sc));
    } else {
      float* dst = ro.kc + b * ro.kc0 + head * ro.kc1 + (ro.pos0 + t) * ro.kc2;
      _mm512_storeu_ps(dst + d0, y1);
      _mm512_storeu_ps(dst + d1, y2);
    }
  }
}

using TileRope = void (*)(const float*, int64_t, const float*, int64_t, int64_t, const RopeOut&, int64_t, int64_t,
                          int64_t, const float*, const float*);

TileRope rope_tile(int64_t mr) {
  switch (mr) {
    case 1: return tile_rope_avx512<1>;
    case 2: return tile_rope_avx512<2>;
    case 3: return tile_rope_avx512<3>;
    case 4: return tile_rope_avx512<4>;
    case 5: return tile_rope_avx512<5>;
    case 6: return tile_rope_avx512<6>;
    case 7: return tile_rope_avx512<7>;
    default: return tile_rope_avx512<8>;
  }
}
#endif

struct Product {
  const float* x = nullptr;
  int64_t rows = 0, ldx = 0;
  const PackedWeight* w = nullptr;
  const float* bias = nullptr;
  float* out = nullptr;
  int64_t ldo = 0;
  const float* residual = nullptr;  // Residual: out = residual + product (laid out as out)
  const RopeOut* rope = nullptr;    // QkvRope
  Epilogue epilogue = Epilogue::Store;
};

// Writes tile t of rows [m0, m0 + mr) from the sums in T.
void finish_tile(const Product& p, const float* T, int64_t t, int64_t m0, int64_t mr) {
  const PackedWeight& w = *p.w;
  if (p.epilogue == Epilogue::SiluGate) {
    // All rows of the tile in one call (16 units a row, padding units included: every unit takes the same
    // vector path whatever the number of rows).
    const int64_t I = w.out_features() / 2, u0 = t * kPanel, units = std::min(kPanel, I - u0);
    alignas(64) float g[8 * kPanel] = {}, u[8 * kPanel] = {}, h[8 * kPanel];
    for (int64_t r = 0; r < mr; ++r) {
      const float* tr = T + r * kTileCols;
      for (int64_t c = 0; c < kPanel; ++c) {
        const bool b = p.bias && c < units;
        g[r * kPanel + c] = b ? tr[c] + p.bias[u0 + c] : tr[c];
        u[r * kPanel + c] = b ? tr[kPanel + c] + p.bias[I + u0 + c] : tr[kPanel + c];
      }
    }
    silu_mul(g, u, h, mr * kPanel);
    for (int64_t r = 0; r < mr; ++r) std::copy_n(h + r * kPanel, units, p.out + (m0 + r) * p.ldo + u0);
    return;
  }
  // Panel by panel: each holds 16 consecutive features (panel_feature; for a Plain weight the two panels of a tile
  // are consecutive too).
  const int64_t np = std::min(kTile, w.panels() - t * kTile);
  for (int64_t j = 0; j < np; ++j) {
    const int64_t n0 = w.panel_feature(t * kTile + j), cols = std::min(kPanel, w.out_features() - n0);
    const float* b = p.bias ? p.bias + n0 : nullptr;
    for (int64_t r = 0; r < mr; ++r) {
      const float* tr = T + r * kTileCols + j * kPanel;
      float* o = p.out + (m0 + r) * p.ldo + n0;
      if (p.epilogue == Epilogue::Residual) {
        const float* res = p.residual + (m0 + r) * p.ldo + n0;
        if (b) {
          for (int64_t c = 0; c < cols; ++c) o[c] = res[c] + (tr[c] + b[c]);
        } else {
          for (int64_t c = 0; c < cols; ++c) o[c] = res[c] + tr[c];
        }
      } else if (p.epilogue == Epilogue::Accumulate) {
        if (b) {
          for (int64_t c = 0; c < cols; ++c) o[c] += tr[c] + b[c];
        } else {
          for (int64_t c = 0; c < cols; ++c) o[c] += tr[c];
        }
      } else if (b) {
        for (int64_t c = 0; c < cols; ++c) o[c] = tr[c] + b[c];
      } else {
        std::copy_n(tr, cols, o);
      }
    }
  }
}

// Item `item` of the product: weight tile item / row_blocks over row block item % row_blocks.
void run_item(const Product& p, int64_t item, int64_t row_blocks, bool z, int64_t mr_max, float* T) {
  const PackedWeight& w = *p.w;
  const int64_t K = w.in_features(), t = item / row_blocks, rb = item % row_blocks;
  const int64_t np = std::min(kTile, w.panels() - t * kTile);
  const float* B = w.panel(t * kTile);
  const int64_t m_end = std::min(p.rows, (rb + 1) * kRowBlock);
  // fn(m0, mr) for the row block's register tiles of up to mr_max rows.
  auto each_tile = [&](const auto& fn) {
    for (int64_t m0 = rb * kRowBlock; m0 < m_end; m0 += mr_max) fn(m0, std::min(mr_max, m_end - m0));
  };
#if defined(__x86_64__)
  if (z && p.epilogue == Epilogue::QkvRope) {
    const int64_t f0 = w.panel_feature(t * kTile), f1 = w.panel_feature(t * kTile + 1);
    const float* b0 = p.bias ? p.bias + f0 : nullptr;
    const float* b1 = p.bias ? p.bias + f1 : nullptr;
    each_tile([&](int64_t m0, int64_t mr) {
      rope_tile(mr)(p.x + m0 * p.ldx, p.ldx, B, K * kPanel, K, *p.rope, m0, f0, f1, b0, b1);
    });
    return;
  }
  if (z) {  // AVX-512: the epilogue runs in registers, straight into the output
    const bool gated = p.epilogue == Epilogue::SiluGate;
    const int64_t I = w.out_features() / 2;
    // Output features of the tile's panels: gate/up units, or (Plain, RopePairs) each panel's 16 features; panels
    // that are not consecutive features (a RopePairs weight's rotary halves) go one at a time.
    const int64_t f0 = gated ? t * kPanel : w.panel_feature(t * kTile);
    const bool together = gated || np == 1 || w.panel_feature(t * kTile + 1) == f0 + kPanel;
    for (int64_t j = 0; j < (together ? 1 : np); ++j) {
      const int64_t n0 = gated || together ? f0 : w.panel_feature(t * kTile + j);
      const int64_t panels = together ? np : 1;
      const int64_t cols = gated ? std::min(kPanel, I - n0) : std::min(kPanel * panels, w.out_features() - n0);
      const float* b0 = p.bias ? p.bias + n0 : nullptr;
      const float* b1 = p.bias && gated ? p.bias + I + n0 : nullptr;
      each_tile([&](int64_t m0, int64_t mr) {
        avx512_tile(p.epilogue, panels, mr)(p.x + m0 * p.ldx, p.ldx, B + j * K * kPanel, K * kPanel, K,
                                            p.out + m0 * p.ldo + n0, p.ldo, b0, b1, cols,
                                            p.residual ? p.residual + m0 * p.ldo + n0 : nullptr);
      });
    }
    return;
  }
#endif
  if (p.epilogue == Epilogue::QkvRope) throw Error("packed QKV with rotary embedding: AVX-512 only");
  // A whole tile with nothing to add goes straight to the output; the rest through T and the epilogue.
  const bool direct = p.epilogue == Epilogue::Store && !p.bias && w.layout() == PackedWeight::Layout::Plain &&
                      (t + 1) * kTileCols <= w.out_features();
  const int64_t ldd = direct ? p.ldo : kTileCols;
  each_tile([&](int64_t m0, int64_t mr) {
    const float* A = p.x + m0 * p.ldx;
    float* dst = direct ? p.out + m0 * p.ldo + t * kTileCols : T;
    for (int64_t j = 0; j < np; ++j)
      gemm_tile(mr, kPanel, A, p.ldx, B + j * K * kPanel, kPanel, K, dst + j * kPanel, ldd, kPanel);
    if (!direct) finish_tile(p, T, t, m0, mr);
  });
}

void run(const Product& p) {
  const int64_t tiles = (p.w->panels() + kTile - 1) / kTile, M = p.rows;
  if (M == 0 || tiles == 0) return;
  const bool z = avx512_kernels_on();
  // Up to 8 rows (decode steps, small batches) form one tile, so the weights stream once; more rows go in
  // groups of 6 (12 accumulators; the AVX2 tile holds at most 6 rows).
  const int64_t mr_max = z && M <= 8 ? M : 6;
  const int64_t row_blocks = (M + kRowBlock - 1) / kRowBlock, items = tiles * row_blocks;
  // Threads take chunks of consecutive items (a chunk's items mostly share their weight tile) from a counter: a
  // static split waits for whichever core the VM or a neighbour slowed down. Chunks shrink as the items run out
  // (a quarter of what is left per thread, at least one item), so the threads finish within about one item of
  // each other instead of one large chunk. An item spans up to 256 rows: at the few hundred rows of an
  // interactive re-run a weight tile then goes to one thread whole. With items of 48 rows the last chunks split
  // tiles between the threads, each fetching the tile from memory, which cost more (the re-run 2 % slower,
  // prefill a few per cent) than the coarser finish.
  const int64_t threads = at::get_num_threads();
  std::atomic<int64_t> next{0};
  at::parallel_for(0, threads, 1, [&](int64_t, int64_t) {
    alignas(64) float T[8 * kTileCols];
    int64_t i0 = next.load(std::memory_order_relaxed);
    while (i0 < items) {
      const int64_t chunk = std::max<int64_t>(1, (items - i0) / (4 * threads));
      if (!next.compare_exchange_weak(i0, i0 + chunk)) continue;  // i0 now holds the counter's value
      for (int64_t item = i0; item < std::min(items, i0 + chunk); ++item) run_item(p, item, row_blocks, z, mr_max, T);
      i0 = next.load(std::memory_order_relaxed);
    }
  });
}

// x as [rows, K] with unit stride along K.
at::Tensor as_rows(const at::Tensor& x, const PackedWeight& w, const char* op) {
  if (!x.device().is_cpu() || x.scalar_type() != at::kFloat)
    throw Error(std::string(op) + ": input must be float32 on the CPU");
  if (x.dim() < 1 || x.size(-1) != w.in_features())
    throw Error(std::string(op) + ": input has " + (x.dim() < 1 ? std::string("no") : std::to_string(x.size(-1))) +
                " features, the weight takes " + std::to_string(w.in_features()));
  at::Tensor r = x.reshape({-1, w.in_features()});
  return r.stride(1) == 1 && r.stride(0) >= w.in_features() ? r : r.contiguous();
}

const float* bias_ptr(const at::Tensor& b, int64_t n, const char* op) {
  if (!b.defined()) return nullptr;
  if (!b.device().is_cpu() || b.scalar_type() != at::kFloat || !b.is_contiguous() || b.numel() != n)
    throw Error(std::string(op) + ": bias must be " + std::to_string(n) + " float32 values on the CPU");
  return b.data_ptr<float>();
}

std::vector<int64_t> out_shape(const at::Tensor& x, int64_t n) {
  std::vector<int64_t> s(x.sizes().begin(), x.sizes().end());
  s.back() = n;
  return s;
}

// Row of the [N, K] matrix that column c of panel p holds, or -1 for padding.
int64_t source_row(const PackedWeight& w, int64_t p, int64_t c) {
  if (w.layout() == PackedWeight::Layout::GatePairs) {
    const int64_t I = w.out_features() / 2, unit = (p / 2) * kPanel + c;
    if (unit >= I) return -1;
    return p % 2 == 0 ? unit : I + unit;
  }
  const int64_t row = w.panel_feature(p) + c;
  return row < w.out_features() ? row : -1;
}

}  // namespace

bool PackedWeight::applies(const at::Tensor& w) {
  return w.defined() && w.device().is_cpu() && w.scalar_type() == at::kFloat && w.dim() == 2 && vector_kernels_on();
}

int64_t PackedWeight::panel_feature(int64_t p) const {
  if (layout_ == Layout::RopePairs && p * kPanel < rope_features_) {
    // Within a head's panels: even ones take the first half's 16-dim blocks in order, odd ones the second half's.
    const int64_t per_head = head_dim_ / kPanel, head = p / per_head, local = p % per_head, j = local / 2;
    return head * head_dim_ + (local % 2 == 0 ? 0 : head_dim_ / 2) + j * kPanel;
  }
  return p * kPanel;
}

PackedWeight PackedWeight::pack(const at::Tensor& w_in, Layout layout, const std::string& what, int64_t head_dim,
                                int64_t rope_features) {
  if (!w_in.defined() || w_in.dim() != 2 || !w_in.device().is_cpu() || w_in.scalar_type() != at::kFloat)
    throw Error("packing " + what + ": expected a 2-D float32 CPU tensor");
  if (w_in.size(0) < 1 || w_in.size(1) < 1) throw Error("packing " + what + ": empty matrix");
  if (layout == Layout::GatePairs && w_in.size(0) % 2 != 0)
    throw Error("packing " + what + ": a gate/up matrix needs an even number of rows, got " +
                std::to_string(w_in.size(0)));
  if (layout == Layout::RopePairs &&
      (head_dim <= 0 || head_dim % (2 * kPanel) != 0 || rope_features <= 0 || rope_features % head_dim != 0 ||
       rope_features > w_in.size(0) || w_in.size(0) % (2 * kPanel) != 0))
    throw Error("packing " + what + ": rotary pairs need a head size that is a multiple of 32 (got " +
                std::to_string(head_dim) + "), whole heads of rotated rows (" + std::to_string(rope_features) +
                ") and a multiple of 32 rows (" + std::to_string(w_in.size(0)) + ")");
  const at::Tensor w = w_in.contiguous();
  PackedWeight pw;
  pw.n_ = w.size(0);
  pw.k_ = w.size(1);
  pw.layout_ = layout;
  if (layout == Layout::RopePairs) {
    pw.head_dim_ = head_dim;
    pw.rope_features_ = rope_features;
  }
  pw.panels_ = layout == Layout::GatePairs ? 2 * ((pw.n_ / 2 + kPanel - 1) / kPanel) : (pw.n_ + kPanel - 1) / kPanel;
  // 64-byte aligned panels (aligned zmm loads); 16 spare floats for the alignment offset.
  pw.buf_ = at::zeros({pw.panels_ * pw.k_ * kPanel + kPanel}, at::kFloat);
  const auto addr = reinterpret_cast<uintptr_t>(pw.buf_.data_ptr<float>());
  auto* base = reinterpret_cast<float*>((addr + 63) & ~uintptr_t{63});
  pw.base_ = base;
  const float* src = w.data_ptr<float>();
  const int64_t K = pw.k_;
  at::parallel_for(0, pw.panels_, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      float* dst = base + p * K * kPanel;
      for (int64_t c = 0; c < kPanel; ++c) {
        const int64_t row = source_row(pw, p, c);
        if (row < 0) continue;
        const float* s = src + row * K;
        for (int64_t k = 0; k < K; ++k) dst[k * kPanel + c] = s[k];
      }
    }
  });
  return pw;
}

at::Tensor PackedWeight::unpack() const {
  at::Tensor w = at::empty({n_, k_}, at::kFloat);
  float* dst = w.data_ptr<float>();
  for (int64_t p = 0; p < panels_; ++p)
    for (int64_t c = 0; c < kPanel; ++c) {
      const int64_t row = source_row(*this, p, c);
      if (row < 0) continue;
      for (int64_t k = 0; k < k_; ++k) dst[row * k_ + k] = panel(p)[k * kPanel + c];
    }
  return w;
}

namespace {

// x as rows (validated by as_rows), w of the epilogue's layout: out (ldo floats a row) = epilogue(x W^T + b).
void multiply(const at::Tensor& x, const PackedWeight& w, const at::Tensor& b, Epilogue epilogue, float* out,
              int64_t ldo, const char* op, const float* residual = nullptr, const RopeOut* rope = nullptr) {
  Product p;
  p.x = x.data_ptr<float>();
  p.rows = x.size(0);
  p.ldx = x.stride(0);
  p.w = &w;
  p.bias = bias_ptr(b, w.out_features(), op);
  p.out = out;
  p.ldo = ldo;
  p.epilogue = epilogue;
  p.residual = residual;
  p.rope = rope;
  run(p);
}

// The input as [rows, K] rows after checking the weight's layout fits the product asked for.
at::Tensor input_rows(const at::Tensor& x, const PackedWeight& w, bool gated, const char* op) {
  if ((w.layout() == PackedWeight::Layout::GatePairs) != gated)
    throw Error(std::string(op) + (gated ? ": the weight is not gate/up pairs" : ": the weight is packed as gate/up pairs"));
  return as_rows(x, w, op);
}

}  // namespace

at::Tensor packed_linear(const at::Tensor& x_in, const PackedWeight& w, const at::Tensor& b) {
  const at::Tensor x = input_rows(x_in, w, false, "packed linear");
  at::Tensor y = at::empty(out_shape(x_in, w.out_features()), x.options());
  multiply(x, w, b, Epilogue::Store, y.data_ptr<float>(), w.out_features(), "packed linear");
  return y;
}

namespace {

// y as the [rows, N] output of x's rows: contiguous float32 on the CPU.
void check_output(const at::Tensor& y, const at::Tensor& x, const PackedWeight& w) {
  if (!y.device().is_cpu() || y.scalar_type() != at::kFloat || !y.is_contiguous() || y.dim() < 1 ||
      y.size(-1) != w.out_features() || y.numel() != x.size(0) * w.out_features())
    throw Error("packed linear: the output must be a contiguous float32 [..., " + std::to_string(w.out_features()) +
                "] tensor with the input's rows");
}

}  // namespace

void packed_linear_accumulate(const at::Tensor& x_in, const PackedWeight& w, const at::Tensor& b, at::Tensor& y) {
  const at::Tensor x = input_rows(x_in, w, false, "packed linear");
  check_output(y, x, w);
  multiply(x, w, b, Epilogue::Accumulate, y.data_ptr<float>(), w.out_features(), "packed linear");
}

void packed_linear_into(const at::Tensor& x_in, const PackedWeight& w, const at::Tensor& b, at::Tensor& y) {
  const at::Tensor x = input_rows(x_in, w, false, "packed linear");
  check_output(y, x, w);
  multiply(x, w, b, Epilogue::Store, y.data_ptr<float>(), w.out_features(), "packed linear");
}

at::Tensor packed_linear_residual(const at::Tensor& x_in, const PackedWeight& w, const at::Tensor& b,
                                  const at::Tensor& residual_in) {
  const at::Tensor x = input_rows(x_in, w, false, "packed linear");
  if (!residual_in.device().is_cpu() || residual_in.scalar_type() != at::kFloat || residual_in.dim() < 1 ||
      residual_in.size(-1) != w.out_features() || residual_in.numel() != x.size(0) * w.out_features())
    throw Error("packed linear: the residual must be a float32 [..., " + std::to_string(w.out_features()) +
                "] CPU tensor with the input's rows");
  const at::Tensor residual = residual_in.contiguous();
  at::Tensor y = at::empty(residual.sizes(), residual.options());
  multiply(x, w, b, Epilogue::Residual, y.data_ptr<float>(), w.out_features(), "packed linear",
           residual.data_ptr<float>());
  return y;
}

at::Tensor packed_qkv_rope(const at::Tensor& x_in, const PackedWeight& w, const at::Tensor& b, const at::Tensor& cos_in,
                           const at::Tensor& sin_in, float q_scale, int64_t heads, int64_t kv_heads, at::Tensor& k_cache,
                           at::Tensor& v_cache, int64_t pos0) {
  const char* op = "packed QKV with rotary embedding";
  const int64_t hd = w.head_dim();
  if (w.layout() != PackedWeight::Layout::RopePairs || heads * hd != w.rope_features() - kv_heads * hd ||
      w.out_features() != (heads + 2 * kv_heads) * hd)
    throw Error(std::string(op) + ": the weight is not packed as rotary pairs for " + std::to_string(heads) +
                " query and " + std::to_string(kv_heads) + " key/value heads");
  if (!k_cache.defined() || k_cache.dim() != 4 || k_cache.sizes() != v_cache.sizes() || k_cache.size(1) != kv_heads ||
      k_cache.size(3) != hd || k_cache.stride(3) != 1 || v_cache.stride(3) != 1 || !k_cache.device().is_cpu() ||
      k_cache.scalar_type() != at::kFloat || v_cache.scalar_type() != at::kFloat)
    throw Error(std::string(op) + ": the KV cache must be float32 [B, " + std::to_string(kv_heads) + ", capacity, " +
                std::to_string(hd) + "] on the CPU");
  if (x_in.dim() != 3 || x_in.size(0) != k_cache.size(0))
    throw Error(std::string(op) + ": the input must be [B, T, hidden] with the cache's batch");
  const int64_t B = x_in.size(0), T = x_in.size(1);
  if (cos_in.dim() != 2 || cos_in.size(0) != T || cos_in.size(1) * 2 != hd || sin_in.sizes() != cos_in.sizes())
    throw Error(std::string(op) + ": cos/sin must be [" + std::to_string(T) + ", " + std::to_string(hd / 2) + "]");
  if (pos0 < 0 || pos0 + T > k_cache.size(2))
    throw Error(std::string(op) + ": positions [" + std::to_string(pos0) + ", " + std::to_string(pos0 + T) +
                ") outside the cache's " + std::to_string(k_cache.size(2)));
  if (!avx512_kernels_on()) {
    // The AVX2 and portable kernels: the product, then the rotation pass (the same floats).
    const at::Tensor qkv = packed_linear(x_in, w, b);
    const at::Tensor q = qkv.narrow(-1, 0, heads * hd).view({B, T, heads, hd});
    const at::Tensor k = qkv.narrow(-1, heads * hd, kv_heads * hd).view({B, T, kv_heads, hd});
    const at::Tensor v = qkv.narrow(-1, (heads + kv_heads) * hd, kv_heads * hd).view({B, T, kv_heads, hd});
    return fused_rope_to_cache(q, k, v, cos_in, sin_in, RopeStyle::Half, q_scale, k_cache, v_cache, pos0);
  }
  const at::Tensor x = input_rows(x_in, w, false, op);
  const at::Tensor cos = cos_in.to(at::kFloat).contiguous(), sin = sin_in.to(at::kFloat).contiguous();
  at::Tensor q = at::empty({B, T, heads, hd}, x.options());
  RopeOut ro;
  ro.cos = cos.data_ptr<float>();
  ro.sin = sin.data_ptr<float>();
  ro.half = hd / 2;
  ro.T = T;
  ro.pos0 = pos0;
  ro.hd = hd;
  ro.q_features = heads * hd;
  ro.k_end = (heads + kv_heads) * hd;
  ro.q_scale = q_scale;
  ro.q = q.data_ptr<float>();
  ro.kc = k_cache.data_ptr<float>();
  ro.vc = v_cache.data_ptr<float>();
  ro.kc0 = k_cache.stride(0);
  ro.kc1 = k_cache.stride(1);
  ro.kc2 = k_cache.stride(2);
  ro.vc0 = v_cache.stride(0);
  ro.vc1 = v_cache.stride(1);
  ro.vc2 = v_cache.stride(2);
  multiply(x, w, b, Epilogue::QkvRope, nullptr, 0, op, nullptr, &ro);
  return q;
}

at::Tensor packed_silu_gate(const at::Tensor& x_in, const PackedWeight& w, const at::Tensor& b) {
  const at::Tensor x = input_rows(x_in, w, true, "packed gated MLP");
  const int64_t I = w.out_features() / 2;
  at::Tensor y = at::empty(out_shape(x_in, I), x.options());
  multiply(x, w, b, Epilogue::SiluGate, y.data_ptr<float>(), I, "packed gated MLP");
  return y;
}

const char* packed_kernels() { return avx512_kernels_on() ? "avx512" : vector_kernels_on() ? "avx2" : "portable"; }

}  // namespace hl::engine
