// Portable register tiles (any CPU; what the generic build and HEADLIGHT_KERNELS=portable run) and the exact
// widening of 16-bit panels to float32.
#include <algorithm>
#include <cstring>

#include "core/kernels/isa_kernels.h"

namespace hl::kernels::portable {
namespace {

// Four floats as one value: GCC and Clang lower it to the baseline vector registers (SSE2, NEON).
typedef float V4 __attribute__((vector_size(16)));

V4 load4(const float* p) {
  V4 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// R rows by 4 NV columns (`cols` of them stored) of the same product: each weight row loaded feeds R rows of
// accumulators, held in registers. Every output is the same sum in the same order (k ascending from zero) whatever
// R is, so a row's result never depends on how many rows share the product.
template <int R, int NV>
void rows_of(const float* A, int64_t lda, const float* B, int64_t ldb, int64_t K, float* C, int64_t ldc,
             int64_t cols) {
  V4 acc[R][NV] = {};
  for (int64_t k = 0; k < K; ++k) {
    V4 b[NV];
    for (int v = 0; v < NV; ++v) b[v] = load4(B + k * ldb + 4 * v);
    for (int r = 0; r < R; ++r) {
      const float a = A[r * lda + k];
      for (int v = 0; v < NV; ++v) acc[r][v] += a * b[v];
    }
  }
  for (int r = 0; r < R; ++r) {
    float out[4 * NV];
    std::memcpy(out, acc[r], sizeof out);
    std::copy(out, out + cols, C + r * ldc);
  }
}

// Threes of rows (12 accumulators and a 16-float weight row's 4 vectors fill SSE2's 16 registers), then single rows.
template <int NV>
void tile_rows(int64_t m, const float* A, int64_t lda, const float* B, int64_t ldb, int64_t K, float* C, int64_t ldc,
               int64_t cols) {
  int64_t r = 0;
  for (; r + 3 <= m; r += 3) rows_of<3, NV>(A + r * lda, lda, B, ldb, K, C + r * ldc, ldc, cols);
  for (; r < m; ++r) rows_of<1, NV>(A + r * lda, lda, B, ldb, K, C + r * ldc, ldc, cols);
}

// The same for any width up to 16 (the last few columns of a narrow head), one row at a time.
void rows_narrow(int64_t m, int64_t width, const float* A, int64_t lda, const float* B, int64_t ldb, int64_t K,
                 float* C, int64_t ldc, int64_t cols) {
  for (int64_t r = 0; r < m; ++r) {
    float acc[16] = {};
    for (int64_t k = 0; k < K; ++k) {
      const float a = A[r * lda + k];
      for (int64_t c = 0; c < width; ++c) acc[c] += a * B[k * ldb + c];
    }
    std::copy(acc, acc + cols, C + r * ldc);
  }
}

void tile_of_width(int64_t m, int64_t width, const float* A, int64_t lda, const float* B, int64_t ldb, int64_t K,
                   float* C, int64_t ldc, int64_t cols) {
  if (width == 16) return tile_rows<4>(m, A, lda, B, ldb, K, C, ldc, cols);
  if (width == 8) return tile_rows<2>(m, A, lda, B, ldb, K, C, ldc, cols);
  rows_narrow(m, width, A, lda, B, ldb, K, C, ldc, cols);
}

float bf16_to_float(uint16_t b) {
  const uint32_t u = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// IEEE binary16 to float, every case exact: normals rebias the exponent, subnormals are normalized, Inf/NaN keep
// their payload.
float f16_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1Fu, man = h & 0x3FFu, u;
  if (exp == 0x1Fu) {
    u = sign | 0x7F800000u | (man << 13);
  } else if (exp != 0) {
    u = sign | ((exp + 112u) << 23) | (man << 13);
  } else if (man == 0) {
    u = sign;
  } else {
    int e = -1;
    do {
      man <<= 1;
      ++e;
    } while ((man & 0x400u) == 0);
    u = sign | (static_cast<uint32_t>(112 - e) << 23) | ((man & 0x3FFu) << 13);
  }
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

void widen_scalar(bool bf16, const uint16_t* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = bf16 ? bf16_to_float(src[i]) : f16_to_float(src[i]);
}

}  // namespace

void gemm_tile(int64_t m, int64_t width, const float* A, int64_t lda, const float* B, int64_t ldb, int64_t K, float* C,
               int64_t ldc, int64_t cols) {
  tile_of_width(m, width, A, lda, B, ldb, K, C, ldc, cols);
}

void widen_16bit(bool bf16, const uint16_t* src, float* dst, int64_t n) { widen_scalar(bf16, src, dst, n); }

}  // namespace hl::kernels::portable
