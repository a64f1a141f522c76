// The decode step's attention of one query row, portably: dot products with the cached keys, axpy of the values.
#include <cstdint>

#include "core/kernels/isa_kernels.h"

namespace hl::kernels::portable {

float dot(const float* a, const float* b, int64_t n) {
  float s = 0;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

void axpy(float alpha, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

}  // namespace hl::kernels::portable
