// A head scan scored into a table: every candidate head steered (or ablated) alone on one prompt
// (core/engine/head_scan.h), scored by one metric, and its record in the store as a one-task profiling job (each
// head a unit; `runs export --head-score METRIC` draws it). The CLI's scan-heads and the workbench's Scan job run it.
// Torch-free header; the scan itself runs in the .cpp.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/steering/attention_bias.h"
#include "core/steering/head_ablation.h"
#include "core/job.h"
#include "storage/store.h"

namespace hl {
class Model;
}

namespace hl::wb {

struct HeadScanRequest {
  std::vector<int64_t> prompt;
  const AttentionBias* candidates = nullptr;  // each biased (or, ablating, biased or ablated) head is one candidate
  bool ablate = false;                        // ablate each candidate alone instead of steering it
  AblationMode ablation = AblationMode::Zero;
  // Scored by log P(target) [- log P(versus)]; without a target by KL(baseline || steered) of the next token, or,
  // ablating, by the prompt's loss increase (AttentionInfluence's score).
  std::optional<int64_t> target, versus;
  int64_t max_rows = 0;
  bool reuse_prompt_prefix = true;
  const CancelToken* cancel = nullptr;  // a cancelled scan throws hl::Cancelled
  ProgressFn progress;
};

struct HeadScanTable {
  // kl_from_baseline | loss_increase | logp_target | logp_target_minus_versus
  std::string metric;
  std::vector<std::pair<int64_t, int64_t>> heads;  // (layer, head), layer-major
  std::vector<double> score;                       // per head
  std::vector<int64_t> argmax;                     // per head, the steered next-token argmax (-1 with a target)
  double baseline_score = 0;                       // with a target: the unsteered score
  double baseline_loss = 0;                        // loss_increase: the unsteered loss
  int64_t baseline_top = -1;                       // without a target: the unsteered next-token argmax
  int64_t forwards = 0, recomputed_tokens = 0;
  double seconds = 0;

  // Head indices, best score first (ties keep layer-major order).
  std::vector<size_t> ranking() const;
};

// Throws hl::Error on a bad request (no candidates, versus without target), hl::Cancelled when cancelled.
HeadScanTable scan_head_table(const Model& m, const HeadScanRequest& req);

// The scan as a one-task profiling job of run `run_id`: task {"scan": task_json}, each head one unit scored by the
// table's metric.
void record_head_scan(store::Store& st, int64_t run_id, const HeadScanTable& t, const nlohmann::json& task_json);

}  // namespace hl::wb
