#include "core/engine/small_linear.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "core/engine/fused_ops.h"

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

// One row of x (the LM head of a decode step or of a prefill's last position, bandwidth-bound): four weight rows
// at a time on AVX-512, two accumulators each, so eight independent sums hide the FMA latency and the weight
// stream never waits on one dependent chain.
// The sum of a row's two accumulators and its last in % 32 products.
__attribute__((target("avx512f"))) inline float finish_row(__m512 a, __m512 b, const float* wr, const float* x,
                                                           int64_t body, int64_t in) {
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, _mm512_add_ps(a, b));
  float s = 0;
  for (float v : lanes) s += v;
  for (int64_t k = body; k < in; ++k) s += wr[k] * x[k];
  return s;
}

__attribute__((target("avx512f"))) void row1_avx512(const float* w, const float* x, float* y, int64_t o0, int64_t o1,
                                                    int64_t in, int64_t) {
  const int64_t body = in / 32 * 32;
  int64_t o = o0;
  for (; o + 4 <= o1; o += 4) {
    const float* w0 = w + o * in;
    const float* w1 = w0 + in;
    const float* w2 = w1 + in;
    const float* w3 = w2 + in;
    __m512 a0 = _mm512_setzero_ps(), b0 = a0, a1 = a0, b1 = a0, a2 = a0, b2 = a0, a3 = a0, b3 = a0;
    for (int64_t i = 0; i < body; i += 32) {
      const __m512 xa = _mm512_loadu_ps(x + i), xb = _mm512_loadu_ps(x + i + 16);
      a0 = _mm512_fmadd_ps(_mm512_loadu_ps(w0 + i), xa, a0);
      b0 = _mm512_fmadd_ps(_mm512_loadu_ps(w0 + i + 16), xb, b0);
      a1 = _mm512_fmadd_ps(_mm512_loadu_ps(w1 + i), xa, a1);
      b1 = _mm512_fmadd_ps(_mm512_loadu_ps(w1 + i + 16), xb, b1);
      a2 = _mm512_fmadd_ps(_mm512_loadu_ps(w2 + i), xa, a2);
      b2 = _mm512_fmadd_ps(_mm512_loadu_ps(w2 + i + 16), xb, b2);
      a3 = _mm512_fmadd_ps(_mm512_loadu_ps(w3 + i), xa, a3);
      b3 = _mm512_fmadd_ps(_mm512_loadu_ps(w3 + i + 16), xb, b3);
    }
    y[o] = finish_row(a0, b0, w0, x, body, in);
    y[o + 1] = finish_row(a1, b1, w1, x, body, in);
    y[o + 2] = finish_row(a2, b2, w2, x, body, in);
    y[o + 3] = finish_row(a3, b3, w3, x, body, in);
  }
  for (; o < o1; ++o) {
    const float* wr = w + o * in;
    __m512 a = _mm512_setzero_ps(), b = a;
    for (int64_t i = 0; i < body; i += 32) {
      a = _mm512_fmadd_ps(_mm512_loadu_ps(wr + i), _mm512_loadu_ps(x + i), a);
      b = _mm512_fmadd_ps(_mm512_loadu_ps(wr + i + 16), _mm512_loadu_ps(x + i + 16), b);
    }
    y[o] = finish_row(a, b, wr, x, body, in);
  }
}

bool have_avx512() {
  static const bool ok = __builtin_cpu_supports("avx512f");
  return ok;
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
  if constexpr (R == 1) {
    if (avx512_kernels_on() && have_avx512()) return row1_avx512;
  }
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
