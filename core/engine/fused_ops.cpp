#include "core/engine/fused_ops.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "core/engine/simd_math.h"
#include "core/error.h"

namespace hl::engine {
namespace {

bool cpu_float(const at::Tensor& t) { return t.device().is_cpu() && t.scalar_type() == at::kFloat; }

// n floats in buf, starting at a 64-byte boundary (returned): vector loads and stores of whole rows then never
// straddle two cache lines. A std::vector's floats start wherever malloc puts them, a 16-byte boundary; the
// attention's transposed keys read that way took 1.7 x as long in the re-run.
float* aligned_floats(std::vector<float>& buf, int64_t n) {
  buf.resize(static_cast<size_t>(n + 16));
  const auto misalign = reinterpret_cast<uintptr_t>(buf.data()) % 64 / sizeof(float);
  return buf.data() + (16 - misalign) % 16;
}

// Grain of the row loops: enough work per task that the thread hand-off is amortised.
int64_t grain_for(int64_t row_elems) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(row_elems, 1)); }

// at::parallel_for over [0, n) with the chunks of `grain` items handed out from a shared counter instead of one
// static share per thread: on this shared VM one core often runs slower for a while, and a static split then
// waits for it at the region's end. Inline when there is one chunk, one thread, or already a parallel region.
template <class F>
void dynamic_for(int64_t n, int64_t grain, const F& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  if (n <= grain || at::get_num_threads() == 1 || at::in_parallel_region()) {
    fn(int64_t{0}, n);
    return;
  }
  std::atomic<int64_t> next{0};
  at::parallel_for(0, at::get_num_threads(), 1, [&](int64_t, int64_t) {
    for (int64_t i0 = next.fetch_add(grain); i0 < n; i0 = next.fetch_add(grain)) fn(i0, std::min(n, i0 + grain));
  });
}

// ------------------------------------------------------------------------------------------ softmax row kernel

// p[k] = exp(s[k] - max) / sum over [lo, hi); p = 0 outside. p may equal s.
void softmax_row_generic(const float* s, float* p, int64_t n, int64_t lo, int64_t hi) {
  float mx = -std::numeric_limits<float>::infinity();
  for (int64_t k = lo; k < hi; ++k) mx = std::max(mx, s[k]);
  // The sum in double: one float running sum over hundreds of keys drifts by several ulp (ATen and the AVX2
  // kernel sum in lanes).
  double sum = 0;
  for (int64_t k = lo; k < hi; ++k) {
    const float e = std::exp(s[k] - mx);
    p[k] = e;
    sum += e;
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t k = lo; k < hi; ++k) p[k] *= inv;
  std::fill(p, p + lo, 0.0f);
  std::fill(p + hi, p + n, 0.0f);
}

#if defined(__x86_64__)
// out[i] = silu(g[i]) * u[i] = g / (1 + exp(-g)) * u, as ATen's silu followed by the product.
__attribute__((target("avx2,fma"))) void silu_mul_avx2(const float* g, const float* u, float* out, int64_t n) {
  int64_t i = 0;
  const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
  for (; i + 8 <= n; i += 8) {
    const __m256 x = _mm256_loadu_ps(g + i);
    const __m256 s = _mm256_div_ps(x, _mm256_add_ps(one, exp_avx2(_mm256_sub_ps(zero, x))));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(s, _mm256_loadu_ps(u + i)));
  }
  for (; i < n; ++i) out[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

__attribute__((target("avx2,fma"))) void softmax_row_avx2(const float* s, float* p, int64_t n, int64_t lo, int64_t hi) {
  int64_t k = lo;
  __m256 vmx = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  for (; k + 8 <= hi; k += 8) vmx = _mm256_max_ps(vmx, _mm256_loadu_ps(s + k));
  __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(vmx), _mm256_extractf128_ps(vmx, 1));
  m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
  m4 = _mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1));
  float mx = _mm_cvtss_f32(m4);
  for (; k < hi; ++k) mx = std::max(mx, s[k]);

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
    const float e = std::exp(s[k] - mx);
    p[k] = e;
    sum += e;
  }
  const float inv = 1.0f / sum;
  const __m256 vinv = _mm256_set1_ps(inv);
  for (k = lo; k + 8 <= hi; k += 8) _mm256_storeu_ps(p + k, _mm256_mul_ps(_mm256_loadu_ps(p + k), vinv));
  for (; k < hi; ++k) p[k] *= inv;
  std::fill(p, p + lo, 0.0f);
  std::fill(p + hi, p + n, 0.0f);
}

// The 16 lanes of v folded into one (their max, or their sum), halves in registers: four dependent steps, where a
// pass over the lanes in memory was sixteen (a third of a row's softmax at a few hundred keys).
// (Masked forms with all lanes throughout: the plain intrinsics draw GCC 12 -Wmaybe-uninitialized false positives.)
template <bool Max>
__attribute__((target("avx512f"), always_inline)) inline __m512 fold_step_avx512(__m512 a, __m512 b) {
  if constexpr (Max) return _mm512_mask_max_ps(a, 0xFFFF, a, b);
  else return _mm512_mask_add_ps(a, 0xFFFF, a, b);
}
template <bool Max>
__attribute__((target("avx512f"), always_inline)) inline float fold16_avx512(__m512 v) {
  const __mmask16 all = 0xFFFF;
  v = fold_step_avx512<Max>(v, _mm512_mask_shuffle_f32x4(v, all, v, v, _MM_SHUFFLE(1, 0, 3, 2)));  // 256-bit halves
  v = fold_step_avx512<Max>(v, _mm512_mask_shuffle_f32x4(v, all, v, v, _MM_SHUFFLE(2, 3, 0, 1)));  // quarters
  v = fold_step_avx512<Max>(v, _mm512_mask_permute_ps(v, all, v, _MM_SHUFFLE(1, 0, 3, 2)));        // pairs
  v = fold_step_avx512<Max>(v, _mm512_mask_permute_ps(v, all, v, _MM_SHUFFLE(2, 3, 0, 1)));        // neighbours
  return _mm512_cvtss_f32(v);
}

// The same row on 16 lanes (where the CPU has AVX-512): the lanes' partial sums differ from the AVX2 kernel's
// in rounding only.
__attribute__((target("avx512f"))) void softmax_row_avx512(const float* s, float* p, int64_t n, int64_t lo,
                                                           int64_t hi) {
  // Whole vectors, then one masked vector for the last hi - lo mod 16 keys: every key takes the same vector exp
  // (a scalar std::exp tail cost as much as the vector body on rows of a few hundred keys).
  const __mmask16 all = 0xFFFF;
  const int64_t body = lo + (hi - lo) / 16 * 16;
  const __mmask16 tail = static_cast<__mmask16>((1u << (hi - body)) - 1u);
  const __m512 ninf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
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
  std::fill(p, p + lo, 0.0f);
  std::fill(p + hi, p + n, 0.0f);
}

