// Our own kernels against ATen's reference ops.
#include <ATen/Parallel.h>

#include <limits>

#include "core/engine/fused_ops.h"
#include "core/error.h"
#include "core/engine/small_linear.h"
#include "engine/golden.h"
#include "engine/kernel_choice.h"
#include "engine/doctest_torch.h"

using namespace hl;
using namespace hl::test;

namespace {

// The ATen reference for a block of attention rows: scores [B, H, R, Sv] + key bias [B, H, >= Sv] (if defined),
// with keys after each query (at q_begin + r) or outside the sliding window at the lowest float.
at::Tensor reference_scores(const at::Tensor& scores, const at::Tensor& bias, int64_t q_begin, int64_t window,
                            at::Tensor* masked_out = nullptr) {
  const int64_t R = scores.size(2), Sv = scores.size(3);
  at::Tensor ref = bias.defined() ? scores + bias.narrow(-1, 0, Sv).unsqueeze(2) : scores.clone();
  at::Tensor qpos = at::arange(q_begin, q_begin + R).unsqueeze(1), kpos = at::arange(0, Sv).unsqueeze(0);
  at::Tensor masked = kpos > qpos;
  if (window > 0) masked = masked.logical_or(kpos <= qpos - window);
  ref.masked_fill_(masked, std::numeric_limits<float>::lowest());
  if (masked_out) *masked_out = masked;
  return ref;
}

}  // namespace

TEST_CASE("small_linear equals at::linear for 1..8 rows, odd widths, with and without bias") {
  KernelChoice kernels;
  at::manual_seed(3);
  for (int64_t in : {1, 15, 16, 17, 64, 577}) {
    for (int64_t out : {1, 7, 300}) {
      at::Tensor w = at::randn({out, in}), b = at::randn({out});
      for (int64_t rows = 1; rows <= engine::kSmallLinearMaxRows; ++rows) {
        INFO("in ", in, " out ", out, " rows ", rows);
        at::Tensor x = at::randn({rows, 1, in});
        REQUIRE(engine::small_linear_applies(x, w));
        CHECK(max_abs_diff(engine::small_linear(x, w, b), at::linear(x, w, b)) <= 1e-4);
        CHECK(max_abs_diff(engine::small_linear(x, w, at::Tensor()), at::linear(x, w)) <= 1e-4);
        CHECK(engine::small_linear(x, w, b).sizes() == at::IntArrayRef({rows, 1, out}));
      }
    }
  }
  // A non-contiguous x (a column slice) is handled; too many rows or another dtype is not taken.
  at::Tensor w = at::randn({10, 32});
  at::Tensor xs = at::randn({2, 64}).narrow(1, 16, 32);
  CHECK(max_abs_diff(engine::small_linear(xs, w, at::Tensor()), at::linear(xs, w)) <= 1e-5);
  CHECK_FALSE(engine::small_linear_applies(at::randn({9, 32}), w));
  CHECK_FALSE(engine::small_linear_applies(at::randn({1, 32}, at::kDouble), w.to(at::kDouble)));
}

