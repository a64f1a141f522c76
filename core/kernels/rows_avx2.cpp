// AVX2 + FMA row kernels: small-batch linear rows and one row of head statistics. Compiled with the AVX2 flags
// (core/kernels/CMakeLists.txt).
#include <immintrin.h>

#include <cstdint>

#include "core/kernels/isa_kernels.h"
#include "core/kernels/isa_local.h"

namespace hl::kernels::avx2 {
namespace {

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

template <int R>
void rows_avx2(const float* w, const float* x, float* y, int64_t o0, int64_t o1, int64_t in, int64_t out) {
  for (int64_t o = o0; o < o1; ++o) {
    const float* wr = w + o * in;
    __m256 acc[R][2];
    for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= in; i += 16) {
      const __m256 w0 = _mm256_loadu_ps(wr + i), w1 = _mm256_loadu_ps(wr + i + 8);
      for (int r = 0; r < R; ++r) {
        acc[r][0] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + r * in + i), acc[r][0]);
        acc[r][1] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + r * in + i + 8), acc[r][1]);
      }
    }
    for (int r = 0; r < R; ++r) {
      float s = hsum(_mm256_add_ps(acc[r][0], acc[r][1]));
      for (int64_t k = i; k < in; ++k) s += wr[k] * x[r * in + k];
      y[r * out + o] = s;
    }
  }
}

}  // namespace

SmallLinearRowsFn small_linear_rows(int rows) {
  switch (rows) {
    case 1: return rows_avx2<1>;
    case 2: return rows_avx2<2>;
    case 3: return rows_avx2<3>;
    case 4: return rows_avx2<4>;
    case 5: return rows_avx2<5>;
    case 6: return rows_avx2<6>;
    case 7: return rows_avx2<7>;
    default: return rows_avx2<8>;
  }
}

RowStats head_stats_row(const float* p, const float* s, const float* m, int64_t n, float* received) {
  __m256 span = _mm256_setzero_ps(), ps = _mm256_setzero_ps(), mp = _mm256_setzero_ps();
  __m256 ms = _mm256_set1_ps(kLowest);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 pv = _mm256_loadu_ps(p + j), sv = _mm256_loadu_ps(s + j);
    _mm256_storeu_ps(received + j, _mm256_add_ps(_mm256_loadu_ps(received + j), pv));
    span = _mm256_fmadd_ps(pv, _mm256_loadu_ps(m + j), span);
    ps = _mm256_fmadd_ps(pv, sv, ps);
    mp = _mm256_max_ps(mp, pv);
    ms = _mm256_max_ps(ms, sv);
  }
  alignas(32) float a[8], b[8], c[8], d[8];
  _mm256_store_ps(a, span);
  _mm256_store_ps(b, ps);
  _mm256_store_ps(c, mp);
  _mm256_store_ps(d, ms);
  float fspan = 0, fps = 0, fmp = 0, fms = kLowest;
  for (int k = 0; k < 8; ++k) {
    fspan += a[k];
    fps += b[k];
    fmp = max_of(fmp, c[k]);
    fms = max_of(fms, d[k]);
  }
  for (; j < n; ++j) {
    received[j] += p[j];
    fspan += p[j] * m[j];
    fps += p[j] * s[j];
    fmp = max_of(fmp, p[j]);
    fms = max_of(fms, s[j]);
  }
  return {fspan, fmp, fms - logf(fmp) - fps, p[0]};
}

}  // namespace hl::kernels::avx2
