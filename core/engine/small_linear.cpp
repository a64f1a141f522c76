#include "core/engine/small_linear.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>

#include "core/kernels/cpu_features.h"

namespace hl::engine {

static_assert(kSmallLinearMaxRows == kernels::kSmallLinearMaxRows, "one row kernel per row count");

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
  const kernels::SmallLinearRowsFn fn = kernels::table().small_linear_rows[rows - 1];
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
