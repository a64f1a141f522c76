// Vector exp for the AVX-512 kernels: Cody-Waite range reduction and a degree-6 polynomial (Cephes expf), about 1 ulp;
// inputs below -87.3 give 0 (the true value underflows to about that), inputs above 88.7 give +inf. The AVX2 and
// AVX-512 versions run the same operations in the same order, so a value gets the same result from either.
// Include only from files compiled with the AVX-512F flags (core/kernels/CMakeLists.txt).
#pragma once
#if !(defined(__AVX512F__))
#error "exp_avx512.h: include only from files compiled with the AVX-512F flags"
#endif
#include <immintrin.h>

#include "core/kernels/isa_local.h"

namespace hl::kernels::avx512 {

// GCC 12's plain forms of max/min/roundscale/cvtps (_mm512_undefined_ps inside) draw -Wuninitialized false
// positives once inlined; the masked forms with an all-ones mask are the same instructions.
inline __m512 exp_avx512(__m512 x) {
  const __mmask16 all = 0xFFFF;
  const __m512 lo = _mm512_set1_ps(-87.3f), hi = _mm512_set1_ps(88.7f);
  const __mmask16 under = _mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ), over = _mm512_cmp_ps_mask(x, hi, _CMP_GT_OQ);
  x = _mm512_mask_min_ps(x, all, _mm512_mask_max_ps(x, all, x, lo), hi);
  const __m512 fx = _mm512_mask_roundscale_ps(x, all, _mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                              _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(fx, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(fx, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 y = _mm512_set1_ps(1.9875691500E-4f);
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.3981999507E-3f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(8.3334519073E-3f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(4.1665795894E-2f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.6666665459E-1f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(5.0000001201E-1f));
  y = _mm512_fmadd_ps(y, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  const __m512i e = _mm512_mask_slli_epi32(_mm512_setzero_si512(), all,
                                           _mm512_add_epi32(_mm512_mask_cvtps_epi32(_mm512_setzero_si512(), all, fx), _mm512_set1_epi32(127)), 23);
  y = _mm512_mul_ps(y, _mm512_castsi512_ps(e));
  y = _mm512_mask_blend_ps(over, y, _mm512_set1_ps(kInfinity));
  return _mm512_maskz_mov_ps(static_cast<__mmask16>(~under), y);
}

// silu(g) * u = g / (1 + exp(-g)) * u, as the AVX2 path (softmax_avx2.cpp) computes it.
inline __m512 silu_mul_avx512(__m512 g, __m512 u) {
  const __m512 s = _mm512_div_ps(g, _mm512_add_ps(_mm512_set1_ps(1.0f), exp_avx512(_mm512_sub_ps(_mm512_setzero_ps(), g))));
  return _mm512_mul_ps(s, u);
}

}  // namespace hl::kernels::avx512