__attribute__((target("avx2,fma"))) float dot_avx2(const float* a, const float* b, int64_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
  }
  __m256 acc = _mm256_add_ps(acc0, acc1);
  __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
  s4 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  s4 = _mm_add_ss(s4, _mm_shuffle_ps(s4, s4, 1));
  float s = _mm_cvtss_f32(s4);
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

// y += alpha * x
__attribute__((target("avx2,fma"))) void axpy_avx2(float alpha, const float* x, float* y, int64_t n) {
  const __m256 va = _mm256_set1_ps(alpha);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] += alpha * x[i];
}

// The register tile of the attention products: C[r][0, W) = sum over k < K of A[r * lda + k] * B[k * ldb + c]
// for r < MR rows and W = 8 * NV columns, of which the first `cols` are stored. QK^T runs it with A = query rows
// and B = the keys packed transposed; PV with A = probability rows and B = the value rows themselves.
template <int MR, int NV>
__attribute__((target("avx2,fma"))) void tile_avx2(const float* A, int64_t lda, const float* B, int64_t ldb, int64_t K,
                                                   float* C, int64_t ldc, int64_t cols) {
  static_assert(MR >= 1 && MR <= 6 && (NV == 1 || NV == 2), "tile: up to 6 rows of 8 or 16 columns");
  // One named accumulator per (row, 8 columns): GCC keeps an array of vectors in memory and stores it on every
  // iteration; named variables stay in registers (12 of the 16).
  const __m256 z = _mm256_setzero_ps();
  __m256 c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z, c40 = z, c41 = z, c50 = z, c51 = z;
  for (int64_t k = 0; k < K; ++k) {
    const float* bk = B + k * ldb;
    const __m256 b0 = _mm256_loadu_ps(bk);
    const __m256 b1 = NV > 1 ? _mm256_loadu_ps(bk + 8) : z;
#define HL_TILE_ROW(r)                                             \
  if constexpr (MR > r) {                                         \
    const __m256 a = _mm256_broadcast_ss(A + r * lda + k);        \
    c##r##0 = _mm256_fmadd_ps(a, b0, c##r##0);                    \
    if constexpr (NV > 1) c##r##1 = _mm256_fmadd_ps(a, b1, c##r##1); \
  }
    HL_TILE_ROW(0) HL_TILE_ROW(1) HL_TILE_ROW(2) HL_TILE_ROW(3) HL_TILE_ROW(4) HL_TILE_ROW(5)
#undef HL_TILE_ROW
  }
  // Stores: whole rows, or the first `cols` columns through a buffer (masked stores are microcoded on AMD).
  alignas(32) float tmp[16];
#define HL_TILE_STORE(r)                                                     \
  if constexpr (MR > r) {                                                   \
    if (cols == 8 * NV) {                                                   \
      _mm256_storeu_ps(C + r * ldc, c##r##0);                               \
      if constexpr (NV > 1) _mm256_storeu_ps(C + r * ldc + 8, c##r##1);     \
    } else {                                                                \
      _mm256_store_ps(tmp, c##r##0);                                        \
      if constexpr (NV > 1) _mm256_store_ps(tmp + 8, c##r##1);              \
      for (int64_t c = 0; c < cols; ++c) C[r * ldc + c] = tmp[c];           \
    }                                                                       \
  }
  HL_TILE_STORE(0) HL_TILE_STORE(1) HL_TILE_STORE(2) HL_TILE_STORE(3) HL_TILE_STORE(4) HL_TILE_STORE(5)
#undef HL_TILE_STORE
}

// Rows in groups of up to 6 (12 accumulators: 6 rows x 16 columns), and 8-column tiles for narrow heads.
template <int NV>
__attribute__((target("avx2,fma"))) void rows_tile_avx2(int64_t m, const float* A, int64_t lda, const float* B,
                                                        int64_t ldb, int64_t K, float* C, int64_t ldc, int64_t cols) {
  switch (m) {
    case 1: return tile_avx2<1, NV>(A, lda, B, ldb, K, C, ldc, cols);
    case 2: return tile_avx2<2, NV>(A, lda, B, ldb, K, C, ldc, cols);
    case 3: return tile_avx2<3, NV>(A, lda, B, ldb, K, C, ldc, cols);
    case 4: return tile_avx2<4, NV>(A, lda, B, ldb, K, C, ldc, cols);
    case 5: return tile_avx2<5, NV>(A, lda, B, ldb, K, C, ldc, cols);
    default: return tile_avx2<6, NV>(A, lda, B, ldb, K, C, ldc, cols);
  }
}

__attribute__((target("avx2,fma"))) void attn_tile_avx2(int64_t m, int64_t width, const float* A, int64_t lda,
                                                       const float* B, int64_t ldb, int64_t K, float* C, int64_t ldc,
                                                       int64_t cols) {
  if (width == 16) rows_tile_avx2<2>(m, A, lda, B, ldb, K, C, ldc, cols);
  else rows_tile_avx2<1>(m, A, lda, B, ldb, K, C, ldc, cols);
}

bool have_avx2_fma() {
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return ok;
}

bool have_avx512() {
  static const bool ok = __builtin_cpu_supports("avx512f");
  return ok;
}

// The attention products' AVX-512 tile: C[r][0, n) = sum over k < K of A[r * lda + k] * B[k * ldb + c] for
// r < MR and n <= 16 NV columns (n > 16 (NV - 1)). Columns past n are neither read nor written (masked loads and
// stores), so B needs no padding. Up to 6 rows x 64 columns: 24 of the 32 zmm registers accumulate, in named
// variables (as in tile_avx2: GCC keeps an array of 24 vectors in memory and stores it on every iteration).
template <int MR, int NV>
__attribute__((target("avx512f"))) void attn_tile_avx512(const float* A, int64_t lda, const float* B, int64_t ldb,
                                                         int64_t K, float* C, int64_t ldc, int64_t n) {
  static_assert(MR >= 1 && MR <= 6 && NV >= 1 && NV <= 4, "tile: up to 6 rows of 16 to 64 columns");
  const int64_t tail = n - 16 * (NV - 1);
  const __mmask16 last = tail >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << tail) - 1u);
  const __mmask16 k0 = NV == 1 ? last : 0xFFFF, k1 = NV == 2 ? last : 0xFFFF, k2 = NV == 3 ? last : 0xFFFF, k3 = last;
  const __m512 z = _mm512_setzero_ps();
#define HL_ACC(r) __m512 c##r##0 = z, c##r##1 = z, c##r##2 = z, c##r##3 = z;
  HL_ACC(0) HL_ACC(1) HL_ACC(2) HL_ACC(3) HL_ACC(4) HL_ACC(5)
#undef HL_ACC
  for (int64_t k = 0; k < K; ++k) {
    const float* bk = B + k * ldb;
    const __m512 b0 = _mm512_maskz_loadu_ps(k0, bk);
    const __m512 b1 = NV > 1 ? _mm512_maskz_loadu_ps(k1, bk + 16) : z;
    const __m512 b2 = NV > 2 ? _mm512_maskz_loadu_ps(k2, bk + 32) : z;
    const __m512 b3 = NV > 3 ? _mm512_maskz_loadu_ps(k3, bk + 48) : z;
#define HL_ROW(r)                                                     \
  if constexpr (MR > r) {                                            \
    const __m512 a = _mm512_set1_ps(A[r * lda + k]);                 \
    c##r##0 = _mm512_fmadd_ps(a, b0, c##r##0);                       \
    if constexpr (NV > 1) c##r##1 = _mm512_fmadd_ps(a, b1, c##r##1); \
    if constexpr (NV > 2) c##r##2 = _mm512_fmadd_ps(a, b2, c##r##2); \
    if constexpr (NV > 3) c##r##3 = _mm512_fmadd_ps(a, b3, c##r##3); \
  }
    HL_ROW(0) HL_ROW(1) HL_ROW(2) HL_ROW(3) HL_ROW(4) HL_ROW(5)
#undef HL_ROW
  }
#define HL_STORE(r)                                                              \
  if constexpr (MR > r) {                                                       \
    float* cr = C + r * ldc;                                                    \
    _mm512_mask_storeu_ps(cr, k0, c##r##0);                                     \
    if constexpr (NV > 1) _mm512_mask_storeu_ps(cr + 16, k1, c##r##1);          \
    if constexpr (NV > 2) _mm512_mask_storeu_ps(cr + 32, k2, c##r##2);          \
    if constexpr (NV > 3) _mm512_mask_storeu_ps(cr + 48, k3, c##r##3);          \
  }
  HL_STORE(0) HL_STORE(1) HL_STORE(2) HL_STORE(3) HL_STORE(4) HL_STORE(5)
#undef HL_STORE
}

template <int NV>
void attn_rows_avx512(int64_t m, const float* A, int64_t lda, const float* B, int64_t ldb, int64_t K, float* C,
                      int64_t ldc, int64_t n) {
  switch (m) {
    case 1: return attn_tile_avx512<1, NV>(A, lda, B, ldb, K, C, ldc, n);
    case 2: return attn_tile_avx512<2, NV>(A, lda, B, ldb, K, C, ldc, n);
    case 3: return attn_tile_avx512<3, NV>(A, lda, B, ldb, K, C, ldc, n);
    case 4: return attn_tile_avx512<4, NV>(A, lda, B, ldb, K, C, ldc, n);
    case 5: return attn_tile_avx512<5, NV>(A, lda, B, ldb, K, C, ldc, n);
    default: return attn_tile_avx512<6, NV>(A, lda, B, ldb, K, C, ldc, n);
  }
}

// C[r][0, n) = A[r] . B for r < m (1..6): 64-column tiles, then one tile of 16, 32, 48 or 64 for the rest.
void attn_product_avx512(int64_t m, int64_t n, const float* A, int64_t lda, const float* B, int64_t ldb, int64_t K,
                         float* C, int64_t ldc) {
  int64_t c = 0;
  for (; c + 64 <= n; c += 64) attn_rows_avx512<4>(m, A, lda, B + c, ldb, K, C + c, ldc, 64);
  const int64_t rest = n - c;
  if (rest > 48) attn_rows_avx512<4>(m, A, lda, B + c, ldb, K, C + c, ldc, rest);
  else if (rest > 32) attn_rows_avx512<3>(m, A, lda, B + c, ldb, K, C + c, ldc, rest);
  else if (rest > 16) attn_rows_avx512<2>(m, A, lda, B + c, ldb, K, C + c, ldc, rest);
  else if (rest > 0) attn_rows_avx512<1>(m, A, lda, B + c, ldb, K, C + c, ldc, rest);
}
#endif

void silu_mul_generic(const float* g, const float* u, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

float dot_generic(const float* a, const float* b, int64_t n) {
  float s = 0;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

void axpy_generic(float alpha, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

// m rows by W columns (`cols` of them stored) of the same product, portably. A compile-time width lets the
// compiler vectorise the column loop with the baseline instruction set (SSE2, NEON).
template <int W>
void tile_generic(int64_t m, const float* A, int64_t lda, const float* B, int64_t ldb, int64_t K, float* C,
                  int64_t ldc, int64_t cols) {
  for (int64_t r = 0; r < m; ++r) {
    float acc[W] = {};
    for (int64_t k = 0; k < K; ++k) {
      const float a = A[r * lda + k];
      const float* b = B + k * ldb;
      for (int c = 0; c < W; ++c) acc[c] += a * b[c];
    }
    std::copy(acc, acc + cols, C + r * ldc);
  }
}

void attn_tile_generic(int64_t m, int64_t width, const float* A, int64_t lda, const float* B, int64_t ldb, int64_t K,
                       float* C, int64_t ldc, int64_t cols) {
  if (width == 16) return tile_generic<16>(m, A, lda, B, ldb, K, C, ldc, cols);
  if (width == 8) return tile_generic<8>(m, A, lda, B, ldb, K, C, ldc, cols);
  for (int64_t r = 0; r < m; ++r) {  // the last few columns of a narrow head
    float acc[16] = {};
    for (int64_t k = 0; k < K; ++k) {
      const float a = A[r * lda + k];
      for (int64_t c = 0; c < width; ++c) acc[c] += a * B[k * ldb + c];
    }
    std::copy(acc, acc + cols, C + r * ldc);
  }
}

// The AVX2 kernel where the CPU has AVX2 and FMA, else the portable one.
std::atomic<bool> g_portable_only{false};
std::atomic<bool> g_avx512{true};

#if defined(__x86_64__)
#define HL_KERNEL(name) (vector_kernels_on() ? name##_avx2 : name##_generic)
#else
#define HL_KERNEL(name) name##_generic
#endif

}  // namespace

void use_portable_kernels(bool on) { g_portable_only.store(on); }

bool vector_kernels_on() {
#if defined(__x86_64__)
  return have_avx2_fma() && !g_portable_only.load(std::memory_order_relaxed);
#else
  return false;
#endif
}

void use_avx512_kernels(bool on) { g_avx512.store(on); }

bool avx512_kernels_on() {
#if defined(__x86_64__)
  return vector_kernels_on() && have_avx512() && g_avx512.load(std::memory_order_relaxed);
#else
  return false;
#endif
}

void gemm_tile(int64_t m, int64_t width, const float* A, int64_t lda, const float* B, int64_t ldb, int64_t K, float* C,
               int64_t ldc, int64_t cols) {
  HL_KERNEL(attn_tile)(m, width, A, lda, B, ldb, K, C, ldc, cols);
}

void silu_mul(const float* g, const float* u, float* out, int64_t n) { HL_KERNEL(silu_mul)(g, u, out, n); }

// ------------------------------------------------------------------------------------------ RMSNorm

bool fused_rms_norm_applies(const at::Tensor& x, const at::Tensor& w) {
  return cpu_float(x) && cpu_float(w) && w.is_contiguous() && w.dim() == 1 && x.dim() >= 1 &&
         x.size(-1) == w.size(0);
}

namespace {

// HF: variance = mean(x^2) in float32; x * rsqrt(variance + eps); weight * x. The sum runs in double so that a
// sequential sum over a wide row (4096+) stays as close as ATen's pairwise float reduction. Eight independent
// partial sums: one running sum is a chain of dependent adds (4 cycles each) and was the whole cost of the norm.
void rms_norm_row_generic(const float* xr, const float* wp, float* yr, int64_t D, float eps) {
  double part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= D; i += 8)
    for (int j = 0; j < 8; ++j) part[j] += static_cast<double>(xr[i + j]) * xr[i + j];
  for (int j = 0; i < D; ++i, ++j) part[j] += static_cast<double>(xr[i]) * xr[i];
  const double ss = ((part[0] + part[4]) + (part[1] + part[5])) + ((part[2] + part[6]) + (part[3] + part[7]));
  const float var = static_cast<float>(ss / static_cast<double>(D));
  const float inv = 1.0f / std::sqrt(var + eps);
  for (i = 0; i < D; ++i) yr[i] = wp[i] * (xr[i] * inv);
}

#if defined(__x86_64__)
// The same on AVX-512: sixteen double partial sums (a float's square is exact in double, so the fused
// multiply-add rounds only the sum, as the generic loop does), then the same float products.
__attribute__((target("avx512f"))) void rms_norm_row_avx512(const float* xr, const float* wp, float* yr, int64_t D,
                                                            float eps) {
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
  const float inv = 1.0f / std::sqrt(var + eps);
  const __m512 vinv = _mm512_set1_ps(inv);
  for (i = 0; i + 16 <= D; i += 16)
    _mm512_storeu_ps(yr + i, _mm512_mul_ps(_mm512_loadu_ps(wp + i), _mm512_mul_ps(_mm512_loadu_ps(xr + i), vinv)));
  for (; i < D; ++i) yr[i] = wp[i] * (xr[i] * inv);
}
#endif

}  // namespace

at::Tensor fused_rms_norm(const at::Tensor& x_in, const at::Tensor& w, double eps) {
  at::Tensor x = x_in.contiguous();
  at::Tensor y = at::empty_like(x);
  const int64_t D = x.size(-1), rows = D == 0 ? 0 : x.numel() / D;
  const float* xp = x.data_ptr<float>();
  const float* wp = w.data_ptr<float>();
  float* yp = y.data_ptr<float>();
#if defined(__x86_64__)
  const auto row = avx512_kernels_on() ? rms_norm_row_avx512 : rms_norm_row_generic;
#else
  const auto row = rms_norm_row_generic;
#endif
  dynamic_for(rows, grain_for(D), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) row(xp + r * D, wp, yp + r * D, D, static_cast<float>(eps));
  });
  return y;
}

// ------------------------------------------------------------------------------------------ RoPE

bool fused_rope_applies(const at::Tensor& x, const at::Tensor& cos) {
  return cpu_float(x) && cpu_float(cos) && x.dim() == 4 && cos.dim() == 2 && cos.size(0) == x.size(1) &&
         2 * cos.size(1) <= x.size(3);
}

namespace {

// Half style, dims [from, half) of the first half with their partners i + half.
void rotate_half_from(const float* x, float* y, const float* c, const float* s, int64_t half, int64_t from,
                      float scale) {
  for (int64_t i = from; i < half; ++i) {
    const float x1 = x[i], x2 = x[i + half];
    y[i] = (x1 * c[i] - x2 * s[i]) * scale;
    y[i + half] = (x2 * c[i] + x1 * s[i]) * scale;
  }
}

// y = rotate(x) * scale for one head of hd values: the first 2 half dims rotated by (c, s) (Half: dims i and
// i + half pair up; Interleaved: 2i and 2i + 1), the rest only scaled (partial rotary). Multiplications and
// additions as written (no fused multiply-add), in the AVX2 kernel too, so both give the same floats.
void rotate_head_generic(const float* x, float* y, const float* c, const float* s, int64_t half, int64_t hd,
                         RopeStyle style, float scale) {
  if (style == RopeStyle::Half) {
    rotate_half_from(x, y, c, s, half, 0, scale);
  } else {
    for (int64_t i = 0; i < half; ++i) {
      const float x0 = x[2 * i], x1 = x[2 * i + 1];
      y[2 * i] = (x0 * c[i] - x1 * s[i]) * scale;
      y[2 * i + 1] = (x1 * c[i] + x0 * s[i]) * scale;
    }
  }
  for (int64_t i = 2 * half; i < hd; ++i) y[i] = x[i] * scale;
}

#if defined(__x86_64__)
__attribute__((target("avx2"))) void rotate_head_avx2(const float* x, float* y, const float* c, const float* s,
                                                      int64_t half, int64_t hd, RopeStyle style, float scale) {
  if (style != RopeStyle::Half) return rotate_head_generic(x, y, c, s, half, hd, style, scale);
  const __m256 vs = _mm256_set1_ps(scale);
  int64_t i = 0;
  for (; i + 8 <= half; i += 8) {
    const __m256 x1 = _mm256_loadu_ps(x + i), x2 = _mm256_loadu_ps(x + i + half);
    const __m256 ci = _mm256_loadu_ps(c + i), si = _mm256_loadu_ps(s + i);
    _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_sub_ps(_mm256_mul_ps(x1, ci), _mm256_mul_ps(x2, si)), vs));
    _mm256_storeu_ps(y + i + half, _mm256_mul_ps(_mm256_add_ps(_mm256_mul_ps(x2, ci), _mm256_mul_ps(x1, si)), vs));
  }
  rotate_half_from(x, y, c, s, half, i, scale);
  for (i = 2 * half; i < hd; ++i) y[i] = x[i] * scale;
}
#endif

}  // namespace

at::Tensor fused_rope(const at::Tensor& x_in, const at::Tensor& cos_in, const at::Tensor& sin_in, RopeStyle style,
                      float scale) {
  // Any strides with unit stride in hd: q and k arrive as views into the fused QKV projection, and copying them
  // first would double the passes over the data.
  const at::Tensor x = x_in.stride(3) == 1 ? x_in : x_in.contiguous();
  at::Tensor y = at::empty(x.sizes(), x.options());
  at::Tensor cos = cos_in.contiguous(), sin = sin_in.contiguous();
  const int64_t B = x.size(0), T = x.size(1), N = x.size(2), hd = x.size(3), half = cos.size(-1);
  const int64_t xs0 = x.stride(0), xs1 = x.stride(1), xs2 = x.stride(2);
  const float* cp = cos.data_ptr<float>();
  const float* sp = sin.data_ptr<float>();
  const float* xp = x.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  const auto rotate = HL_KERNEL(rotate_head);
  at::parallel_for(0, B * T, grain_for(N * hd), [&](int64_t i0, int64_t i1) {
    for (int64_t bt = i0; bt < i1; ++bt) {
      const int64_t t = bt % T;
      for (int64_t n = 0; n < N; ++n)
        rotate(xp + (bt / T) * xs0 + t * xs1 + n * xs2, yp + (bt * N + n) * hd, cp + t * half, sp + t * half, half,
               hd, style, scale);
    }
  });
  return y;
}

bool fused_rope_to_cache_applies(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& cos,
                                 const at::Tensor& k_cache, const at::Tensor& v_cache) {
  return fused_rope_applies(q, cos) && fused_rope_applies(k, cos) && cpu_float(v) && cpu_float(k_cache) &&
         cpu_float(v_cache) && v.sizes() == k.sizes() && k_cache.dim() == 4 && k_cache.sizes() == v_cache.sizes() &&
         k_cache.size(0) == k.size(0) && k_cache.size(1) == k.size(2) && k_cache.size(3) == k.size(3) &&
         q.size(0) == k.size(0) && q.size(1) == k.size(1) && q.size(3) == k.size(3) && q.stride(3) == 1 &&
         k.stride(3) == 1 && v.stride(3) == 1 && k_cache.stride(3) == 1 && v_cache.stride(3) == 1;
}

at::Tensor fused_rope_to_cache(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& cos_in,
                               const at::Tensor& sin_in, RopeStyle style, float q_scale, at::Tensor& k_cache,
                               at::Tensor& v_cache, int64_t pos0) {
  const int64_t B = q.size(0), T = q.size(1), H = q.size(2), KVH = k.size(2), hd = q.size(3);
  if (pos0 < 0 || pos0 + T > k_cache.size(2))
    throw Error("fused_rope_to_cache: positions [" + std::to_string(pos0) + ", " + std::to_string(pos0 + T) +
                ") outside the cache's " + std::to_string(k_cache.size(2)));
  at::Tensor y = at::empty({B, T, H, hd}, q.options());
  const at::Tensor cos = cos_in.contiguous(), sin = sin_in.contiguous();
  const int64_t half = cos.size(-1);
  const float* cp = cos.data_ptr<float>();
  const float* sp = sin.data_ptr<float>();
  const float* qp = q.data_ptr<float>();
  const float* kp = k.data_ptr<float>();
  const float* vp = v.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  float* kc = k_cache.data_ptr<float>();
  float* vc = v_cache.data_ptr<float>();
  const int64_t qs0 = q.stride(0), qs1 = q.stride(1), qs2 = q.stride(2);
  const int64_t ks0 = k.stride(0), ks1 = k.stride(1), ks2 = k.stride(2);
  const int64_t vs0 = v.stride(0), vs1 = v.stride(1), vs2 = v.stride(2);
  const int64_t kc0 = k_cache.stride(0), kc1 = k_cache.stride(1), kc2 = k_cache.stride(2);
  const int64_t vc0 = v_cache.stride(0), vc1 = v_cache.stride(1), vc2 = v_cache.stride(2);
  const auto rotate = HL_KERNEL(rotate_head);
  dynamic_for(B * T, grain_for((H + 2 * KVH) * hd), [&](int64_t i0, int64_t i1) {
    for (int64_t bt = i0; bt < i1; ++bt) {
      const int64_t b = bt / T, t = bt % T, pos = pos0 + t;
      const float* c = cp + t * half;
      const float* s = sp + t * half;
      for (int64_t n = 0; n < H; ++n)
        rotate(qp + b * qs0 + t * qs1 + n * qs2, yp + (bt * H + n) * hd, c, s, half, hd, style, q_scale);
      for (int64_t n = 0; n < KVH; ++n) {
        rotate(kp + b * ks0 + t * ks1 + n * ks2, kc + b * kc0 + n * kc1 + pos * kc2, c, s, half, hd, style, 1.0f);
        std::copy_n(vp + b * vs0 + t * vs1 + n * vs2, hd, vc + b * vc0 + n * vc1 + pos * vc2);
      }
    }
  });
  return y;
}

// ------------------------------------------------------------------------------------------ gated SiLU

bool fused_silu_gate_applies(const at::Tensor& h) { return cpu_float(h) && h.dim() >= 1 && h.size(-1) % 2 == 0; }

at::Tensor fused_silu_gate(const at::Tensor& h_in) {
  at::Tensor h = h_in.contiguous();
  const int64_t W = h.size(-1), I = W / 2, rows = W == 0 ? 0 : h.numel() / W;
  std::vector<int64_t> shape(h.sizes().begin(), h.sizes().end());
  shape.back() = I;
  at::Tensor y = at::empty(shape, h.options());
  const float* hp = h.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  const auto kernel = HL_KERNEL(silu_mul);
  at::parallel_for(0, rows, grain_for(I), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) kernel(hp + r * W, hp + r * W + I, yp + r * I, I);
  });
  return y;
}

// ------------------------------------------------------------------------------------------ bias + mask + softmax

// key_bias undefined, or [B, H, >= S] float32 contiguous.
static bool key_bias_fits(const at::Tensor& key_bias, int64_t B, int64_t H, int64_t S) {
  if (!key_bias.defined()) return true;
  return cpu_float(key_bias) && key_bias.is_contiguous() && key_bias.dim() == 3 && key_bias.size(0) == B &&
         key_bias.size(1) == H && key_bias.size(2) >= S;
}

bool fused_softmax_applies(const at::Tensor& scores, const at::Tensor& key_bias) {
  return cpu_float(scores) && scores.is_contiguous() && scores.dim() == 4 &&
         key_bias_fits(key_bias, scores.size(0), scores.size(1), scores.size(3));
}

namespace {

// The keys [lo, hi) among [0, n_keys) that the query at absolute position q sees: causal, and inside the sliding
// window when there is one (window > 0).
std::pair<int64_t, int64_t> visible_keys(int64_t q, int64_t n_keys, int64_t window) {
  const int64_t hi = std::min(n_keys, q + 1);
  const int64_t lo = window > 0 ? std::min(hi, std::max<int64_t>(0, q - window + 1)) : 0;
  return {lo, hi};
}

// One attention row: the query at absolute position q over keys [0, Sv). Adds bias (if any) to the visible keys,
// writes the softmax over them into p (may be s) and 0 elsewhere; keep_scores leaves s = scores + bias with the
// masked keys at the lowest float.
// fill_to (default Sv): p is written up to there (zeros past the row's keys); a group of rows whose product reads
// no further than its last row's keys passes that bound instead of zeroing the whole row.
void bias_mask_softmax_row(float* s, float* p, int64_t Sv, int64_t q, int64_t window, const float* bias,
                           bool keep_scores, int64_t fill_to = -1) {
#if defined(__x86_64__)
  const auto kernel = avx512_kernels_on() ? softmax_row_avx512 : HL_KERNEL(softmax_row);
#else
  const auto kernel = HL_KERNEL(softmax_row);
#endif
  const auto [lo, hi] = visible_keys(q, Sv, window);
  if (bias)
    for (int64_t k = lo; k < hi; ++k) s[k] += bias[k];
  kernel(s, p, fill_to < 0 ? Sv : fill_to, lo, hi);
  if (keep_scores && p != s) {
    std::fill(s, s + lo, std::numeric_limits<float>::lowest());
    std::fill(s + hi, s + Sv, std::numeric_limits<float>::lowest());
  }
}

}  // namespace

void fused_bias_mask_softmax(at::Tensor& scores, const at::Tensor& key_bias, int64_t q_begin, int64_t sliding_window,
                             at::Tensor& probs, bool keep_scores) {
  const int64_t H = scores.size(1), R = scores.size(2), Sv = scores.size(3);
  const int64_t rows = scores.size(0) * H * R;
  if (!probs.defined() || probs.sizes() != scores.sizes()) probs = at::empty_like(scores);
  float* sp = scores.data_ptr<float>();
  float* pp = probs.data_ptr<float>();
  const float* bp = key_bias.defined() ? key_bias.data_ptr<float>() : nullptr;
  const int64_t S = bp ? key_bias.size(2) : 0;
  at::parallel_for(0, rows, grain_for(Sv), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i)
      bias_mask_softmax_row(sp + i * Sv, pp + i * Sv, Sv, q_begin + i % R, sliding_window,
                            bp ? bp + (i / R) * S : nullptr, keep_scores);
  });
}

