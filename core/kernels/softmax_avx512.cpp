// AVX-512 softmax rows. Compiled with the AVX-512 flags (core/kernels/CMakeLists.txt). No std algorithms here
// (see softmax_avx2.cpp).
#include <immintrin.h>

#include <cstdint>

#include "core/kernels/exp_avx512.h"
#include "core/kernels/isa_kernels.h"

namespace hl::kernels::avx512 {

// The 16 lanes of v folded into one (their max, or their sum), halves in registers: four dependent steps, where a
// pass over the lanes in memory was sixteen (a third of a row's softmax at a few hundred keys).
// (Masked forms with all lanes throughout: the plain intrinsics draw GCC 12 -Wmaybe-uninitialized false positives.)
template <bool Max>
__attribute__((always_inline)) inline __m512 fold_step_avx512(__m512 a, __m512 b) {
  if constexpr (Max) return _mm512_mask_max_ps(a, 0xFFFF, a, b);
  else return _mm512_mask_add_ps(a, 0xFFFF, a, b);
}
template <bool Max>
__attribute__((always_inline)) inline float fold16_avx512(__m512 v) {
  const __mmask16 all = 0xFFFF;
  v = fold_step_avx512<Max>(v, _mm512_mask_shuffle_f32x4(v, all, v, v, _MM_SHUFFLE(1, 0, 3, 2)));  // 256-bit halves
  v = fold_step_avx512<Max>(v, _mm512_mask_shuffle_f32x4(v, all, v, v, _MM_SHUFFLE(2, 3, 0, 1)));  // quarters
  v = fold_step_avx512<Max>(v, _mm512_mask_permute_ps(v, all, v, _MM_SHUFFLE(1, 0, 3, 2)));        // pairs
  v = fold_step_avx512<Max>(v, _mm512_mask_permute_ps(v, all, v, _MM_SHUFFLE(2, 3, 0, 1)));        // neighbours
  return _mm512_cvtss_f32(v);
}

// The same row on 16 lanes (where the CPU has AVX-512): the lanes' partial sums differ from the AVX2 kernel's
// in rounding only.
void softmax_row(const float* s, float* p, int64_t n, int64_t lo, int64_t hi) {
  // Whole vectors, then one masked vector for the last hi - lo mod 16 keys: every key takes the same vector exp
  // (a scalar std::exp tail cost as much as the vector body on rows of a few hundred keys).
  const __mmask16 all = 0xFFFF;
  const int64_t body = lo + (hi - lo) / 16 * 16;
  const __mmask16 tail = static_cast<__mmask16>((1u << (hi - body)) - 1u);
  const __m512 ninf = _mm512_set1_ps(-kInfinity);
  __m512 vmx = ninf;
  int64_t k = lo;
  for (; k < body; k += 16) vmx = _mm512_mask_max_ps(vmx, all, vmx, _mm512_loadu_ps(s + k));
  vmx = _mm512_mask_max_ps(vmx, all, vmx, _mm512_mask_loadu_ps(ninf, tail, s + body));
  // Folded by hand: GCC 12's _mm512_reduce_* draw -Wuninitialized false positives.
  const float mx = fold16_avx512<true>(vmx);

  const __m512 vm = _mm512_set1_ps(mx);
  __m512 vsum = _mm512_setzero_ps();
  for (k = lo; k < body; k += 16) {
    const __m512 e = exp_avx512(_mm512_sub_ps(_mm512_loadu_ps(s + k), vm));
    _mm512_storeu_ps(p + k, e);
    vsum = _mm512_add_ps(vsum, e);
  }
  if (tail) {
    const __m512 e = _mm512_maskz_mov_ps(tail, exp_avx512(_mm512_sub_ps(_mm512_maskz_loadu_ps(tail, s + body), vm)));
    _mm512_mask_storeu_ps(p + body, tail, e);
    vsum = _mm512_add_ps(vsum, e);
  }
  const float sum = fold16_avx512<false>(vsum);
  const __m512 vinv = _mm512_set1_ps(1.0f / sum);
  for (k = lo; k < body; k += 16) _mm512_storeu_ps(p + k, _mm512_mul_ps(_mm512_loadu_ps(p + k), vinv));
  if (tail) _mm512_mask_storeu_ps(p + body, tail, _mm512_mul_ps(_mm512_maskz_loadu_ps(tail, p + body), vinv));
  fill_zero(p, p + lo);
  fill_zero(p + hi, p + n);
}

}  // namespace hl::kernels::avx512
