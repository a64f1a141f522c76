// Records what a job computed in the run store (storage/): the model, the prompt, the spec, the run and its status.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "storage/store.h"
#include "workbench/prompt_setup.h"
#include "workbench/workbench.h"

namespace hl {
class Model;
}

namespace hl::wb {

class RunRecorder {
 public:
  // Opens (creating when absent) the store at `db_path`.
  explicit RunRecorder(const std::string& db_path);
  explicit RunRecorder(store::Store s);

  // Starts a run of `kind` for this model and prompt (and steering spec, if any). Returns the run id.
  int64_t start(const std::string& kind, const Model& m, const PromptSetup& ps, const store::SamplingSettings& s,
                int64_t seed, const std::string& note = "");
  // Continues an existing run (a resumed job). A run that did not finish (interrupted, failed, cancelled) is running
  // again, owned by this process; a finished one stays done (a rerun that finds everything computed).
  void resume(int64_t run_id);
  store::Store& store() { return store_; }
  void finish(const std::string& status = "done", const std::string& error = "");
  int64_t run_id() const { return run_; }

 private:
  store::Store store_;
  int64_t run_ = 0;
};

// Runs started and not yet finished in this process, for a front end's last word: when a command dies of an error
// or a signal, settle_open_runs marks them failed (with the error) or cancelled instead of leaving them running.
// Returns how many were settled; errors while settling are swallowed (the store may be the thing that failed).
int settle_open_runs(const std::string& status, const std::string& error);

// The store's record of a model (path, config hash, shapes).
store::ModelRecord model_record(const Model& m);
store::FloatMatrix to_matrix(int64_t rows, int64_t cols, std::vector<float> values);

// A run's per-head statistics (one row per layer, head and statistic).
void add_head_stats(store::Store& st, int64_t run_id, const HeadStatsTable& t);
// A run's Influence and rollout traces under the span "A:B" + suffix (" baseline" names the other variant).
void add_influence_traces(store::Store& st, int64_t run_id, const InfluenceCurves& c, const std::string& suffix = "");

}  // namespace hl::wb