// ------------------------------------------------------------------------------------------ attention block

bool fused_attention_block_applies(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                   const at::Tensor& key_bias) {
  return cpu_float(q) && cpu_float(k) && cpu_float(v) && q.dim() == 4 && k.dim() == 4 && v.dim() == 4 &&
         k.stride(3) == 1 && v.stride(3) == 1 && k.sizes() == v.sizes() && k.size(0) == q.size(0) &&
         q.size(1) % k.size(1) == 0 && q.size(3) == k.size(3) && key_bias_fits(key_bias, q.size(0), q.size(1), k.size(2));
}

at::Tensor fused_attention_block(const at::Tensor& q_in, const at::Tensor& k, const at::Tensor& v,
                                 const at::Tensor& key_bias, int64_t q_begin, int64_t valid_keys,
                                 int64_t sliding_window, at::Tensor* scores_out, at::Tensor* probs_out,
                                 const at::Tensor& out_into) {
  const at::Tensor q = q_in.stride(3) == 1 ? q_in : q_in.contiguous();
  const int64_t B = q.size(0), H = q.size(1), R = q.size(2), hd = q.size(3), KVH = k.size(1), G = H / KVH;
  const int64_t Sv = valid_keys;
  if (Sv < 0 || Sv > k.size(2))
    throw Error("fused_attention_block: valid_keys " + std::to_string(Sv) + " outside [0, " +
                std::to_string(k.size(2)) + "]");
  // The caller's blocks when they fit (a workspace reused across blocks), else new ones.
  auto block = [&](at::Tensor* t) {
    if (t && !(t->defined() && cpu_float(*t) && t->is_contiguous() && t->sizes() == at::IntArrayRef({B, H, R, Sv})))
      *t = at::empty({B, H, R, Sv}, q.options());
  };
  block(scores_out);
  block(probs_out);
  if (out_into.defined() && (!cpu_float(out_into) || out_into.sizes() != q.sizes() || out_into.stride(3) != 1))
    throw Error("fused_attention_block: the output must be a float32 CPU [B, H, R, hd] view with unit stride in hd");
  at::Tensor out = out_into.defined() ? out_into : at::empty({B, H, R, hd}, q.options());
  if (out.numel() == 0) return out;  // no rows, heads or batch: nothing to compute
  const int64_t os0 = out.stride(0), os1 = out.stride(1), os2 = out.stride(2);
  float* sp = scores_out ? scores_out->data_ptr<float>() : nullptr;
  float* pp = probs_out ? probs_out->data_ptr<float>() : nullptr;
  float* op = out.data_ptr<float>();
  const float* qp = q.data_ptr<float>();
  const float* kp = k.data_ptr<float>();
  const float* vp = v.data_ptr<float>();
  const float* bp = key_bias.defined() ? key_bias.data_ptr<float>() : nullptr;
  const int64_t S = bp ? key_bias.size(2) : 0;
  // Strides as plain numbers: Tensor::stride() is a checked call, too slow for the inner loops.
  const int64_t qs0 = q.stride(0), qs1 = q.stride(1), qs2 = q.stride(2);
  const int64_t ks0 = k.stride(0), ks1 = k.stride(1), ks2 = k.stride(2);
  const int64_t vs0 = v.stride(0), vs1 = v.stride(1), vs2 = v.stride(2);
  const auto tile = HL_KERNEL(attn_tile);
  const bool z = avx512_kernels_on();  // 64-column AVX-512 tiles (else 16 columns, AVX2 or portable)
  // Tasks: (batch row, head, chunk of query rows), about 8 per thread. Inside a task the rows go in groups of 6
  // through register tiles (own kernels: a BLAS call per head and chunk cost as much again in hand-off and
  // packing at these sizes), and each group computes only the keys its rows can see: the causal triangle and
  // the sliding window cost what they cover, up to a 16-key edge. A group's scores and probabilities live in a
  // small per-thread buffer unless the caller asked for them: no [B, H, R, Sv] block is allocated (its fresh
  // pages cost more than the arithmetic) and the group's rows stay in L1 from QK^T through softmax to PV.
  const int64_t want = 8 * static_cast<int64_t>(at::get_num_threads());
  const int64_t per_head = std::max<int64_t>(1, std::min((want + B * H - 1) / (B * H), (R + 15) / 16));
  const int64_t chunk = (R + per_head - 1) / per_head;
  const int64_t chunks = (R + chunk - 1) / chunk;
  constexpr int64_t kRows = 6, kKeys = 16;
  auto visible = [&](int64_t pos) { return visible_keys(pos, Sv, sliding_window); };
  // Causal chunks differ in work (the last sees every key, the first a few): tasks go out largest first from a
  // shared counter, so no thread idles behind a static split.
  const int64_t tasks = B * H * chunks;
  std::vector<int64_t> order(static_cast<size_t>(tasks));
  for (int64_t t = 0; t < tasks; ++t) order[static_cast<size_t>(t)] = t;
  auto keys_of = [&](int64_t t) {
    const int64_t r0 = (t % chunks) * chunk, r1 = std::min(R, r0 + chunk);
    return visible(q_begin + r1 - 1).second - visible(q_begin + r0).first;
  };
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return keys_of(a) > keys_of(b); });
  // The keys any row of the block sees, transposed once per (batch row, KV head) in a pass of their own, in blocks
  // of 64 keys: kt[(b KVH + kv)][(j - kbase) / 64][d][(j - kbase) % 64] for keys j in [kbase, Sv), padded with
  // zeros to a multiple of 16 keys (the AVX2 tile reads whole 16-key tiles). A QK^T tile of up to 64 keys then
  // reads one contiguous block (its rows 256 bytes apart) rather than 64 rows a whole key range apart. Every head
  // of a GQA group and every chunk of rows reads the same copy.
  constexpr int64_t kBlock = 64;
  const int64_t kbase = visible(q_begin).first / kKeys * kKeys;
  const int64_t W = (std::max<int64_t>(Sv - kbase, 0) + kKeys - 1) / kKeys * kKeys;
  const int64_t Wb = (W + kBlock - 1) / kBlock * kBlock;
  std::vector<float> kt_buf;
  float* const kt_all = aligned_floats(kt_buf, B * KVH * hd * Wb);
  // Where key j's column starts in a (batch row, KV head)'s copy; the next rows of its block are kBlock apart.
  auto kt_offset = [&](int64_t j) {
    const int64_t r = j - kbase;
    return (r / kBlock) * hd * kBlock + r % kBlock;
  };
  const int64_t key_blocks = W / kKeys;
  dynamic_for(B * KVH * key_blocks, grain_for(kKeys * hd), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t bk = i / key_blocks, j0 = kbase + (i % key_blocks) * kKeys, j1 = std::min(Sv, j0 + kKeys);
      const float* kb = kp + (bk / KVH) * ks0 + (bk % KVH) * ks1;
      float* dst = kt_all + bk * hd * Wb + kt_offset(j0);
      // A block of 16 keys: its rows stay in L1 and every store runs along a row of kt.
      for (int64_t d = 0; d < hd; ++d) {
        float* row = dst + d * kBlock;
        int64_t j = j0;
        for (; j < j1; ++j) row[j - j0] = kb[j * ks2 + d];
        for (; j < j0 + kKeys; ++j) row[j - j0] = 0.0f;
      }
    }
  });
  // Heads whose bias row is all zero over the keys in use (every head a steering leaves alone: PASTA steers a few)
  // skip the addition.
  std::vector<char> biased(static_cast<size_t>(B * H), 0);
  if (bp)
    for (int64_t bh = 0; bh < B * H; ++bh)
      biased[static_cast<size_t>(bh)] = std::any_of(bp + bh * S, bp + bh * S + Sv, [](float x) { return x != 0.0f; });
  std::atomic<int64_t> next{0};
  at::parallel_for(0, at::get_num_threads(), 1, [&](int64_t, int64_t) {
    // A group's scores and probabilities, rows ldg floats apart (a multiple of 16: every row starts a cache line).
    const int64_t ldg = (Sv + 15) / 16 * 16;
    std::vector<float> group_buf;
    float* const group = aligned_floats(group_buf, 2 * kRows * ldg);
    for (int64_t i = next++; i < tasks; i = next++) {
      const int64_t t = order[static_cast<size_t>(i)];
      const int64_t bh = t / chunks, r0 = (t % chunks) * chunk, n = std::min(chunk, R - r0);
      const int64_t b = bh / H, h = bh % H, kv = h / G;
      const float* kt = kt_all + (b * KVH + kv) * hd * Wb;  // this KV head's keys (kt_offset)
      const float* vb = vp + b * vs0 + kv * vs1;
      const float* qh = qp + b * qs0 + h * qs1;
      const int64_t row0 = bh * R;  // first row of this (batch row, head) in scores/probs/out
      for (int64_t g = r0; g < r0 + n; g += kRows) {
        const int64_t m = std::min(kRows, r0 + n - g);
        const int64_t lo = visible(q_begin + g).first / kKeys * kKeys, hi = visible(q_begin + g + m - 1).second;
        // The group's rows: the caller's tensors where asked for (rows Sv apart), else the buffer (probabilities
        // in place).
        float* srow = sp ? sp + (row0 + g) * Sv : group;
        float* prow = pp ? pp + (row0 + g) * Sv : sp ? group + kRows * ldg : srow;
        const int64_t ls = sp ? Sv : ldg, lp = pp ? Sv : ldg;
#if defined(__x86_64__)
        // The next group's query rows, which the QKV product has just written (often from the other core): asked
        // for now, they arrive while this group computes instead of stalling the next one's first products.
        for (int64_t r = g + kRows; r < std::min(r0 + n, g + 2 * kRows); ++r)
          for (int64_t d = 0; d < hd; d += 16) _mm_prefetch(reinterpret_cast<const char*>(qh + r * qs2 + d), _MM_HINT_T0);
#endif
        // Scores of the group's rows over keys [lo, hi).
#if defined(__x86_64__)
        if (z) {
          // Up to the end of each 64-key block at a time (lo is a multiple of 16, not always of 64).
          for (int64_t j = lo; j < hi;) {
            const int64_t e = std::min(hi, kbase + ((j - kbase) / kBlock + 1) * kBlock);
            attn_product_avx512(m, e - j, qh + g * qs2, qs2, kt + kt_offset(j), kBlock, hd, srow + j, ls);
            j = e;
          }
        } else
#endif
        {
          for (int64_t j = lo; j < hi; j += kKeys)
            tile(m, kKeys, qh + g * qs2, qs2, kt + kt_offset(j), kBlock, hd, srow + j, ls, std::min(kKeys, hi - j));
        }
        for (int64_t r = 0; r < m; ++r)
          bias_mask_softmax_row(srow + r * ls, prow + r * lp, Sv, q_begin + g + r, sliding_window,
                                biased[static_cast<size_t>(bh)] ? bp + bh * S : nullptr, sp != nullptr,
                                sp || pp ? Sv : hi);
        // out rows = probs [m, lo:hi) x values [lo:hi, hd]; probabilities outside a row's own keys are 0.
        const float* pa = prow + lo;
        const float* vl = vb + lo * vs2;
        float* orow = op + b * os0 + h * os1 + g * os2;
#if defined(__x86_64__)
        if (z) {
          attn_product_avx512(m, hd, pa, lp, vl, vs2, hi - lo, orow, os2);
          continue;
        }
#endif
        int64_t c = 0;
        for (; c + 16 <= hd; c += 16) tile(m, 16, pa, lp, vl + c, vs2, hi - lo, orow + c, os2, 16);
        for (; c + 8 <= hd; c += 8) tile(m, 8, pa, lp, vl + c, vs2, hi - lo, orow + c, os2, 8);
        if (c < hd) attn_tile_generic(m, hd - c, pa, lp, vl + c, vs2, hi - lo, orow + c, os2, hd - c);
      }
    }
  });
  return out;
}

