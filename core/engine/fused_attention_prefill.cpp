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
  const kernels::AttnProductFn scores_product = kernels::table().attn_scores;
  const kernels::AttnProductFn values_product = kernels::table().attn_values;
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
        // The next group's query rows, which the QKV product has just written (often from the other core): asked
        // for now, they arrive while this group computes instead of stalling the next one's first products.
        for (int64_t r = g + kRows; r < std::min(r0 + n, g + 2 * kRows); ++r)
          for (int64_t d = 0; d < hd; d += 16) __builtin_prefetch(qh + r * qs2 + d, 0, 3);
        // Scores of the group's rows over keys [lo, hi), up to the end of each 64-key block at a time (lo is a
        // multiple of 16, not always of 64).
        for (int64_t j = lo; j < hi;) {
          const int64_t e = std::min(hi, kbase + ((j - kbase) / kBlock + 1) * kBlock);
          scores_product(m, e - j, qh + g * qs2, qs2, kt + kt_offset(j), kBlock, hd, srow + j, ls);
          j = e;
        }
        for (int64_t r = 0; r < m; ++r)
          bias_mask_softmax_row(srow + r * ls, prow + r * lp, Sv, q_begin + g + r, sliding_window,
                                biased[static_cast<size_t>(bh)] ? bp + bh * S : nullptr, sp != nullptr,
                                sp || pp ? Sv : hi);
        // out rows = probs [m, lo:hi) x values [lo:hi, hd]; probabilities outside a row's own keys are 0.
        const float* pa = prow + lo;
        const float* vl = vb + lo * vs2;
        float* orow = op + b * os0 + h * os1 + g * os2;
        values_product(m, hd, pa, lp, vl, vs2, hi - lo, orow, os2);
      }
    }
  });
  return out;
}

}  // namespace hl::engine
