// The prefill attention's products on the AVX2 register tiles (gemm_avx2.cpp), 16 or 8 columns at a time.
#include "core/kernels/isa_kernels.h"

namespace hl::kernels::avx2 {

void attn_scores(int64_t m, int64_t n, const float* A, int64_t lda, const float* B, int64_t ldb, int64_t K, float* C,
                 int64_t ldc) {
  portable::scores_by_tiles(gemm_tile, m, n, A, lda, B, ldb, K, C, ldc);
}

void attn_values(int64_t m, int64_t n, const float* A, int64_t lda, const float* B, int64_t ldb, int64_t K, float* C,
                 int64_t ldc) {
  portable::values_by_tiles(gemm_tile, m, n, A, lda, B, ldb, K, C, ldc);
}

}  // namespace hl::kernels::avx2