TEST_CASE("fused RMSNorm and RoPE kernels equal the ATen path") {
  KernelChoice kernels;
  at::manual_seed(4);
  for (int64_t D : {7, 70, 576, 4099}) {  // shorter than a vector, 16-lane blocks and tails, wide rows
    for (int64_t rows : {1, 3, 8, 300}) {
      INFO("D ", D, " rows ", rows);
      at::Tensor x = at::randn({rows, 1, D}) * 3, w = at::randn({D});
      at::Tensor xd = x.to(at::kDouble);
      at::Tensor ref = w.to(at::kDouble) * (xd * at::rsqrt(xd.pow(2).mean(-1, true) + 1e-5));
      REQUIRE(engine::fused_rms_norm_applies(x, w));
      CHECK(max_abs_diff(engine::fused_rms_norm(x, w, 1e-5), ref) <= 1e-5);
    }
  }
  for (auto style : {RopeStyle::Half, RopeStyle::Interleaved}) {
    for (int64_t rot : {8, 16}) {
      at::Tensor x = at::randn({2, 40, 3, 16});
      at::Tensor freqs = at::rand({40, rot / 2}) * 5;
      at::Tensor cos = freqs.cos(), sin = freqs.sin();
      // Reference: the rotation written out with ATen ops.
      at::Tensor xr = x.narrow(-1, 0, rot);
      at::Tensor c = cos.unsqueeze(0).unsqueeze(2), s = sin.unsqueeze(0).unsqueeze(2);
      at::Tensor out;
      if (style == RopeStyle::Half) {
        at::Tensor a = xr.narrow(-1, 0, rot / 2), b = xr.narrow(-1, rot / 2, rot / 2);
        out = at::cat({a * c - b * s, b * c + a * s}, -1);
      } else {
        at::Tensor pr = xr.unflatten(-1, {rot / 2, 2});
        at::Tensor a = pr.select(-1, 0), b = pr.select(-1, 1);
        out = at::stack({a * c - b * s, b * c + a * s}, -1).flatten(-2);
      }
      if (rot < 16) out = at::cat({out, x.narrow(-1, rot, 16 - rot)}, -1);
      REQUIRE(engine::fused_rope_applies(x, cos));
      CHECK(max_abs_diff(engine::fused_rope(x, cos, sin, style), out) <= 1e-6);
      // As the forward calls it: a view into a wider fused projection, and the query scale folded in.
      at::Tensor wide = at::randn({2, 40, 5, 16});
      wide.narrow(2, 1, 3).copy_(x);
      CHECK(max_abs_diff(engine::fused_rope(wide.narrow(2, 1, 3), cos, sin, style, 0.125f), out * 0.125) <= 1e-6);
    }
  }
}

TEST_CASE("fused RoPE into the KV cache equals fused_rope and copies (GQA, partial rotary, offsets, both styles)") {
  KernelChoice kernels;
  at::manual_seed(14);
  const int64_t B = 2, T = 9, H = 6, KVH = 2, cap = 30;
  for (auto style : {RopeStyle::Half, RopeStyle::Interleaved}) {
    for (int64_t hd : {16, 40}) {
      for (int64_t rot : {hd, hd - 8}) {  // half = 8 or 20 (an 8-wide vector and a tail), and partial rotary
        for (int64_t pos0 : {int64_t(0), int64_t(13)}) {
          INFO("style ", static_cast<int>(style), " hd ", hd, " rot ", rot, " pos0 ", pos0);
          // q, k, v as the forward has them: views into one [B, T, (H + 2 KVH) hd] projection.
          at::Tensor qkv = at::randn({B, T, (H + 2 * KVH) * hd});
          at::Tensor q = qkv.narrow(-1, 0, H * hd).view({B, T, H, hd});
          at::Tensor k = qkv.narrow(-1, H * hd, KVH * hd).view({B, T, KVH, hd});
          at::Tensor v = qkv.narrow(-1, (H + KVH) * hd, KVH * hd).view({B, T, KVH, hd});
          at::Tensor freqs = at::rand({T, rot / 2}) * 5;
          at::Tensor cos = freqs.cos(), sin = freqs.sin();
          at::Tensor kc = at::randn({B, KVH, cap, hd}), vc = at::randn({B, KVH, cap, hd});
          const at::Tensor kc0 = kc.clone(), vc0 = vc.clone();
          REQUIRE(engine::fused_rope_to_cache_applies(q, k, v, cos, kc, vc));
          at::Tensor qr = engine::fused_rope_to_cache(q, k, v, cos, sin, style, 0.125f, kc, vc, pos0);
          CHECK(qr.is_contiguous());
          CHECK(max_abs_diff(qr, engine::fused_rope(q, cos, sin, style, 0.125f)) == 0);
          CHECK(max_abs_diff(kc.narrow(2, pos0, T), engine::fused_rope(k, cos, sin, style).transpose(1, 2)) == 0);
          CHECK(max_abs_diff(vc.narrow(2, pos0, T), v.transpose(1, 2)) == 0);
          // Cache positions outside [pos0, pos0 + T) keep what they held.
          CHECK(at::equal(kc.narrow(2, 0, pos0), kc0.narrow(2, 0, pos0)));
          CHECK(at::equal(vc.narrow(2, 0, pos0), vc0.narrow(2, 0, pos0)));
          CHECK(at::equal(kc.narrow(2, pos0 + T, cap - pos0 - T), kc0.narrow(2, pos0 + T, cap - pos0 - T)));
          CHECK(at::equal(vc.narrow(2, pos0 + T, cap - pos0 - T), vc0.narrow(2, pos0 + T, cap - pos0 - T)));
          // The rotation itself against ATen (Half style: dims i and i + rot/2 pair up).
          if (style == RopeStyle::Half) {
            at::Tensor a = q.narrow(-1, 0, rot / 2), b = q.narrow(-1, rot / 2, rot / 2);
            at::Tensor c = cos.unsqueeze(0).unsqueeze(2), sn = sin.unsqueeze(0).unsqueeze(2);
            at::Tensor ref = at::cat({a * c - b * sn, b * c + a * sn, q.narrow(-1, rot, hd - rot)}, -1) * 0.125;
            CHECK(max_abs_diff(qr, ref) <= 1e-6);
          }
        }
      }
    }
  }
  // Positions past the cache are refused before anything is written.
  at::Tensor qkv = at::randn({1, 4, 3 * 16});
  at::Tensor q = qkv.narrow(-1, 0, 16).view({1, 4, 1, 16}), k = qkv.narrow(-1, 16, 16).view({1, 4, 1, 16});
  at::Tensor v = qkv.narrow(-1, 32, 16).view({1, 4, 1, 16});
  at::Tensor cos = at::ones({4, 8}), sin = at::zeros({4, 8}), kc = at::zeros({1, 1, 6, 16}), vc = at::zeros({1, 1, 6, 16});
  CHECK_THROWS_AS(engine::fused_rope_to_cache(q, k, v, cos, sin, RopeStyle::Half, 1.0f, kc, vc, 3), hl::Error);
  CHECK(kc.abs().sum().item<float>() == 0);
}