// ------------------------------------------------------------------------------------------ probabilities x vector

bool probs_matvec_applies(const at::Tensor& probs) {
  return cpu_float(probs) && probs.dim() == 4 && probs.is_contiguous();
}

void probs_matvec(const at::Tensor& probs, const float* v, int64_t v_stride, bool mean_heads, float* out) {
  const int64_t B = probs.size(0), H = probs.size(1), R = probs.size(2), Sv = probs.size(3);
  const float* pp = probs.data_ptr<float>();
  const auto dot = HL_KERNEL(dot);
  // Tasks: (batch row, query row); each reads its H probability rows once.
  at::parallel_for(0, B * R, grain_for(H * Sv), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t b = i / R, r = i % R;
      const float* vb = v + b * v_stride;
      float sum = 0;
      for (int64_t h = 0; h < H; ++h) {
        const float d = dot(pp + ((b * H + h) * R + r) * Sv, vb, Sv);
        if (mean_heads) sum += d;
        else out[(b * H + h) * R + r] = d;
      }
      if (mean_heads) out[b * R + r] = sum / static_cast<float>(H);  // as ATen's mean
    }
  });
}

// ------------------------------------------------------------------------------------------ one-query attention

bool fused_query_attention_applies(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                   const at::Tensor& key_bias) {
  return cpu_float(q) && cpu_float(k) && cpu_float(v) && q.dim() == 4 && q.size(2) == 1 && k.dim() == 4 &&
         v.dim() == 4 && k.stride(3) == 1 && v.stride(3) == 1 && k.sizes() == v.sizes() &&
         k.size(0) == q.size(0) && q.size(1) % k.size(1) == 0 && q.size(3) == k.size(3) &&
         key_bias_fits(key_bias, q.size(0), q.size(1), k.size(2));
}

