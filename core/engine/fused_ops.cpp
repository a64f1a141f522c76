#include "core/engine/fused_ops.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/engine/fused_ops_internal.h"
#include "core/error.h"
#include "core/kernels/cpu_features.h"

namespace hl::engine {

using namespace fused;

// ------------------------------------------------------------------------------------------ RMSNorm

bool fused_rms_norm_applies(const at::Tensor& x, const at::Tensor& w) {
  return cpu_float(x) && cpu_float(w) && w.is_contiguous() && w.dim() == 1 && x.dim() >= 1 &&
         x.size(-1) == w.size(0);
}

at::Tensor fused_rms_norm(const at::Tensor& x_in, const at::Tensor& w, double eps) {
  at::Tensor x = x_in.contiguous();
  at::Tensor y = at::empty_like(x);
  const int64_t D = x.size(-1), rows = D == 0 ? 0 : x.numel() / D;
  const float* xp = x.data_ptr<float>();
  const float* wp = w.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  const kernels::RmsNormRowFn row = kernels::table().rms_norm_row;
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
  const kernels::RotateHeadFn rotate = kernels::table().rotate_head;
  const bool interleaved = style == RopeStyle::Interleaved;
  at::parallel_for(0, B * T, grain_for(N * hd), [&](int64_t i0, int64_t i1) {
    for (int64_t bt = i0; bt < i1; ++bt) {
      const int64_t t = bt % T;
      for (int64_t n = 0; n < N; ++n)
        rotate(xp + (bt / T) * xs0 + t * xs1 + n * xs2, yp + (bt * N + n) * hd, cp + t * half, sp + t * half, half,
               hd, interleaved, scale);
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
  const kernels::RotateHeadFn rotate = kernels::table().rotate_head;
  const bool interleaved = style == RopeStyle::Interleaved;
  dynamic_for(B * T, grain_for((H + 2 * KVH) * hd), [&](int64_t i0, int64_t i1) {
    for (int64_t bt = i0; bt < i1; ++bt) {
      const int64_t b = bt / T, t = bt % T, pos = pos0 + t;
      const float* c = cp + t * half;
      const float* s = sp + t * half;
      for (int64_t n = 0; n < H; ++n)
        rotate(qp + b * qs0 + t * qs1 + n * qs2, yp + (bt * H + n) * hd, c, s, half, hd, interleaved, q_scale);
      for (int64_t n = 0; n < KVH; ++n) {
        rotate(kp + b * ks0 + t * ks1 + n * ks2, kc + b * kc0 + n * kc1 + pos * kc2, c, s, half, hd, interleaved, 1.0f);
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
  const kernels::SiluMulFn kernel = kernels::table().silu_mul;
  at::parallel_for(0, rows, grain_for(I), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) kernel(hp + r * W, hp + r * W + I, yp + r * I, I);
  });
  return y;
}

// ------------------------------------------------------------------------------------------ bias + mask + softmax

bool fused_softmax_applies(const at::Tensor& scores, const at::Tensor& key_bias) {
  return cpu_float(scores) && scores.is_contiguous() && scores.dim() == 4 &&
         key_bias_fits(key_bias, scores.size(0), scores.size(1), scores.size(3));
}

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

}  // namespace hl::engine
