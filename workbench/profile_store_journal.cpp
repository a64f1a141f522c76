#include "workbench/profile_store_journal.h"

#include "analysis/profile_scores.h"

namespace hl::wb {

bool StoreProfileJournal::has(const ProfileUnit& u) {
  return s_.is_unit_recorded(job_, names_.at(static_cast<size_t>(u.task)), static_cast<int32_t>(u.head_block),
                             static_cast<int32_t>(u.example_block));
}

void StoreProfileJournal::record(const ProfileUnit& u, const UnitScores& sc, double elapsed_s) {
  store::ProfilingUnit pu;
  pu.task = names_.at(static_cast<size_t>(u.task));
  pu.layer = static_cast<int32_t>(u.head_block);
  pu.head = static_cast<int32_t>(u.example_block);
  pu.n_examples = u.n_examples;
  pu.elapsed_s = elapsed_s;
  pu.scores = unit_metrics(sc, u.first_example);
  s_.record_unit(job_, pu);
}

}  // namespace hl::wb