TEST_CASE("fused bias + mask + softmax equals the ATen path, with causal blocks, windows and kept scores") {
  KernelChoice kernels;
  at::manual_seed(5);
  const int64_t B = 2, H = 3;
  for (int64_t keys : {1, 7, 8, 37, 300}) {
    for (int64_t window : {int64_t(0), int64_t(5)}) {
      for (bool with_bias : {false, true}) {
        // A block of R query rows at absolute positions q_begin..q_begin+R-1 over keys 0..keys-1.
        const int64_t R = std::min<int64_t>(keys, 9), q_begin = keys - R;
        INFO("keys ", keys, " window ", window, " bias ", with_bias);
        at::Tensor scores = at::randn({B, H, R, keys}) * 4;
        at::Tensor bias = with_bias ? at::randn({B, H, keys + 3}) * 3 : at::Tensor();
        at::Tensor masked;
        at::Tensor ref_scores = reference_scores(scores, bias, q_begin, window, &masked);
        at::Tensor ref = at::softmax(ref_scores, -1);

        REQUIRE(engine::fused_softmax_applies(scores, bias));
        at::Tensor kept = scores.clone(), probs;
        engine::fused_bias_mask_softmax(kept, bias, q_begin, window, probs, true);
        // Within 3 ulp of 1.0 of ATen's float softmax; relative to a double-precision reference, no worse than
        // ATen's own float result (whose error for small probabilities comes from rounding s - max).
        CHECK(max_abs_diff(probs, ref) <= 3.6e-7);
        at::Tensor exact = at::softmax(ref_scores.to(at::kDouble), -1);
        auto rel = [&](const at::Tensor& p) {
          return ((p.to(at::kDouble) - exact).abs() / exact.clamp_min(1e-30)).max().item<double>();
        };
        CHECK(rel(probs) <= 1.5 * rel(ref) + 2e-7);
        CHECK(at::equal(probs.eq(0), masked.expand_as(probs)));  // masked keys exactly 0
        CHECK(max_abs_diff(kept, ref_scores) == 0);
        CHECK(max_abs_diff(probs.sum(-1), at::ones({B, H, R})) <= 1e-6);
        at::Tensor inplace = scores.clone();
        engine::fused_bias_mask_softmax(inplace, bias, q_begin, window, inplace, false);
        CHECK(max_abs_diff(inplace, ref) <= 3.6e-7);
      }
    }
  }
  // Large score gaps (a PASTA log(0.01) bias, very negative logits): no overflow, no NaN.
  at::Tensor s = at::tensor({0.0f, -1e30f, 80.0f, -200.0f}).view({1, 1, 1, 4});
  at::Tensor p;
  engine::fused_bias_mask_softmax(s, at::Tensor(), 3, 0, p, false);
  CHECK(max_abs_diff(p, at::softmax(at::tensor({0.0f, -1e30f, 80.0f, -200.0f}), -1).view({1, 1, 1, 4})) <= 1e-7);
  CHECK_FALSE(engine::fused_softmax_applies(at::randn({1, 1, 4, 4}).transpose(2, 3), at::Tensor()));
  CHECK_FALSE(engine::fused_softmax_applies(at::randn({1, 1, 4, 4}, at::kDouble), at::Tensor()));
}

