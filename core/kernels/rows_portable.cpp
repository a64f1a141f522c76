// Portable row kernels: small-batch linear rows (decode steps of the ATen-path projections) and one row of head
// statistics.
#include <algorithm>
#include <cmath>
#include <limits>

#include "core/kernels/isa_kernels.h"

namespace hl::kernels::portable {
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

}  // namespace

SmallLinearRowsFn small_linear_rows(int rows) {
  switch (rows) {
    case 1: return rows_generic<1>;
    case 2: return rows_generic<2>;
    case 3: return rows_generic<3>;
    case 4: return rows_generic<4>;
    case 5: return rows_generic<5>;
    case 6: return rows_generic<6>;
    case 7: return rows_generic<7>;
    default: return rows_generic<8>;
  }
}

RowStats head_stats_row(const float* p, const float* s, const float* m, int64_t n, float* received) {
  float span = 0, ps = 0, mp = 0, ms = std::numeric_limits<float>::lowest();
  for (int64_t j = 0; j < n; ++j) {
    received[j] += p[j];
    span += p[j] * m[j];
    ps += p[j] * s[j];
    mp = std::max(mp, p[j]);
    ms = std::max(ms, s[j]);
  }
  return {span, mp, ms - std::log(mp) - ps, p[0]};
}

}  // namespace hl::kernels::portable
