// The document's head-set helpers and the names of job kinds and states.
#include <algorithm>

#include "workbench/workbench.h"

namespace hl::wb {

bool head_in_set(const HeadSet& set, int64_t layer, int64_t head) {
  if (set.is_all()) return true;
  for (const auto& e : set.entries())
    if (e.layer == layer && (e.all_heads || std::find(e.heads.begin(), e.heads.end(), head) != e.heads.end()))
      return true;
  return false;
}

void set_head(HeadSet& set, int64_t layer, int64_t head, bool on, int64_t n_layers, int64_t n_heads) {
  if (head_in_set(set, layer, head) == on) return;
  if (on) {
    set.add(layer, head);
    return;
  }
  // Removing: rebuild without the head, whole layers (and "all") written out against the model's shape; the
  // remaining heads keep their rank order.
  HeadSet out;
  std::vector<HeadRef> refs = set.expand(n_layers, n_heads);
  for (const auto& r : refs)
    if (!(r.layer == layer && r.head == head)) out.add(r.layer, r.head);
  set = std::move(out);
}

void toggle_head(HeadSet& set, int64_t layer, int64_t head, int64_t n_layers, int64_t n_heads) {
  set_head(set, layer, head, !head_in_set(set, layer, head), n_layers, n_heads);
}

const char* to_string(JobKind k) {
  switch (k) {
    case JobKind::Load: return "load";
    case JobKind::Prepare: return "prepare";
    case JobKind::Baseline: return "baseline";
    case JobKind::Steered: return "steered";
    case JobKind::Capture: return "capture";
    case JobKind::Influence: return "influence";
    case JobKind::Scan: return "scan";
    case JobKind::Sweep: return "sweep";
    case JobKind::Profile: return "profile";
    case JobKind::Custom: return "job";
  }
  return "job";
}

const char* to_string(JobState s) {
  switch (s) {
    case JobState::Queued: return "queued";
    case JobState::Running: return "running";
    case JobState::Done: return "done";
    case JobState::Failed: return "failed";
    case JobState::Cancelled: return "cancelled";
  }
  return "?";
}

}  // namespace hl::wb
