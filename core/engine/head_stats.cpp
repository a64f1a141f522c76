#include "core/engine/head_stats.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "core/kernels/cpu_features.h"

namespace hl {

namespace {
enum Stat { kSpanAfter, kSpanLast, kEntropy, kMax, kSink, kDistance, kFuture, kCount };
enum TokenStat { kTokDistance, kTokFuture, kTokCount };

// Windowed attention distance of query i over its causal keys p[0..n): sum_j p_j min(i - j, W). Keys at least W back
// all weigh W, and the row sums to 1, so only the last W keys are read: W (1 - sum_{window} p) + sum_{window} p (i - j).
float windowed_distance(const float* p, int64_t n, int64_t i, int64_t W) {
  const int64_t hi = std::min(i, n - 1), lo = std::max<int64_t>(0, i - W + 1);
  float in = 0, near = 0;
  for (int64_t j = lo; j <= hi; ++j) {
    in += p[j];
    near += p[j] * static_cast<float>(i - j);
  }
  return static_cast<float>(W) * std::max(0.0f, 1.0f - in) + near;
}

}  // namespace

HeadStatsRecorder::HeadStatsRecorder(int64_t layers, int64_t heads, std::vector<uint8_t> span_keys, int64_t rows_after,
                                     int64_t distance_window)
    : layers_(layers), heads_(heads), span_(std::move(span_keys)), rows_after_(rows_after), window_(distance_window) {
  if (window_ < 1) throw std::invalid_argument("head statistics: the distance window must be >= 1");
}

const std::vector<std::string>& HeadStatsRecorder::names() {
  static const std::vector<std::string> n = {"span_mass_after", "span_mass_last", "entropy",         "max",
                                             "sink",            "attn_distance",  "future_influence"};
  return n;
}

const std::vector<std::string>& HeadStatsRecorder::token_names() {
  static const std::vector<std::string> n = {"attn_distance", "future_influence"};
  return n;
}

void HeadStatsRecorder::on_forward_begin(Phase phase, int64_t batch, int64_t q_begin, int64_t tokens) {
  active_ = phase == Phase::Prefill;
  if (!active_) return;
  tokens_ = tokens;
  batch_ = batch;
  q0_ = q_begin;
  sums_ = at::Tensor();
  token_sums_ = at::Tensor();
  span_mask_ = at::Tensor();
}

void HeadStatsRecorder::on_attention(const AttentionView& view) {
  if (!active_) return;
  const auto* pp = static_cast<const at::Tensor*>(view.native());
  const auto* sp = static_cast<const at::Tensor*>(view.native_scores());
  if (!pp || !sp) return;  // not an engine view
  const at::Tensor& p = *pp;  // [B, H, R, S]
  const auto opts = p.options().dtype(at::kFloat);
  if (!sums_.defined()) sums_ = at::zeros({batch_, layers_, heads_, kCount}, opts);
  if (!token_sums_.defined()) token_sums_ = at::zeros({batch_, layers_, heads_, kTokCount, q0_ + tokens_}, opts);
  if (!span_mask_.defined()) {
    std::vector<float> m(static_cast<size_t>(view.keys), 0.0f);
    for (size_t j = 0; j < span_.size() && j < m.size(); ++j) m[j] = span_[j] ? 1.0f : 0.0f;
    span_mask_ = at::tensor(m, at::kFloat).to(p.device());
  }
  at::Tensor out = sums_.select(1, view.layer);  // [B, H, k]
  if (p.device().is_cpu() && p.is_contiguous() && sp->is_contiguous()) {
    accumulate_cpu(view, p, *sp, out);
    return;
  }
  // Per-row quantities, summed over the block's rows; divided by the row counts in stats().
  // p covers keys [0, valid_keys): the rest are 0 for these rows.
  at::Tensor span_mass = at::matmul(p, span_mask_.narrow(0, 0, p.size(-1)).unsqueeze(1)).squeeze(-1);  // [B, H, R]
  const int64_t after0 = std::max<int64_t>(rows_after_ - view.q_begin, 0);
  if (after0 < view.rows()) out.select(-1, kSpanAfter).add_(span_mass.narrow(-1, after0, view.rows() - after0).sum(-1));
  if (view.q_end == tokens_) out.select(-1, kSpanLast).add_(span_mass.select(-1, view.rows() - 1));
  // Entropy without a log per element: log p_j = s_j - lse and lse = max_j s_j - log(max_j p_j), so
  // H = -sum_j p_j log p_j = max_j s_j - log(max_j p_j) - sum_j p_j s_j (scores carry the steering bias).
  at::Tensor p_max = p.amax(-1);  // [B, H, R]
  const at::Tensor& s = *sp;
  out.select(-1, kEntropy).add_((s.amax(-1) - p_max.log() - (p * s).sum(-1)).sum(-1));
  out.select(-1, kMax).add_(p_max.sum(-1));
  out.select(-1, kSink).add_(p.select(-1, 0).sum(-1));
  // Distance and received attention through [R, n] weights of this block (the block is that size already).
  const int64_t R = view.rows(), n = p.size(-1);
  const at::Tensor qi = at::arange(view.q_begin, view.q_begin + R, opts).unsqueeze(1);  // [R, 1]
  const at::Tensor kj = at::arange(0, n, opts).unsqueeze(0);                              // [1, n]
  const at::Tensor dist = (p * (qi - kj).clamp(0, static_cast<double>(window_))).sum(-1);  // [B, H, R]
  out.select(-1, kDistance).add_(dist.sum(-1));
  at::Tensor tok = token_sums_.select(1, view.layer);  // [B, H, 2, S]
  tok.select(2, kTokDistance).narrow(-1, view.q_begin, R).add_(dist);
  tok.select(2, kTokFuture).narrow(-1, 0, n).add_((p * (kj < qi).to(p.scalar_type())).sum(2));
}

// The CPU path: one pass over each row of p and s (the kernel table's head_stats_row), rows split over threads.
void HeadStatsRecorder::accumulate_cpu(const AttentionView& view, const at::Tensor& p, const at::Tensor& s, at::Tensor& out) {
  const int64_t B = p.size(0), H = p.size(1), R = p.size(2), n = p.size(3);
  const float* pp = p.data_ptr<float>();
  const float* spp = s.data_ptr<float>();
  const float* mp = span_mask_.data_ptr<float>();
  using kernels::RowStats;
  std::vector<RowStats> rows(static_cast<size_t>(B * H * R));
  std::vector<float> dist(static_cast<size_t>(B * H * R));
  const kernels::HeadStatsRowFn row_stats = kernels::table().head_stats_row;
  // Tasks are (head, slice of rows): each adds the attention its rows give to earlier keys into its own partial
  // sums (no locks), which are added to the head's per-key sums afterwards. Several slices per head keep both
  // threads busy when there are few heads (9 heads on 2 threads would leave one idle a ninth of the time).
  const int64_t S = token_sums_.size(-1);
  float* tp = token_sums_.data_ptr<float>();  // [B, L, H, 2, S] contiguous
  auto head_tok = [&](int64_t bh) { return tp + (((bh / H) * layers_ + view.layer) * heads_ + bh % H) * kTokCount * S; };
  const int64_t slices = std::min<int64_t>(R, 4), rows_per = (R + slices - 1) / slices;
  std::vector<float> partial(static_cast<size_t>(B * H * slices * n), 0.0f);
  at::parallel_for(0, B * H * slices, 1, [&](int64_t a, int64_t e) {
    for (int64_t task = a; task < e; ++task) {
      const int64_t bh = task / slices, r0 = (task % slices) * rows_per, r1 = std::min(R, r0 + rows_per);
      float* dist_tok = head_tok(bh) + kTokDistance * S;
      float* received = &partial[static_cast<size_t>(task * n)];
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t i = bh * R + r, q = view.q_begin + r;
        const float* row = pp + i * n;
        // Keys past q have probability 0 (causal), so adding the whole row and then its diagonal back out leaves
        // the attention from this query to earlier keys.
        rows[static_cast<size_t>(i)] = row_stats(row, spp + i * n, mp, n, received);
        received[q] -= row[q];
        const float d = windowed_distance(row, n, q, window_);
        dist[static_cast<size_t>(i)] = d;
        dist_tok[q] += d;
      }
    }
  });
  at::parallel_for(0, B * H, 1, [&](int64_t a, int64_t e) {
    for (int64_t bh = a; bh < e; ++bh) {
      float* received = head_tok(bh) + kTokFuture * S;
      for (int64_t k = 0; k < slices; ++k) {
        const float* part = &partial[static_cast<size_t>((bh * slices + k) * n)];
        for (int64_t j = 0; j < n; ++j) received[j] += part[j];
      }
    }
  });
  const int64_t after0 = std::max<int64_t>(rows_after_ - view.q_begin, 0);
  auto acc = out.accessor<float, 3>();  // [B, H, k]
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      const RowStats* r = &rows[static_cast<size_t>((b * H + h) * R)];
      for (int64_t q = 0; q < R; ++q) {
        if (q >= after0) acc[b][h][kSpanAfter] += r[q].span;
        acc[b][h][kEntropy] += r[q].entropy;
        acc[b][h][kMax] += r[q].max_p;
        acc[b][h][kSink] += r[q].sink;
        acc[b][h][kDistance] += dist[static_cast<size_t>((b * H + h) * R + q)];
      }
      if (view.q_end == tokens_) acc[b][h][kSpanLast] += r[R - 1].span;
    }
}

