// The register tiles of the packed products (packed_linear.cpp), shared by float32 panels and the 16-bit panels of
// packed_linear_16bit.cpp: templates over the panel element type, so that each tile and epilogue exists once and a
// 16-bit panel differs only in how a row of 16 weights becomes 16 floats (exactly) on its way into the FMAs.
// Internal to core/engine.
#pragma once
#include <cstdint>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "core/engine/simd_math.h"
#include "core/error.h"

namespace hl::engine::packed_tiles {

constexpr int64_t kPanel = 16;     // columns per panel
constexpr int64_t kTile = 2;       // panels per tile: 32 columns, or 16 gate + 16 up units
constexpr int64_t kTileCols = kPanel * kTile;
constexpr int64_t kRowBlock = 256;  // rows per work item: a thread takes a weight tile for all rows of up to 256 (see run)

enum class Epilogue { Store, Accumulate, Residual, SiluGate, QkvRope };

// Panel element types besides float: the 16 bits of a bfloat16 or of an IEEE half. Both widen to float exactly, so
// a product over such a panel is the float32 product of the rounded weights, bit for bit (same FMAs, same order).
struct Bf16 {
  uint16_t bits;
};
struct F16 {
  uint16_t bits;
};

#if defined(__x86_64__)
// Row k of a panel (16 weights, 32- or 64-byte aligned) as 16 floats.
__attribute__((target("avx512f"), always_inline)) inline __m512 panel_row_avx512(const float* p) {
  return _mm512_load_ps(p);
}
// bfloat16 is the top half of a float: widen to 32 bits and shift into place. (The maskz forms with an all-ones
// mask are the same instructions; the unmasked intrinsics trip GCC 12's -Wmaybe-uninitialized in its own header.)
__attribute__((target("avx512f"), always_inline)) inline __m512 panel_row_avx512(const Bf16* p) {
  const __mmask16 all = 0xFFFF;
  const __m512i w = _mm512_maskz_cvtepu16_epi32(all, _mm256_load_si256(reinterpret_cast<const __m256i*>(p)));
  return _mm512_castsi512_ps(_mm512_maskz_slli_epi32(all, w, 16));
}
__attribute__((target("avx512f"), always_inline)) inline __m512 panel_row_avx512(const F16* p) {
  return _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(p)));
}

// c[i][j] = sum over k < K of A[i * lda + k] * panel j (B + j * pstride, [K][16]): the inner loop every AVX-512
// tile shares, inlined into each, where its constant bounds unroll fully and the accumulators stay in registers.
template <int MR, int NP, typename W>
__attribute__((target("avx512f"), always_inline)) inline void accumulate_avx512(const float* A, int64_t lda,
                                                                              const W* B, int64_t pstride,
                                                                              int64_t K, __m512 (&c)[MR][NP]) {
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NP; ++j) c[i][j] = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    __m512 b[NP];
    for (int j = 0; j < NP; ++j) b[j] = panel_row_avx512(B + j * pstride + kPanel * k);
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
template <int MR, int NP, Epilogue E, typename W>
__attribute__((target("avx512f"))) void tile_avx512(const float* A, int64_t lda, const void* Bv, int64_t pstride,
                                                     int64_t K, float* C, int64_t ldc, const float* bias0,
                                                     const float* bias1, int64_t cols, const float* R) {
  static_assert(E != Epilogue::SiluGate || NP == 2, "the gated epilogue takes a gate panel and an up panel");
  __m512 c[MR][NP];
  accumulate_avx512<MR, NP>(A, lda, static_cast<const W*>(Bv), pstride, K, c);
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

// B: the tile's first panel (elements of W); pstride: elements from one panel to the next.
using Tile512 = void (*)(const float* A, int64_t lda, const void* B, int64_t pstride, int64_t K, float* C,
                         int64_t ldc, const float* bias0, const float* bias1, int64_t cols, const float* R);

template <int NP, Epilogue E, typename W>
Tile512 avx512_rows(int64_t mr) {
  switch (mr) {
    case 1: return tile_avx512<1, NP, E, W>;
    case 2: return tile_avx512<2, NP, E, W>;
    case 3: return tile_avx512<3, NP, E, W>;
    case 4: return tile_avx512<4, NP, E, W>;
    case 5: return tile_avx512<5, NP, E, W>;
    case 6: return tile_avx512<6, NP, E, W>;
    case 7: return tile_avx512<7, NP, E, W>;
    default: return tile_avx512<8, NP, E, W>;
  }
}

template <typename W>
Tile512 avx512_tile(Epilogue e, int64_t np, int64_t mr) {
  switch (e) {
    case Epilogue::Store: return np == 2 ? avx512_rows<2, Epilogue::Store, W>(mr) : avx512_rows<1, Epilogue::Store, W>(mr);
    case Epilogue::Accumulate:
      return np == 2 ? avx512_rows<2, Epilogue::Accumulate, W>(mr) : avx512_rows<1, Epilogue::Accumulate, W>(mr);
    case Epilogue::Residual:
      return np == 2 ? avx512_rows<2, Epilogue::Residual, W>(mr) : avx512_rows<1, Epilogue::Residual, W>(mr);
    case Epilogue::QkvRope: throw Error("packed product: the rotary epilogue has its own tile");
    case Epilogue::SiluGate: break;
  }
  return avx512_rows<2, Epilogue::SiluGate, W>(mr);
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
template <int MR, typename W>
__attribute__((target("avx512f"), optimize("fp-contract=off"))) void tile_rope_avx512(
    const float* A, int64_t lda, const void* B, int64_t pstride, int64_t K, const RopeOut& ro, int64_t m0,
    int64_t f0, int64_t f1, const float* bias0, const float* bias1) {
  __m512 c[MR][2];
  accumulate_avx512<MR, 2>(A, lda, static_cast<const W*>(B), pstride, K, c);
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

using TileRope = void (*)(const float*, int64_t, const void*, int64_t, int64_t, const RopeOut&, int64_t, int64_t,
                          int64_t, const float*, const float*);

template <typename W>
TileRope rope_tile(int64_t mr) {
  switch (mr) {
    case 1: return tile_rope_avx512<1, W>;
    case 2: return tile_rope_avx512<2, W>;
    case 3: return tile_rope_avx512<3, W>;
    case 4: return tile_rope_avx512<4, W>;
    case 5: return tile_rope_avx512<5, W>;
    case 6: return tile_rope_avx512<6, W>;
    case 7: return tile_rope_avx512<7, W>;
    default: return tile_rope_avx512<8, W>;
  }
}
#endif

// The 16-bit panel kernels (packed_linear_16bit.cpp). `bf16` picks Bf16 panels, else F16.
#if defined(__x86_64__)
Tile512 avx512_tile_16bit(bool bf16, Epilogue e, int64_t np, int64_t mr);
TileRope rope_tile_16bit(bool bf16, int64_t mr);
#endif
// dst[i] = the float value of the 16-bit src[i] (exact), i < n: a tile's panels widened once for the float32
// kernels (prefill-sized products, the AVX2 and portable kernels). dst 64-byte aligned.
void widen_16bit(bool bf16, const uint16_t* src, float* dst, int64_t n);

}  // namespace hl::engine::packed_tiles
