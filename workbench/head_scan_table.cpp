#include "workbench/head_scan_table.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <numeric>

#include "core/engine/head_scan.h"
#include "core/engine/model.h"
#include "core/error.h"

namespace hl::wb {

std::vector<size_t> HeadScanTable::ranking() const {
  std::vector<size_t> order(score.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) { return score[x] > score[y]; });
  return order;
}

HeadScanTable scan_head_table(const Model& m, const HeadScanRequest& req) {
  if (!req.candidates) throw Error("scan: no candidate heads");
  if (req.versus && !req.target) throw Error("scan: a versus token needs a target");
  HeadScanOptions so;
  so.max_rows = req.max_rows;
  so.reuse_prompt_prefix = req.reuse_prompt_prefix;
  if (req.ablate) {
    so.effect = HeadEffect::Ablate;
    so.ablation = req.ablation;
    so.prompt_loss = !req.target;
  }
  if (req.target) so.watch_tokens.push_back(*req.target);
  if (req.versus) so.watch_tokens.push_back(*req.versus);
  so.cancel = req.cancel;
  so.progress = req.progress;
  const auto t0 = std::chrono::steady_clock::now();
  HeadScanResult r = scan_heads(m, req.prompt, *req.candidates, so);
  if (r.cancelled) throw Cancelled();
  HeadScanTable t;
  t.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  t.heads = r.heads;
  t.forwards = r.forwards;
  t.recomputed_tokens = r.recomputed_tokens;
  const auto n = static_cast<int64_t>(r.heads.size());
  t.score.assign(static_cast<size_t>(n), 0.0);
  t.argmax.assign(static_cast<size_t>(n), -1);
  t.metric = req.target ? (req.versus ? "logp_target_minus_versus" : "logp_target")
                        : so.prompt_loss ? "loss_increase" : "kl_from_baseline";
  auto fill_argmax = [&] {
    const at::Tensor am = r.steered.argmax(-1);
    for (int64_t i = 0; i < n; ++i) t.argmax[static_cast<size_t>(i)] = am[i].item<int64_t>();
    t.baseline_top = r.base.argmax().item<int64_t>();
  };
  if (so.prompt_loss) {
    t.baseline_loss = r.base_loss;
    for (int64_t i = 0; i < n; ++i) t.score[static_cast<size_t>(i)] = r.loss[static_cast<size_t>(i)] - r.base_loss;
    fill_argmax();
  } else if (req.target) {
    auto margin = [&](const at::Tensor& row) {
      return row[0].item<double>() - (req.versus ? row[1].item<double>() : 0.0);
    };
    t.baseline_score = margin(r.base);
    for (int64_t i = 0; i < n; ++i) t.score[static_cast<size_t>(i)] = margin(r.steered[i]);
  } else {
    const at::Tensor lb = at::log_softmax(r.base.to(at::kDouble), -1);
    const at::Tensor ls = at::log_softmax(r.steered.to(at::kDouble), -1);
    const at::Tensor kl = (lb.exp().unsqueeze(0) * (lb.unsqueeze(0) - ls)).sum(-1);
    for (int64_t i = 0; i < n; ++i) t.score[static_cast<size_t>(i)] = kl[i].item<double>();
    fill_argmax();
  }
  return t;
}

void record_head_scan(store::Store& st, int64_t run_id, const HeadScanTable& t, const nlohmann::json& task_json) {
  const auto n = static_cast<int64_t>(t.heads.size());
  const int64_t job = st.create_profiling_job(run_id, nlohmann::json({{"scan", task_json}}).dump(), n);
  for (int64_t i = 0; i < n; ++i) {
    store::ProfilingUnit u;
    u.task = "scan";
    u.layer = static_cast<int32_t>(t.heads[static_cast<size_t>(i)].first);
    u.head = static_cast<int32_t>(t.heads[static_cast<size_t>(i)].second);
    u.n_examples = 1;
    u.elapsed_s = n > 0 ? t.seconds / static_cast<double>(n) : 0.0;
    u.scores = {{t.metric, t.score[static_cast<size_t>(i)]}};
    st.record_unit(job, u);
  }
  st.finish_profiling_job(job, "done");
}

}  // namespace hl::wb