TEST_CASE("fused gated SiLU equals silu(gate) * up, including saturated and odd-width inputs") {
  KernelChoice kernels;
  at::manual_seed(6);
  for (int64_t I : {1, 8, 13, 1536}) {
    at::Tensor h = at::randn({3, 5, 2 * I}) * 6;
    h.view({-1})[0] = 95.0f;   // exp(-x) underflows
    h.view({-1})[1] = -95.0f;  // exp(-x) overflows: silu -> -0
    REQUIRE(engine::fused_silu_gate_applies(h));
    at::Tensor ref = at::silu(h.narrow(-1, 0, I)) * h.narrow(-1, I, I);
    at::Tensor got = engine::fused_silu_gate(h);
    INFO("I ", I);
    CHECK(got.sizes() == ref.sizes());
    CHECK(((got - ref).abs() / ref.abs().clamp_min(1.0)).max().item<double>() <= 1e-6);
    CHECK_FALSE(got.isnan().any().item<bool>());
  }
  CHECK_FALSE(engine::fused_silu_gate_applies(at::randn({2, 7})));
}

TEST_CASE("fused one-query attention equals the ATen computation on KV-cache views (GQA, bias, window)") {
  KernelChoice kernels;
  at::manual_seed(7);
  for (int64_t S : {1, 5, 40}) {
    for (int64_t window : {int64_t(0), int64_t(4)}) {
      for (bool with_bias : {false, true}) {
        const int64_t B = 2, H = 6, KVH = 2, hd = 20, cap = 64;
        INFO("S ", S, " window ", window, " bias ", with_bias);
        // Cache-shaped storage [B, KVH, cap, hd], viewed to the first S positions as the engine does.
        at::Tensor kc = at::randn({B, KVH, cap, hd}), vc = at::randn({B, KVH, cap, hd});
        at::Tensor k = kc.narrow(2, 0, S), v = vc.narrow(2, 0, S);
        at::Tensor q = at::randn({B, H, 1, hd});
        at::Tensor bias = with_bias ? at::randn({B, H, S + 2}) * 2 : at::Tensor();
        REQUIRE(engine::fused_query_attention_applies(q, k, v, bias));
        at::Tensor probs, scores;
        at::Tensor out = engine::fused_query_attention(q, k, v, bias, S - 1, window, &probs, &scores);
        // Reference: repeat K/V over the query-head groups, scores, mask, softmax, weighted values.
        at::Tensor kr = k.repeat_interleave(H / KVH, 1), vr = v.repeat_interleave(H / KVH, 1);
        at::Tensor ref_scores = reference_scores(at::matmul(q, kr.transpose(-1, -2)), bias, S - 1, window);
        at::Tensor ref_probs = at::softmax(ref_scores, -1);
        CHECK(max_abs_diff(scores, ref_scores) <= 1e-5);
        CHECK(max_abs_diff(probs, ref_probs) <= 1e-6);
        CHECK(max_abs_diff(out, at::matmul(ref_probs, vr)) <= 1e-5);
        // Without observer outputs the result is the same.
        CHECK(max_abs_diff(engine::fused_query_attention(q, k, v, bias, S - 1, window, nullptr, nullptr), out) == 0);
      }
    }
  }
  // Not taken: two query rows, or keys whose head dimension is not contiguous.
  CHECK_FALSE(engine::fused_query_attention_applies(at::randn({1, 2, 2, 8}), at::randn({1, 1, 3, 8}),
                                                    at::randn({1, 1, 3, 8}), at::Tensor()));
  CHECK_FALSE(engine::fused_query_attention_applies(at::randn({1, 2, 1, 8}), at::randn({1, 1, 8, 3}).transpose(2, 3),
                                                    at::randn({1, 1, 3, 8}), at::Tensor()));
}

