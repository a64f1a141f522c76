#include "core/engine/fused_ops.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <limits>
#include <string>
#include <vector>

#include "core/engine/fused_ops_internal.h"
#include "core/error.h"
#include "core/kernels/cpu_features.h"

namespace hl::engine {

using namespace fused;

// ------------------------------------------------------------------------------------------ probabilities x vector

bool probs_matvec_applies(const at::Tensor& probs) {
  return cpu_float(probs) && probs.dim() == 4 && probs.is_contiguous();
}

void probs_matvec(const at::Tensor& probs, const float* v, int64_t v_stride, bool mean_heads, float* out) {
  const int64_t B = probs.size(0), H = probs.size(1), R = probs.size(2), Sv = probs.size(3);
  const float* pp = probs.data_ptr<float>();
  const kernels::DotFn dot = kernels::table().dot;
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
  const kernels::DotFn dot = kernels::table().dot;
  const kernels::AxpyFn axpy = kernels::table().axpy;
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
