// Internal to core/kernels: the functions each family's files define, which cpu_features.cpp puts into the tables.
// Every family has its own namespace, so no two files compiled with different instruction-set flags ever define the
// same (mergeable) symbol. Signatures: kernel_types.h.
#pragma once
#include "core/kernels/kernel_types.h"

namespace hl::kernels {

namespace portable {
void gemm_tile(int64_t m, int64_t width, const float* A, int64_t lda, const float* B, int64_t ldb, int64_t K, float* C,
               int64_t ldc, int64_t cols);
void widen_16bit(bool bf16, const uint16_t* src, float* dst, int64_t n);
void softmax_row(const float* s, float* p, int64_t n, int64_t lo, int64_t hi);
void silu_mul(const float* g, const float* u, float* out, int64_t n);
void rms_norm_row(const float* xr, const float* wp, float* yr, int64_t D, float eps);
void rotate_head(const float* x, float* y, const float* c, const float* s, int64_t half, int64_t hd, bool interleaved,
                 float scale);
void attn_scores(int64_t m, int64_t n, const float* A, int64_t lda, const float* B, int64_t ldb, int64_t K, float* C,
                 int64_t ldc);
void attn_values(int64_t m, int64_t n, const float* A, int64_t lda, const float* B, int64_t ldb, int64_t K, float* C,
                 int64_t ldc);
// The attention products as loops of `tile` (16-column tiles over padded keys; 16, 8, then the rest over values).
void scores_by_tiles(GemmTileFn tile, int64_t m, int64_t n, const float* A, int64_t lda, const float* B, int64_t ldb,
                     int64_t K, float* C, int64_t ldc);
void values_by_tiles(GemmTileFn tile, int64_t m, int64_t n, const float* A, int64_t lda, const float* B, int64_t ldb,
                     int64_t K, float* C, int64_t ldc);
float dot(const float* a, const float* b, int64_t n);
void axpy(float alpha, const float* x, float* y, int64_t n);
SmallLinearRowsFn small_linear_rows(int rows);
RowStats head_stats_row(const float* p, const float* s, const float* m, int64_t n, float* received);
}  // namespace portable

namespace avx2 {  // AVX2 + FMA (+ F16C for widening)
void gemm_tile(int64_t m, int64_t width, const float* A, int64_t lda, const float* B, int64_t ldb, int64_t K, float* C,
               int64_t ldc, int64_t cols);
void widen_16bit(bool bf16, const uint16_t* src, float* dst, int64_t n);
void softmax_row(const float* s, float* p, int64_t n, int64_t lo, int64_t hi);
void silu_mul(const float* g, const float* u, float* out, int64_t n);
void rotate_head(const float* x, float* y, const float* c, const float* s, int64_t half, int64_t hd, bool interleaved,
                 float scale);
void attn_scores(int64_t m, int64_t n, const float* A, int64_t lda, const float* B, int64_t ldb, int64_t K, float* C,
                 int64_t ldc);
void attn_values(int64_t m, int64_t n, const float* A, int64_t lda, const float* B, int64_t ldb, int64_t K, float* C,
                 int64_t ldc);
float dot(const float* a, const float* b, int64_t n);
void axpy(float alpha, const float* x, float* y, int64_t n);
SmallLinearRowsFn small_linear_rows(int rows);
RowStats head_stats_row(const float* p, const float* s, const float* m, int64_t n, float* received);
}  // namespace avx2

namespace avx512 {  // AVX-512F
PackedTile packed_tile(PanelType type, Epilogue e, int64_t np, int64_t mr);
PackedTile packed_tile_f32(Epilogue e, int64_t np, int64_t mr);     // gemm_avx512.cpp
PackedTile packed_tile_16bit(bool bf16, Epilogue e, int64_t np, int64_t mr);  // gemm16_avx512.cpp
RopeTile rope_tile(PanelType type, int64_t mr);
void softmax_row(const float* s, float* p, int64_t n, int64_t lo, int64_t hi);
void rms_norm_row(const float* xr, const float* wp, float* yr, int64_t D, float eps);
// Both attention products (masked loads and stores: no column past n is read).
void attn_product(int64_t m, int64_t n, const float* A, int64_t lda, const float* B, int64_t ldb, int64_t K, float* C,
                  int64_t ldc);
}  // namespace avx512

}  // namespace hl::kernels
