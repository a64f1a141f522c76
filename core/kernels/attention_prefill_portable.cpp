// The prefill attention's products of a group of query rows (QK^T over the transposed keys, PV over the value rows)
// as loops of register tiles: the portable family's, and (through `tile`) the AVX2 family's.
#include <algorithm>

#include "core/kernels/isa_kernels.h"

namespace hl::kernels::portable {

void scores_by_tiles(GemmTileFn tile, int64_t m, int64_t n, const float* A, int64_t lda, const float* B, int64_t ldb,
                     int64_t K, float* C, int64_t ldc) {
  // 16-column tiles throughout: the transposed keys are padded to a multiple of 16.
  for (int64_t c = 0; c < n; c += 16) tile(m, 16, A, lda, B + c, ldb, K, C + c, ldc, std::min<int64_t>(16, n - c));
}

void values_by_tiles(GemmTileFn tile, int64_t m, int64_t n, const float* A, int64_t lda, const float* B, int64_t ldb,
                     int64_t K, float* C, int64_t ldc) {
  // Value rows are not padded: 16 and 8 columns at a time, then the last few columns of a narrow head portably.
  int64_t c = 0;
  for (; c + 16 <= n; c += 16) tile(m, 16, A, lda, B + c, ldb, K, C + c, ldc, 16);
  for (; c + 8 <= n; c += 8) tile(m, 8, A, lda, B + c, ldb, K, C + c, ldc, 8);
  if (c < n) gemm_tile(m, n - c, A, lda, B + c, ldb, K, C + c, ldc, n - c);
}

void attn_scores(int64_t m, int64_t n, const float* A, int64_t lda, const float* B, int64_t ldb, int64_t K, float* C,
                 int64_t ldc) {
  scores_by_tiles(gemm_tile, m, n, A, lda, B, ldb, K, C, ldc);
}

void attn_values(int64_t m, int64_t n, const float* A, int64_t lda, const float* B, int64_t ldb, int64_t K, float* C,
                 int64_t ldc) {
  values_by_tiles(gemm_tile, m, n, A, lda, B, ldb, K, C, ldc);
}

}  // namespace hl::kernels::portable
