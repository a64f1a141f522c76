// The prefill attention's products on AVX-512: register tiles of up to 6 rows x 64 columns with masked loads and
// stores. Compiled with the AVX-512 flags (core/kernels/CMakeLists.txt).
#include <immintrin.h>

#include <cstdint>

#include "core/kernels/isa_kernels.h"

namespace hl::kernels::avx512 {
namespace {

// The attention products' AVX-512 tile: C[r][0, n) = sum over k < K of A[r * lda + k] * B[k * ldb + c] for
// r < MR and n <= 16 NV columns (n > 16 (NV - 1)). Columns past n are neither read nor written (masked loads and
// stores), so B needs no padding. Up to 6 rows x 64 columns: 24 of the 32 zmm registers accumulate, in named
// variables (as in tile_avx2: GCC keeps an array of 24 vectors in memory and stores it on every iteration).
template <int MR, int NV>
void attn_tile_avx512(const float* A, int64_t lda, const float* B, int64_t ldb, int64_t K, float* C, int64_t ldc,
                      int64_t n) {
  static_assert(MR >= 1 && MR <= 6 && NV >= 1 && NV <= 4, "tile: up to 6 rows of 16 to 64 columns");
  const int64_t tail = n - 16 * (NV - 1);
  const __mmask16 last = tail >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << tail) - 1u);
  const __mmask16 k0 = NV == 1 ? last : 0xFFFF, k1 = NV == 2 ? last : 0xFFFF, k2 = NV == 3 ? last : 0xFFFF, k3 = last;
  const __m512 z = _mm512_setzero_ps();
#define HL_ACC(r) __m512 c##r##0 = z, c##r##1 = z, c##r##2 = z, c##r##3 = z;
  HL_ACC(0) HL_ACC(1) HL_ACC(2) HL_ACC(3) HL_ACC(4) HL_ACC(5)
#undef HL_ACC
  for (int64_t k = 0; k < K; ++k) {
    const float* bk = B + k * ldb;
    const __m512 b0 = _mm512_maskz_loadu_ps(k0, bk);
    const __m512 b1 = NV > 1 ? _mm512_maskz_loadu_ps(k1, bk + 16) : z;
    const __m512 b2 = NV > 2 ? _mm512_maskz_loadu_ps(k2, bk + 32) : z;
    const __m512 b3 = NV > 3 ? _mm512_maskz_loadu_ps(k3, bk + 48) : z;
#define HL_ROW(r)                                                     \
  if constexpr (MR > r) {                                            \
    const __m512 a = _mm512_set1_ps(A[r * lda + k]);                 \
    c##r##0 = _mm512_fmadd_ps(a, b0, c##r##0);                       \
    if constexpr (NV > 1) c##r##1 = _mm512_fmadd_ps(a, b1, c##r##1); \
    if constexpr (NV > 2) c##r##2 = _mm512_fmadd_ps(a, b2, c##r##2); \
    if constexpr (NV > 3) c##r##3 = _mm512_fmadd_ps(a, b3, c##r##3); \
  }
    HL_ROW(0) HL_ROW(1) HL_ROW(2) HL_ROW(3) HL_ROW(4) HL_ROW(5)
#undef HL_ROW
  }
#define HL_STORE(r)                                                              \
  if constexpr (MR > r) {                                                       \
    float* cr = C + r * ldc;                                                    \
    _mm512_mask_storeu_ps(cr, k0, c##r##0);                                     \
    if constexpr (NV > 1) _mm512_mask_storeu_ps(cr + 16, k1, c##r##1);          \
    if constexpr (NV > 2) _mm512_mask_storeu_ps(cr + 32, k2, c##r##2);          \
    if constexpr (NV > 3) _mm512_mask_storeu_ps(cr + 48, k3, c##r##3);          \
  }
  HL_STORE(0) HL_STORE(1) HL_STORE(2) HL_STORE(3) HL_STORE(4) HL_STORE(5)
#undef HL_STORE
}

template <int NV>
void attn_rows_avx512(int64_t m, const float* A, int64_t lda, const float* B, int64_t ldb, int64_t K, float* C,
                      int64_t ldc, int64_t n) {
  switch (m) {
    case 1: return attn_tile_avx512<1, NV>(A, lda, B, ldb, K, C, ldc, n);
    case 2: return attn_tile_avx512<2, NV>(A, lda, B, ldb, K, C, ldc, n);
    case 3: return attn_tile_avx512<3, NV>(A, lda, B, ldb, K, C, ldc, n);
    case 4: return attn_tile_avx512<4, NV>(A, lda, B, ldb, K, C, ldc, n);
    case 5: return attn_tile_avx512<5, NV>(A, lda, B, ldb, K, C, ldc, n);
    default: return attn_tile_avx512<6, NV>(A, lda, B, ldb, K, C, ldc, n);
  }
}

}  // namespace

// C[r][0, n) = A[r] . B for r < m (1..6): 64-column tiles, then one tile of 16, 32, 48 or 64 for the rest.
void attn_product(int64_t m, int64_t n, const float* A, int64_t lda, const float* B, int64_t ldb, int64_t K, float* C,
                  int64_t ldc) {
  int64_t c = 0;
  for (; c + 64 <= n; c += 64) attn_rows_avx512<4>(m, A, lda, B + c, ldb, K, C + c, ldc, 64);
  const int64_t rest = n - c;
  if (rest > 48) attn_rows_avx512<4>(m, A, lda, B + c, ldb, K, C + c, ldc, rest);
  else if (rest > 32) attn_rows_avx512<3>(m, A, lda, B + c, ldb, K, C + c, ldc, rest);
  else if (rest > 16) attn_rows_avx512<2>(m, A, lda, B + c, ldb, K, C + c, ldc, rest);
  else if (rest > 0) attn_rows_avx512<1>(m, A, lda, B + c, ldb, K, C + c, ldc, rest);
}

}  // namespace hl::kernels::avx512
