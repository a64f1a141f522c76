// A needle-in-a-haystack sweep on a loaded model with its resume logic: the fingerprint of everything that
// determines a cell (a journal of another fingerprint is refused), the CSV journal, and the store run that continues
// when the same sweep (grid, CSV, fingerprint) runs again. The CLI's niah and the workbench's Sweep job run it.
// Torch-free header.
#pragma once
#include <functional>

#include "analysis/niah.h"
#include "workbench/run_recorder.h"
#include "workbench/workbench.h"

namespace hl {
class Model;
}

namespace hl::wb {

struct NiahSweepOutcome {
  NiahSweepSummary summary;
  int64_t run_id = 0;          // the store run (with a recorder)
  RetrievalTally retrieval;    // over the cells run by this call (with retrieval_scores)
};

// `on_cell` sees every cell: first the ones the journal already holds (resumed = true), then each as it finishes.
using NiahCellFn = std::function<void(const NiahResult&, bool resumed)>;

// The steering of a request checked against the model, in query-head indices (the default GUIDE one when unset).
SteeringSpec niah_steering(const Model& m, const NiahSweepRequest& req);

// Throws hl::Error on bad settings or a journal of another sweep; hl::Cancelled when cancelled between cells (the
// finished cells stay in the journal and the store; the store run is marked cancelled).
NiahSweepOutcome run_niah(const Model& m, const NiahSweepRequest& req, RunRecorder* rec, const CancelToken* cancel,
                          const ProgressFn& progress, const NiahCellFn& on_cell = {});

}  // namespace hl::wb