TEST_CASE("fused attention block equals the ATen computation (GQA, causal block offsets, bias, window, observers)") {
  KernelChoice kernels;
  at::manual_seed(8);
  const int64_t B = 2, H = 6, KVH = 3, cap = 120;
  // Head widths: AVX2 16- and 8-column register tiles and a scalar remainder (24 = 16 + 8, 20 = 16 + 4, 8, 3);
  // AVX-512 tiles of 64 columns and masked tails (64, 128 = 2 x 64, 48, 20, 3); row counts across the 6-row groups
  // and the per-head chunks; key counts across 16-, 64- and 64 + tail key tiles.
  for (int64_t hd : {16, 24, 20, 8, 3, 64, 128, 48})
  for (int64_t R : {1, 5, 37, 70}) {
    for (int64_t pos0 : {int64_t(0), int64_t(11)}) {
      for (int64_t window : {int64_t(0), int64_t(7), int64_t(33)}) {
        for (bool with_bias : {false, true}) {
          INFO("hd ", hd, " R ", R, " pos0 ", pos0, " window ", window, " bias ", with_bias);
          const int64_t S = pos0 + R + 3, Sv = pos0 + R;  // keys past the block's last query are not used
          at::Tensor kc = at::randn({B, KVH, cap, hd}), vc = at::randn({B, KVH, cap, hd});
          at::Tensor k = kc.narrow(2, 0, S), v = vc.narrow(2, 0, S);
          // As the forward hands it over: a transposed view of [B, R, H, hd] (rows H * hd apart), scaled by
          // 1/sqrt(hd). The reference runs in double: the kernel's own error is measured, whatever float rounding
          // this machine's BLAS kernels would add to a float reference.
          at::Tensor q = (at::randn({B, R, H, hd}) / std::sqrt(static_cast<double>(hd))).transpose(1, 2);
          at::Tensor bias = with_bias ? at::randn({B, H, S}) * 2 : at::Tensor();
          if (with_bias) {
            // Heads a steering leaves alone: all zero, or zero over the keys in use (the kernel skips their rows).
            bias[0][1].zero_();
            bias[1][4].narrow(0, 0, Sv).zero_();
          }
          REQUIRE(engine::fused_attention_block_applies(q, k, v, bias));
          at::Tensor kr = k.narrow(2, 0, Sv).repeat_interleave(H / KVH, 1).to(at::kDouble);
          at::Tensor vr = v.narrow(2, 0, Sv).repeat_interleave(H / KVH, 1).to(at::kDouble);
          at::Tensor ref_scores = reference_scores(at::matmul(q.to(at::kDouble), kr.transpose(-1, -2)),
                                                   with_bias ? bias.to(at::kDouble) : bias, pos0, window);
          at::Tensor ref_probs = at::softmax(ref_scores, -1);
          at::Tensor ref_out = at::matmul(ref_probs, vr);

          at::Tensor scores, probs;
          at::Tensor out = engine::fused_attention_block(q, k, v, bias, pos0, Sv, window, &scores, &probs);
          CHECK(max_abs_diff(scores, ref_scores) <= 1e-5);
          CHECK(max_abs_diff(probs, ref_probs) <= 1e-6);
          CHECK(max_abs_diff(out, ref_out) <= 1e-5);
          // Asking for one, the other or neither of the score blocks gives the same output.
          at::Tensor probs_only, scores_only;
          CHECK(max_abs_diff(engine::fused_attention_block(q, k, v, bias, pos0, Sv, window, nullptr, &probs_only), out) == 0);
          CHECK(max_abs_diff(probs_only, ref_probs) <= 1e-6);
          CHECK(max_abs_diff(engine::fused_attention_block(q, k, v, bias, pos0, Sv, window, &scores_only, nullptr), out) == 0);
          CHECK(max_abs_diff(scores_only, ref_scores) <= 1e-5);
          CHECK(max_abs_diff(engine::fused_attention_block(q, k, v, bias, pos0, Sv, window, nullptr, nullptr), out) == 0);
          // Written into a given view: a transposed [B, R, H, hd] tensor, as attend() hands it over.
          at::Tensor dst = at::full({B, R, H, hd}, 7.0f);
          at::Tensor into = dst.transpose(1, 2);
          at::Tensor got = engine::fused_attention_block(q, k, v, bias, pos0, Sv, window, nullptr, nullptr, into);
          CHECK(got.data_ptr() == dst.data_ptr());
          CHECK(max_abs_diff(dst.transpose(1, 2), out) == 0);
        }
      }
    }
  }
  // More valid keys than the cache holds is refused (the kernel would read past the keys); no rows is nothing.
  at::Tensor k = at::randn({1, 1, 4, 16}), q = at::randn({1, 2, 3, 16});
  CHECK_THROWS_AS(engine::fused_attention_block(q, k, k, at::Tensor(), 4, 5, 0, nullptr, nullptr), hl::Error);
  CHECK_THROWS_AS(engine::fused_attention_block(q, k, k, at::Tensor(), 0, 4, 0, nullptr, nullptr, at::empty({1, 2, 4, 16})),
                  hl::Error);  // an output of another shape is refused
  CHECK(engine::fused_attention_block(q.narrow(2, 0, 0), k, k, at::Tensor(), 0, 0, 0, nullptr, nullptr).numel() == 0);
}