at::Tensor HeadStatsRecorder::stats() const {
  if (!sums_.defined()) return at::zeros({batch_, layers_, heads_, kCount}, at::kFloat);
  at::Tensor s = sums_.to(at::kCPU).clone();
  const double n_after = static_cast<double>(std::max<int64_t>(tokens_ - rows_after_, 0));
  s.select(-1, kSpanAfter).div_(n_after > 0 ? n_after : 1.0);
  for (int k : {kEntropy, kMax, kSink, kDistance}) s.select(-1, k).div_(static_cast<double>(tokens_));
  // future_influence of a head: the mean over keys with a later query of the attention they receive per later query.
  const at::Tensor tok = token_stats();  // [B, L, H, 2, S]
  const int64_t keys = std::max<int64_t>(q0_ + tokens_ - 1, 0);
  if (keys > 0) s.select(-1, kFuture).copy_(tok.select(3, kTokFuture).narrow(-1, 0, keys).mean(-1));
  return s;
}

at::Tensor HeadStatsRecorder::token_stats() const {
  if (!token_sums_.defined()) return at::zeros({batch_, layers_, heads_, kTokCount, 0}, at::kFloat);
  at::Tensor t = token_sums_.to(at::kCPU).clone();
  // Key j is seen by the queries i > j among this forward's rows [q0, q0 + tokens).
  const int64_t S = t.size(-1), end = q0_ + tokens_;
  std::vector<float> inv(static_cast<size_t>(S), 0.0f);
  for (int64_t j = 0; j < S; ++j) {
    const int64_t later = end - std::max(j + 1, q0_);
    inv[static_cast<size_t>(j)] = later > 0 ? 1.0f / static_cast<float>(later) : 0.0f;
  }
  t.select(3, kTokFuture).mul_(at::tensor(inv, at::kFloat));
  return t;
}

}  // namespace hl
