#include "core/engine/small_linear.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace hl::engine {
namespace {

// Rows [o0, o1) of y[r, o] = sum_i w[o, i] x[r, i] for R rows of x.
template <int R>
void rows_generic(const float* w, const float* x, float* y, int64_t o0, int64_t o1, int64_t in, int64_t out) {
  for (int64_t o = o0; o < o1; ++o) {
    const float* wr = w + o * in;
    for (int r = 0; r < R; ++r) {
      const float* xr = x + r * in;
      float acc = 0;
      for (int64_t i = 0; i < in; ++i) acc += wr[i] * xr[i];
      y[r * out + o] = acc;
    }
  }
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

template <int R>
__attribute__((target("avx2,fma"))) void rows_avx2(const float* w, const float* x, float* y, int64_t o0, int64_t o1,
                                                    int64_t in, int64_t out) {
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

bool have_avx2() {
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return ok;
}
#endif

using RowsFn = void (*)(const float*, const float*, float*, int64_t, int64_t, int64_t, int64_t);

template <int R>
RowsFn pick() {
#if defined(__x86_64__)
  if (have_avx2()) return rows_avx2<R>;
#endif
  return rows_generic<R>;
}

RowsFn kernel_for(int64_t rows) {
  switch (rows) {
    case 1: return pick<1>();
    case 2: return pick<2>();
    case 3: return pick<3>();
    case 4: return pick<4>();
    case 5: return pick<5>();
    case 6: return pick<6>();
    case 7: return pick<7>();
    default: return pick<8>();
  }
}

}  // namespace

bool small_linear_applies(const at::Tensor& x, const at::Tensor& w) {
  if (!x.device().is_cpu() || x.scalar_type() != at::kFloat || w.scalar_type() != at::kFloat || !w.is_contiguous() ||
      w.dim() != 2)
    return false;
  const int64_t in = x.size(-1);
  return in == w.size(1) && x.numel() / std::max<int64_t>(in, 1) <= kSmallLinearMaxRows;
}

at::Tensor small_linear(const at::Tensor& x_in, const at::Tensor& w, const at::Tensor& b) {
  const int64_t in = w.size(1), out = w.size(0);
  at::Tensor x = x_in.reshape({-1, in}).contiguous();
  const int64_t rows = x.size(0);
  at::Tensor y = at::empty({rows, out}, x.options());
  const RowsFn fn = kernel_for(rows);
  const float* wp = w.data_ptr<float>();
  const float* xp = x.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  // Enough weight rows per task that a task streams ~64 KB.
  const int64_t grain = std::max<int64_t>(8, (16 << 10) / std::max<int64_t>(in, 1));
  at::parallel_for(0, out, grain, [&](int64_t o0, int64_t o1) { fn(wp, xp, yp, o0, o1, in, out); });
  if (b.defined()) y.add_(b);
  std::vector<int64_t> shape(x_in.sizes().begin(), x_in.sizes().end());
  shape.back() = out;
  return y.view(shape);
}

}  // namespace hl::engine
