// AVX-512 RMSNorm rows and the QKV product's rotary tile. Compiled with the AVX-512 flags and -ffp-contract=off
// (core/kernels/CMakeLists.txt): GCC fuses the rotation's vector multiplications and additions otherwise (its
// intrinsics are plain vector arithmetic), and the tile must give the floats of the product followed by the rotation
// pass (norm_rope_avx2.cpp / norm_rope_portable.cpp). The explicit FMAs of the product stay FMAs.
#include <immintrin.h>

#include <math.h>

#include <cstdint>

#include "core/kernels/isa_kernels.h"
#include "core/kernels/packed_tiles_avx512.h"

namespace hl::kernels::avx512 {
namespace {

// A RopePairs tile of rows [m0, m0 + MR): panel 0 holds features f0.. (a head's first rotary half, or 16 values),
// panel 1 features f1.. (the same dims of the second half, or the next 16 values). Queries and keys are rotated in
// registers (x1 c - x2 s, x2 c + x1 s: multiplications and additions as written, no fused multiply-add, as
// fused_rope_to_cache computes them), queries scaled; keys and values go to their cache rows. No fp contraction (this
// file's -ffp-contract=off): the same floats as the product followed by the rotation pass.
template <int MR, typename W>
void tile_rope_avx512(
    const float* A, int64_t lda, const void* B, int64_t pstride, int64_t K, const RopeOut& ro, int64_t m0,
    int64_t f0, int64_t f1, const float* bias0, const float* bias1) {
  __m512 c[MR][2];
  accumulate_avx512<MR, 2>(A, lda, static_cast<const W*>(B), pstride, K, c);
  const __m512 bv0 = bias0 ? _mm512_loadu_ps(bias0) : _mm512_setzero_ps();
  const __m512 bv1 = bias1 ? _mm512_loadu_ps(bias1) : _mm512_setzero_ps();
  const bool value = f0 >= ro.k_end, query = f0 < ro.q_features;
  const int64_t g = value ? f0 - ro.k_end : query ? f0 : f0 - ro.q_features;  // feature within its part
  const int64_t head = g / ro.hd, d0 = g % ro.hd, d1 = d0 + (f1 - f0);
  for (int i = 0; i < MR; ++i) {
    const int64_t m = m0 + i, b = m / ro.T, t = m % ro.T;
    const __m512 x1 = bias0 ? _mm512_add_ps(c[i][0], bv0) : c[i][0];
    const __m512 x2 = bias0 ? _mm512_add_ps(c[i][1], bv1) : c[i][1];
    if (value) {
      float* dst = ro.vc + b * ro.vc0 + head * ro.vc1 + (ro.pos0 + t) * ro.vc2;
      _mm512_storeu_ps(dst + d0, x1);
      _mm512_storeu_ps(dst + d1, x2);
      continue;
    }
    const __m512 cs = _mm512_loadu_ps(ro.cos + t * ro.half + d0), sn = _mm512_loadu_ps(ro.sin + t * ro.half + d0);
    __m512 y1 = _mm512_sub_ps(_mm512_mul_ps(x1, cs), _mm512_mul_ps(x2, sn));
    __m512 y2 = _mm512_add_ps(_mm512_mul_ps(x2, cs), _mm512_mul_ps(x1, sn));
    if (query) {
      const __m512 sc = _mm512_set1_ps(ro.q_scale);
      _mm512_storeu_ps(ro.q + m * ro.q_features + f0, _mm512_mul_ps(y1, sc));
      _mm512_storeu_ps(ro.q + m * ro.q_features + f1, _mm512_mul_ps(y2, sc));
    } else {
      float* dst = ro.kc + b * ro.kc0 + head * ro.kc1 + (ro.pos0 + t) * ro.kc2;
      _mm512_storeu_ps(dst + d0, y1);
      _mm512_storeu_ps(dst + d1, y2);
    }
  }
}

template <typename W>
RopeTile rope_tile_of(int64_t mr) {
  switch (mr) {
    case 1: return tile_rope_avx512<1, W>;
    case 2: return tile_rope_avx512<2, W>;
    case 3: return tile_rope_avx512<3, W>;
    case 4: return tile_rope_avx512<4, W>;
    case 5: return tile_rope_avx512<5, W>;
    case 6: return tile_rope_avx512<6, W>;
    case 7: return tile_rope_avx512<7, W>;
    default: return tile_rope_avx512<8, W>;
  }
}

}  // namespace

// The same on AVX-512: sixteen double partial sums (a float's square is exact in double, so the fused
// multiply-add rounds only the sum, as the generic loop does), then the same float products.
void rms_norm_row(const float* xr, const float* wp, float* yr, int64_t D, float eps) {
  __m512d p0 = _mm512_setzero_pd(), p1 = _mm512_setzero_pd();
  int64_t i = 0;
  for (; i + 16 <= D; i += 16) {
    // Masked forms (all lanes): GCC 12's plain cvtps_pd draws a -Wmaybe-uninitialized false positive.
    const __m512d a = _mm512_mask_cvtps_pd(_mm512_setzero_pd(), 0xFF, _mm256_loadu_ps(xr + i));
    const __m512d b = _mm512_mask_cvtps_pd(_mm512_setzero_pd(), 0xFF, _mm256_loadu_ps(xr + i + 8));
    p0 = _mm512_fmadd_pd(a, a, p0);
    p1 = _mm512_fmadd_pd(b, b, p1);
  }
  alignas(64) double lanes[8];
  _mm512_store_pd(lanes, _mm512_add_pd(p0, p1));
  double ss = ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
  for (; i < D; ++i) ss += static_cast<double>(xr[i]) * xr[i];
  const float var = static_cast<float>(ss / static_cast<double>(D));
  const float inv = 1.0f / sqrtf(var + eps);
  const __m512 vinv = _mm512_set1_ps(inv);
  for (i = 0; i + 16 <= D; i += 16)
    _mm512_storeu_ps(yr + i, _mm512_mul_ps(_mm512_loadu_ps(wp + i), _mm512_mul_ps(_mm512_loadu_ps(xr + i), vinv)));
  for (; i < D; ++i) yr[i] = wp[i] * (xr[i] * inv);
}

RopeTile rope_tile(PanelType type, int64_t mr) {
  switch (type) {
    case PanelType::F32: return rope_tile_of<float>(mr);
    case PanelType::BF16: return rope_tile_of<Bf16>(mr);
    case PanelType::F16: break;
  }
  return rope_tile_of<F16>(mr);
}

}  // namespace hl::kernels::avx512
