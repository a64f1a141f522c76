// AVX2 + FMA softmax rows and the gated MLP's SiLU. Compiled with the AVX2 flags (core/kernels/CMakeLists.txt).
// No std algorithms here: an out-of-line copy of one compiled with these flags could be the one the linker keeps for
// the portable files too.
#include <immintrin.h>

#include <cstdint>

#include "core/kernels/exp_avx2.h"
#include "core/kernels/isa_kernels.h"

namespace hl::kernels::avx2 {

// out[i] = silu(g[i]) * u[i] = g / (1 + exp(-g)) * u, as ATen's silu followed by the product.
void silu_mul(const float* g, const float* u, float* out, int64_t n) {
  int64_t i = 0;
  const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
  for (; i + 8 <= n; i += 8) {
    const __m256 x = _mm256_loadu_ps(g + i);
    const __m256 s = _mm256_div_ps(x, _mm256_add_ps(one, exp_avx2(_mm256_sub_ps(zero, x))));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(s, _mm256_loadu_ps(u + i)));
  }
  for (; i < n; ++i) out[i] = g[i] / (1.0f + exp_of(-g[i])) * u[i];
}

void softmax_row(const float* s, float* p, int64_t n, int64_t lo, int64_t hi) {
  int64_t k = lo;
  __m256 vmx = _mm256_set1_ps(-kInfinity);
  for (; k + 8 <= hi; k += 8) vmx = _mm256_max_ps(vmx, _mm256_loadu_ps(s + k));
  __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(vmx), _mm256_extractf128_ps(vmx, 1));
  m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
  m4 = _mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1));
  float mx = _mm_cvtss_f32(m4);
  for (; k < hi; ++k) mx = max_of(mx, s[k]);

  const __m256 vm = _mm256_set1_ps(mx);
  __m256 vsum = _mm256_setzero_ps();
  for (k = lo; k + 8 <= hi; k += 8) {
    const __m256 e = exp_avx2(_mm256_sub_ps(_mm256_loadu_ps(s + k), vm));
    _mm256_storeu_ps(p + k, e);
    vsum = _mm256_add_ps(vsum, e);
  }
  __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(vsum), _mm256_extractf128_ps(vsum, 1));
  s4 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  s4 = _mm_add_ss(s4, _mm_shuffle_ps(s4, s4, 1));
  float sum = _mm_cvtss_f32(s4);
  for (; k < hi; ++k) {
    const float e = exp_of(s[k] - mx);
    p[k] = e;
    sum += e;
  }
  const float inv = 1.0f / sum;
  const __m256 vinv = _mm256_set1_ps(inv);
  for (k = lo; k + 8 <= hi; k += 8) _mm256_storeu_ps(p + k, _mm256_mul_ps(_mm256_loadu_ps(p + k), vinv));
  for (; k < hi; ++k) p[k] *= inv;
  fill_zero(p, p + lo);
  fill_zero(p + hi, p + n);
}

}  // namespace hl::kernels::avx2
