// AVX2 rotary embedding (the interleaved style runs the portable loop). Compiled with the AVX2 flags and
// -ffp-contract=off (core/kernels/CMakeLists.txt): multiplications and additions as written, no fused multiply-add,
// so the rotation gives the floats of the portable kernel and of the AVX-512 QKV tile.
#include <immintrin.h>

#include <cstdint>

#include "core/kernels/isa_kernels.h"

namespace hl::kernels::avx2 {

void rotate_head(const float* x, float* y, const float* c, const float* s, int64_t half, int64_t hd, bool interleaved,
                 float scale) {
  if (interleaved) return portable::rotate_head(x, y, c, s, half, hd, interleaved, scale);
  const __m256 vs = _mm256_set1_ps(scale);
  int64_t i = 0;
  for (; i + 8 <= half; i += 8) {
    const __m256 x1 = _mm256_loadu_ps(x + i), x2 = _mm256_loadu_ps(x + i + half);
    const __m256 ci = _mm256_loadu_ps(c + i), si = _mm256_loadu_ps(s + i);
    _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_sub_ps(_mm256_mul_ps(x1, ci), _mm256_mul_ps(x2, si)), vs));
    _mm256_storeu_ps(y + i + half, _mm256_mul_ps(_mm256_add_ps(_mm256_mul_ps(x2, ci), _mm256_mul_ps(x1, si)), vs));
  }
  for (; i < half; ++i) {  // the last half mod 8 dims, as portable::rotate_head computes them
    const float a = x[i], b = x[i + half];
    y[i] = (a * c[i] - b * s[i]) * scale;
    y[i + half] = (b * c[i] + a * s[i]) * scale;
  }
  for (i = 2 * half; i < hd; ++i) y[i] = x[i] * scale;
}

}  // namespace hl::kernels::avx2
