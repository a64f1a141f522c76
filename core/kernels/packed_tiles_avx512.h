// The register tiles of the packed products on AVX-512, templates over the panel element type (float, Bf16, F16), so
// that each tile and epilogue exists once and a 16-bit panel differs only in how a row of 16 weights becomes 16
// floats (exactly) on its way into the FMAs. Instantiated by gemm_avx512.cpp (float panels), gemm16_avx512.cpp
// (16-bit panels) and norm_rope_avx512.cpp (the rotary epilogue). Include only from files compiled with the AVX-512
// flags.
#pragma once
#if !defined(__AVX512F__)
#error "packed_tiles_avx512.h: include only from files compiled with the AVX-512 flags"
#endif
#include <immintrin.h>

#include <cstdint>

#include "core/kernels/exp_avx512.h"
#include "core/kernels/kernel_types.h"

namespace hl::kernels::avx512 {

// Row k of a panel (16 weights, 32- or 64-byte aligned) as 16 floats.
__attribute__((always_inline)) inline __m512 panel_row_avx512(const float* p) {
  return _mm512_load_ps(p);
}
// bfloat16 is the top half of a float: widen to 32 bits and shift into place. (The maskz forms with an all-ones
// mask are the same instructions; the unmasked intrinsics trip GCC 12's -Wmaybe-uninitialized in its own header.)
__attribute__((always_inline)) inline __m512 panel_row_avx512(const Bf16* p) {
  const __mmask16 all = 0xFFFF;
  const __m512i w = _mm512_maskz_cvtepu16_epi32(all, _mm256_load_si256(reinterpret_cast<const __m256i*>(p)));
  return _mm512_castsi512_ps(_mm512_maskz_slli_epi32(all, w, 16));
}
__attribute__((always_inline)) inline __m512 panel_row_avx512(const F16* p) {
  return _mm512_maskz_cvtph_ps(0xFFFF, _mm256_load_si256(reinterpret_cast<const __m256i*>(p)));
}

// c[i][j] = sum over k < K of A[i * lda + k] * panel j (B + j * pstride, [K][16]): the inner loop every AVX-512
// tile shares, inlined into each, where its constant bounds unroll fully and the accumulators stay in registers.
// 16-bit panels at one or two rows (decode): the tile asks for the panel rows 64 ahead (2 KB of each panel) every
// other row, one cache line per panel. The hardware prefetcher alone kept these streams at 18 GB/s where float32
// panels stream at 22.6: half the bytes per FMA leave fewer loads in flight (SmolLM2-135M shape, bench --sections
// bf16: bf16/f32 decode 0.61 -> 0.51; 32 rows ahead 0.555, 128 rows 0.53).
constexpr int64_t kPrefetchRows16 = 64;
template <int MR, int NP, typename W>
__attribute__((always_inline)) inline void accumulate_avx512(const float* A, int64_t lda,
                                                                              const W* B, int64_t pstride,
                                                                              int64_t K, __m512 (&c)[MR][NP]) {
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NP; ++j) c[i][j] = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    if constexpr (sizeof(W) == 2 && MR <= 2) {
      if ((k & 1) == 0)
        for (int j = 0; j < NP; ++j)
          _mm_prefetch(reinterpret_cast<const char*>(B + j * pstride + kPanel * (k + kPrefetchRows16)), _MM_HINT_T0);
    }
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
void tile_avx512(const float* A, int64_t lda, const void* Bv, int64_t pstride,
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

template <int NP, Epilogue E, typename W>
PackedTile avx512_rows(int64_t mr) {
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
PackedTile avx512_tile(Epilogue e, int64_t np, int64_t mr) {
  switch (e) {
    case Epilogue::Store: return np == 2 ? avx512_rows<2, Epilogue::Store, W>(mr) : avx512_rows<1, Epilogue::Store, W>(mr);
    case Epilogue::Accumulate:
      return np == 2 ? avx512_rows<2, Epilogue::Accumulate, W>(mr) : avx512_rows<1, Epilogue::Accumulate, W>(mr);
    case Epilogue::Residual:
      return np == 2 ? avx512_rows<2, Epilogue::Residual, W>(mr) : avx512_rows<1, Epilogue::Residual, W>(mr);
    case Epilogue::QkvRope: return nullptr;  // the rotary epilogue has its own tile (rope_tile)
    case Epilogue::SiluGate: break;
  }
  return avx512_rows<2, Epilogue::SiluGate, W>(mr);
}

}  // namespace hl::kernels::avx512