at::Tensor fused_query_attention(const at::Tensor& q_in, const at::Tensor& k, const at::Tensor& v,
                                 const at::Tensor& key_bias, int64_t q_begin, int64_t sliding_window,
                                 at::Tensor* probs_out, at::Tensor* scores_out) {
  at::Tensor q = q_in.contiguous();
  const int64_t B = q.size(0), H = q.size(1), hd = q.size(3), KVH = k.size(1), S = k.size(2), G = H / KVH;
  at::Tensor out = at::zeros({B, H, 1, hd}, q.options());
  at::Tensor probs = at::empty({B, H, 1, S}, q.options());
  at::Tensor scores = scores_out ? at::empty({B, H, 1, S}, q.options()) : probs;
  const float* qp = q.data_ptr<float>();
  const float* kp = k.data_ptr<float>();
  const float* vp = v.data_ptr<float>();
  const float* bp = key_bias.defined() ? key_bias.data_ptr<float>() : nullptr;
  const int64_t bias_stride = key_bias.defined() ? key_bias.size(2) : 0;
  float* op = out.data_ptr<float>();
  float* pp = probs.data_ptr<float>();
  float* sp = scores.data_ptr<float>();
  const auto dot = HL_KERNEL(dot);
  const auto axpy = HL_KERNEL(axpy);
  const int64_t ks0 = k.stride(0), ks1 = k.stride(1), ks2 = k.stride(2);  // plain numbers for the inner loops
  const int64_t vs0 = v.stride(0), vs1 = v.stride(1), vs2 = v.stride(2);
  // Plain variables rather than a structured binding: the loop lambda captures them (C++17).
  const std::pair<int64_t, int64_t> keys = visible_keys(q_begin, S, sliding_window);
  const int64_t lo = keys.first, hi = keys.second;
  at::parallel_for(0, B * H, std::max<int64_t>(1, 4096 / std::max<int64_t>(S * hd / 16, 1)), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t b = i / H, h = i % H, kv = h / G;
      const float* qi = qp + i * hd;
      const float* kb = kp + b * ks0 + kv * ks1;
      const float* vb = vp + b * vs0 + kv * vs1;
      float* s = sp + i * S;
      float* p = pp + i * S;
      const float* bias = bp ? bp + i * bias_stride : nullptr;
      for (int64_t j = lo; j < hi; ++j) s[j] = dot(qi, kb + j * ks2, hd);
      bias_mask_softmax_row(s, p, S, q_begin, sliding_window, bias, scores_out != nullptr);
      float* o = op + i * hd;
      for (int64_t j = lo; j < hi; ++j) axpy(p[j], vb + j * vs2, o, hd);
    }
  });
  if (probs_out) *probs_out = probs;
  if (scores_out) *scores_out = scores;
  return out;
}

}  // namespace hl::engine
