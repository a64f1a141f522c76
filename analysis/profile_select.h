// From per-task head scores to a PASTA head set (methods.md §3): rank every head per task by its mean score
// (higher is better; ties by layer, then head), then
//   intersection  heads in the top K of every task (PASTA's multi-task set),
//   union         heads in the top K of any task,
//   task          the top K of one task (task-specific),
//   loo           heads in the top K of every task except one (task-agnostic: leave that task out).
// The set lists heads in rank order: one task's own order for `task`, else by the sum of their ranks over the
// tasks taken (ties by best single rank, then layer, head); layers appear in the order of their best head.
// Any K works after the fact from the stored scores. Torch-free.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/steering/head_config.h"

namespace hl {

enum class SelectStrategy { Intersection, Union, Task, LeaveOneOut };

const char* select_strategy_name(SelectStrategy s);
SelectStrategy parse_select_strategy(const std::string& name);  // hl::Error naming the choices

struct TaskHeadScores {
  std::string task;
  std::vector<HeadRef> heads;   // the scored heads
  std::vector<double> scores;   // same length: mean score with the head steered
};

// Heads of one task, best first.
std::vector<HeadRef> rank_heads(const TaskHeadScores& t);

struct HeadSelection {
  std::vector<HeadRef> ranked;  // the selected heads in rank order
  HeadSet set;                  // the same as a PASTA head config (layers by their best head)
};

// `task` names the task for Task and LeaveOneOut (ignored otherwise). Throws hl::Error for K < 1, an unknown or
// missing task, tasks scoring different head sets, or LeaveOneOut with a single task.
HeadSelection select_heads(const std::vector<TaskHeadScores>& tasks, SelectStrategy strategy, int64_t k,
                           const std::string& task = "");

}  // namespace hl
