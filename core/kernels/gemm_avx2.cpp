// AVX2 + FMA register tiles (the attention products' and, below AVX-512, the packed products'), and the F16C
// widening of 16-bit panels. Compiled with -mavx2 -mfma -mf16c (core/kernels/CMakeLists.txt).
#include <immintrin.h>

#include <cstdint>

#include "core/kernels/isa_kernels.h"

namespace hl::kernels::avx2 {
namespace {

// The register tile of the attention products: C[r][0, W) = sum over k < K of A[r * lda + k] * B[k * ldb + c]
// for r < MR rows and W = 8 * NV columns, of which the first `cols` are stored. QK^T runs it with A = query rows
// and B = the keys packed transposed; PV with A = probability rows and B = the value rows themselves.
template <int MR, int NV>
void tile_avx2(const float* A, int64_t lda, const float* B, int64_t ldb, int64_t K,
                                                   float* C, int64_t ldc, int64_t cols) {
  static_assert(MR >= 1 && MR <= 6 && (NV == 1 || NV == 2), "tile: up to 6 rows of 8 or 16 columns");
  // One named accumulator per (row, 8 columns): GCC keeps an array of vectors in memory and stores it on every
  // iteration; named variables stay in registers (12 of the 16).
  const __m256 z = _mm256_setzero_ps();
  __m256 c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z, c40 = z, c41 = z, c50 = z, c51 = z;
  for (int64_t k = 0; k < K; ++k) {
    const float* bk = B + k * ldb;
    const __m256 b0 = _mm256_loadu_ps(bk);
    const __m256 b1 = NV > 1 ? _mm256_loadu_ps(bk + 8) : z;
#define HL_TILE_ROW(r)                                             \
  if constexpr (MR > r) {                                         \
    const __m256 a = _mm256_broadcast_ss(A + r * lda + k);        \
    c##r##0 = _mm256_fmadd_ps(a, b0, c##r##0);                    \
    if constexpr (NV > 1) c##r##1 = _mm256_fmadd_ps(a, b1, c##r##1); \
  }
    HL_TILE_ROW(0) HL_TILE_ROW(1) HL_TILE_ROW(2) HL_TILE_ROW(3) HL_TILE_ROW(4) HL_TILE_ROW(5)
#undef HL_TILE_ROW
  }
  // Stores: whole rows, or the first `cols` columns through a buffer (masked stores are microcoded on AMD).
  alignas(32) float tmp[16];
#define HL_TILE_STORE(r)                                                     \
  if constexpr (MR > r) {                                                   \
    if (cols == 8 * NV) {                                                   \
      _mm256_storeu_ps(C + r * ldc, c##r##0);                               \
      if constexpr (NV > 1) _mm256_storeu_ps(C + r * ldc + 8, c##r##1);     \
    } else {                                                                \
      _mm256_store_ps(tmp, c##r##0);                                        \
      if constexpr (NV > 1) _mm256_store_ps(tmp + 8, c##r##1);              \
      for (int64_t c = 0; c < cols; ++c) C[r * ldc + c] = tmp[c];           \
    }                                                                       \
  }
  HL_TILE_STORE(0) HL_TILE_STORE(1) HL_TILE_STORE(2) HL_TILE_STORE(3) HL_TILE_STORE(4) HL_TILE_STORE(5)
#undef HL_TILE_STORE
}

// Rows in groups of up to 6 (12 accumulators: 6 rows x 16 columns), and 8-column tiles for narrow heads.
template <int NV>
void rows_tile_avx2(int64_t m, const float* A, int64_t lda, const float* B,
                                                        int64_t ldb, int64_t K, float* C, int64_t ldc, int64_t cols) {
  switch (m) {
    case 1: return tile_avx2<1, NV>(A, lda, B, ldb, K, C, ldc, cols);
    case 2: return tile_avx2<2, NV>(A, lda, B, ldb, K, C, ldc, cols);
    case 3: return tile_avx2<3, NV>(A, lda, B, ldb, K, C, ldc, cols);
    case 4: return tile_avx2<4, NV>(A, lda, B, ldb, K, C, ldc, cols);
    case 5: return tile_avx2<5, NV>(A, lda, B, ldb, K, C, ldc, cols);
    default: return tile_avx2<6, NV>(A, lda, B, ldb, K, C, ldc, cols);
  }
}

void attn_tile_avx2(int64_t m, int64_t width, const float* A, int64_t lda,
                                                       const float* B, int64_t ldb, int64_t K, float* C, int64_t ldc,
                                                       int64_t cols) {
  if (width == 16) rows_tile_avx2<2>(m, A, lda, B, ldb, K, C, ldc, cols);
  else rows_tile_avx2<1>(m, A, lda, B, ldb, K, C, ldc, cols);
}

void widen_avx2(bool bf16, const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    const __m256 f = bf16 ? _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)) : _mm256_cvtph_ps(h);
    _mm256_storeu_ps(dst + i, f);
  }
  portable::widen_16bit(bf16, src + i, dst + i, n - i);
}

}  // namespace

void gemm_tile(int64_t m, int64_t width, const float* A, int64_t lda, const float* B, int64_t ldb, int64_t K, float* C,
               int64_t ldc, int64_t cols) {
  attn_tile_avx2(m, width, A, lda, B, ldb, K, C, ldc, cols);
}

void widen_16bit(bool bf16, const uint16_t* src, float* dst, int64_t n) { widen_avx2(bf16, src, dst, n); }

}  // namespace hl::kernels::avx2
