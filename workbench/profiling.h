// Multi-task head profiling as a job on a loaded model (methods.md §3): the suites prepared, the job's fingerprint,
// its units journalled in the store (a job under the same fingerprint resumes; another job's settings under the
// same scores file are refused, naming what differs), live per-head scores as units finish, and scores.json.
// The CLI's profile and the workbench's Profile job run it. Torch-free header.
#pragma once
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "analysis/suite_builtin.h"
#include "storage/store.h"
#include "workbench/workbench.h"

namespace hl {
class Model;
}

namespace hl::wb {

// Where built-in suites and the haystack come from: ../shared (HEADLIGHT_SHARED_DIR in the environment, else the
// build's) and the repository's assets/.
SuiteSources suite_sources();
// Content hash of config.json (for a llama2.c checkpoint: its shape and size, as the run store records it).
std::string model_config_hash(const Model& m);
// Identity of the weights (model_identity.h), folded to one hash.
std::string model_weights_id(const Model& m);

struct ProfileOutcome {
  ProfileScores scores;                // final (finished = true)
  nlohmann::ordered_json scores_json;  // as written to req.out_path
  double seconds = 0;                  // computing units in this call
  int64_t head_examples = 0;           // head x example evaluations computed in this call
};

using ProfileScoresFn = std::function<void(const ProfileScores&)>;

// Runs or resumes the job of `req` in `st` and writes scores.json (req.out_path, required) whole. `on_scores` sees
// the scores once the job is found (resumed units included) and after every unit. Throws hl::Error on bad settings
// or a clashing job; hl::Cancelled when cancelled (the job and its run are marked cancelled; recorded units stay).
ProfileOutcome run_profiling(const Model& m, const ProfileRequest& req, store::Store& st, const CancelToken* cancel,
                             const ProgressFn& progress, const ProfileScoresFn& on_scores = {});

}  // namespace hl::wb