TEST_CASE("probabilities x one scalar per key, per head and head mean, equal ATen's matmul") {
  KernelChoice kernels;
  at::manual_seed(9);
  for (int64_t Sv : {1, 7, 33, 300}) {
    const int64_t B = 2, H = 5, R = 9, stride = Sv + 4;  // v rows longer than the block's keys, as in the views
    INFO("Sv ", Sv);
    at::Tensor probs = at::softmax(at::randn({B, H, R, Sv}), -1);
    at::Tensor v = at::randn({B, stride});
    REQUIRE(engine::probs_matvec_applies(probs));
    at::Tensor ref = at::matmul(probs, v.narrow(1, 0, Sv).view({B, 1, Sv, 1})).squeeze(-1);  // [B, H, R]
    at::Tensor per_head = at::empty({B, H, R}), mean = at::empty({B, R});
    engine::probs_matvec(probs, v.data_ptr<float>(), stride, false, per_head.data_ptr<float>());
    engine::probs_matvec(probs, v.data_ptr<float>(), stride, true, mean.data_ptr<float>());
    CHECK(max_abs_diff(per_head, ref) <= 1e-6);
    CHECK(max_abs_diff(mean, ref.mean(1)) <= 1e-6);
  }
  CHECK_FALSE(engine::probs_matvec_applies(at::randn({1, 2, 3, 4}).transpose(2, 3)));
}

TEST_CASE("the engine's own parallel loops run on every intra-op thread") {
  // at::parallel_for forks in the caller's code: hl_core must be compiled with OpenMP or these loops are serial.
  const int before = at::get_num_threads();
  at::set_num_threads(2);
  CHECK(parallel_loop_threads() == 2);
  at::set_num_threads(before);
}
