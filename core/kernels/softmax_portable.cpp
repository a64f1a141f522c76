// Portable softmax rows and the gated MLP's SiLU.
#include <algorithm>
#include <cmath>
#include <limits>

#include "core/kernels/isa_kernels.h"

namespace hl::kernels::portable {

// p[k] = exp(s[k] - max) / sum over [lo, hi); p = 0 outside. p may equal s.
void softmax_row(const float* s, float* p, int64_t n, int64_t lo, int64_t hi) {
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

void silu_mul(const float* g, const float* u, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

}  // namespace hl::kernels::portable
