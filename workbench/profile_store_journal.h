// The profiler's journal in the run store: each unit and its per-example scores one transaction in profiling_units,
// keyed (task, layer, head) = (task name, head block, example block). The CLI's `profile` and the bench's profile
// section record through it, so both measure and resume the same way. Engine-facing (analysis/run).
#pragma once
#include <string>
#include <vector>

#include "analysis/run/profile_run.h"
#include "storage/store.h"

namespace hl::wb {

class StoreProfileJournal : public ProfileJournal {
 public:
  // task_names[i] names the store's task of ProfileUnit::task == i.
  StoreProfileJournal(store::Store& s, int64_t job, std::vector<std::string> task_names)
      : s_(s), job_(job), names_(std::move(task_names)) {}
  void set_task_names(std::vector<std::string> names) { names_ = std::move(names); }
  bool has(const ProfileUnit& u) override;
  void record(const ProfileUnit& u, const UnitScores& sc, double elapsed_s) override;

 private:
  store::Store& s_;
  int64_t job_;
  std::vector<std::string> names_;
};

}  // namespace hl::wb
