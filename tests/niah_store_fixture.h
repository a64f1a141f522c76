// A NIAH run with a retrieval tally, written straight into a store for a given model identity (path + config hash),
// as `headlight-cli niah --retrieval-scores --db` records one: for tests of what reads them back (the workbench's
// retrieval_scores, the Heads grid's colour). Shared by the engine and gui tests.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "storage/store.h"

namespace hl_test {

// One done run of kind "niah" with one sweep of `method` and one cell whose tally is `copy_steps` and `hits`
// (layer-major per head). Returns the run id.
inline int64_t record_retrieval_run(const std::string& db, const std::string& model_path, const std::string& config_hash,
                                    int64_t copy_steps, const std::vector<int32_t>& hits, const std::string& method = "none") {
  hl::store::Store st = hl::store::Store::open(db);
  hl::store::ModelRecord m;
  m.path = model_path;
  m.config_hash = config_hash;
  m.architecture = "llama";
  hl::store::RunRecord run;
  run.model_id = st.record_model(m);
  run.kind = "niah";
  const int64_t run_id = st.start_run(run);
  const int64_t sweep = st.create_niah_sweep(run_id, method, "{}");
  hl::store::NiahCell c;
  c.context_length = 256;
  c.depth_percent = 50;
  c.n_samples = 1;
  c.retrieval_copy_steps = copy_steps;
  c.retrieval_hits = hits;
  st.record_niah_cell(sweep, c);
  st.finish_run(run_id, "done");
  return run_id;
}

}  // namespace hl_test
