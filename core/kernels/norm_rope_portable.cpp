// Portable RMSNorm rows and rotary embedding. Compiled with -ffp-contract=off (core/kernels/CMakeLists.txt): the
// rotation's products and sums stay unfused, as in the vector kernels, on every target (aarch64 GCC would fuse them).
#include <cmath>
#include <cstdint>

#include "core/kernels/isa_kernels.h"

namespace hl::kernels::portable {

// HF: variance = mean(x^2) in float32; x * rsqrt(variance + eps); weight * x. The sum runs in double so that a
// sequential sum over a wide row (4096+) stays as close as ATen's pairwise float reduction. Eight independent
// partial sums: one running sum is a chain of dependent adds (4 cycles each) and was the whole cost of the norm.
void rms_norm_row(const float* xr, const float* wp, float* yr, int64_t D, float eps) {
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

// Half style, dims [from, half) of the first half with their partners i + half.
void rotate_half_from(const float* x, float* y, const float* c, const float* s, int64_t half, int64_t from,
                      float scale) {
  for (int64_t i = from; i < half; ++i) {
    const float x1 = x[i], x2 = x[i + half];
    y[i] = (x1 * c[i] - x2 * s[i]) * scale;
    y[i + half] = (x2 * c[i] + x1 * s[i]) * scale;
  }
}

// y = rotate(x) * scale for one head of hd values: the first 2 half dims rotated by (c, s) (halves: dims i and
// i + half pair up; interleaved: 2i and 2i + 1), the rest only scaled (partial rotary). Multiplications and
// additions as written (no fused multiply-add), in the AVX2 kernel too, so both give the same floats.
void rotate_head(const float* x, float* y, const float* c, const float* s, int64_t half, int64_t hd,
                 bool interleaved, float scale) {
  if (!interleaved) {
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

}  // namespace hl::kernels::portable
