// Internal to core/engine: what the fused-op files (fused_ops.cpp, fused_attention_prefill.cpp,
// fused_attention_decode.cpp) share: aligned scratch rows, the row loops' grain and dynamic schedule, key visibility
// and one attention row's bias + mask + softmax through the kernel table.
#pragma once
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "core/kernels/cpu_features.h"

namespace hl::engine::fused {

inline bool cpu_float(const at::Tensor& t) { return t.device().is_cpu() && t.scalar_type() == at::kFloat; }

// n floats in buf, starting at a 64-byte boundary (returned): vector loads and stores of whole rows then never
// straddle two cache lines. A std::vector's floats start wherever malloc puts them, a 16-byte boundary; the
// attention's transposed keys read that way took 1.7 x as long in the re-run.
inline float* aligned_floats(std::vector<float>& buf, int64_t n) {
  buf.resize(static_cast<size_t>(n + 16));
  const auto misalign = reinterpret_cast<uintptr_t>(buf.data()) % 64 / sizeof(float);
  return buf.data() + (16 - misalign) % 16;
}

// Grain of the row loops: enough work per task that the thread hand-off is amortised.
inline int64_t grain_for(int64_t row_elems) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(row_elems, 1)); }

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

// key_bias undefined, or [B, H, >= S] float32 contiguous.
inline bool key_bias_fits(const at::Tensor& key_bias, int64_t B, int64_t H, int64_t S) {
  if (!key_bias.defined()) return true;
  return cpu_float(key_bias) && key_bias.is_contiguous() && key_bias.dim() == 3 && key_bias.size(0) == B &&
         key_bias.size(1) == H && key_bias.size(2) >= S;
}

// The keys [lo, hi) among [0, n_keys) that the query at absolute position q sees: causal, and inside the sliding
// window when there is one (window > 0).
inline std::pair<int64_t, int64_t> visible_keys(int64_t q, int64_t n_keys, int64_t window) {
  const int64_t hi = std::min(n_keys, q + 1);
  const int64_t lo = window > 0 ? std::min(hi, std::max<int64_t>(0, q - window + 1)) : 0;
  return {lo, hi};
}

// One attention row: the query at absolute position q over keys [0, Sv). Adds bias (if any) to the visible keys,
// writes the softmax over them into p (may be s) and 0 elsewhere; keep_scores leaves s = scores + bias with the
// masked keys at the lowest float.
// fill_to (default Sv): p is written up to there (zeros past the row's keys); a group of rows whose product reads
// no further than its last row's keys passes that bound instead of zeroing the whole row.
inline void bias_mask_softmax_row(float* s, float* p, int64_t Sv, int64_t q, int64_t window, const float* bias,
                           bool keep_scores, int64_t fill_to = -1) {
  const kernels::SoftmaxRowFn kernel = kernels::table().softmax_row;
  const auto [lo, hi] = visible_keys(q, Sv, window);
  if (bias)
    for (int64_t k = lo; k < hi; ++k) s[k] += bias[k];
  kernel(s, p, fill_to < 0 ? Sv : fill_to, lo, hi);
  if (keep_scores && p != s) {
    std::fill(s, s + lo, std::numeric_limits<float>::lowest());
    std::fill(s + hi, s + Sv, std::numeric_limits<float>::lowest());
  }
}

}  // namespace hl::engine::fused
