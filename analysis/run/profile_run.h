// The profiler's job driver (methods.md §3): every candidate head steered alone (PASTA, alpha, scale position)
// on every example of every task, through scan_heads (batched rows branching from the unsteered layers and
// prompt prefix) for first-token scorers, or through batched steered generation for generation scorers (only
// those generate). Work is split into units (task x head block x example block); a journal says which units
// are already recorded and records each as it finishes, so a killed job resumes where it stopped.
// Deterministic: a unit's scores depend only on the model, its examples and its head block.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "analysis/profile_scores.h"
#include "analysis/task_suite.h"
#include "core/engine/model.h"
#include "core/job.h"
#include "core/steering/steering_spec.h"

namespace hl {

// An example in token space: what a unit runs.
struct PreparedExample {
  std::vector<int64_t> ids;
  std::vector<SteeringSpan> spans;
  std::vector<int64_t> watch;  // logprob: [target, versus?]; label_acc: every label's first token
  bool has_versus = false;
  int64_t correct = 0;         // label_acc: index of the correct label
  std::string target;          // generation scorers: the label the answer must hold
};

struct PreparedTask {
  std::string name;
  SuiteScorer scorer = SuiteScorer::LogProb;
  std::vector<PreparedExample> examples;
};

// Tokenises the first max_examples (0 = all) examples: prompt with BOS per add_bos, emphasis located in the text
// (first occurrence, half-open overlap) or code-point spans mapped to tokens, targets' first tokens (no BOS).
// Throws hl::Error "SUITE: example ID: ..." when a span matches no token or a target tokenises to nothing.
PreparedTask prepare_task(const TaskSuite& suite, const Tokenizer& tok, bool add_bos, int64_t max_examples);

struct ProfilePlan {
  double alpha = 0.01;
  ScalePosition scale_position = ScalePosition::Exclude;
  HeadSet heads = HeadSet::all();  // candidates
  int64_t head_block = 0;          // heads per unit (0 = every candidate head)
  int64_t example_block = 4;       // examples per unit
  int64_t scan_rows = 0;           // scan_heads max_rows (0 = a layer's heads per forward)
  int64_t max_new_tokens = 24;     // generation scorers
  int64_t generation_rows = 16;    // heads generated side by side
};

struct ProfileUnit {
  size_t task = 0;
  int64_t head_block = 0, example_block = 0;
  int64_t first_example = 0, n_examples = 0;
  std::vector<HeadRef> heads;
};

// The job's units in run order: task, example block, head block.
std::vector<ProfileUnit> plan_units(const Model& model, const std::vector<PreparedTask>& tasks, const ProfilePlan& p);

class ProfileJournal {
 public:
  virtual ~ProfileJournal() = default;
  virtual bool has(const ProfileUnit& u) = 0;
  virtual void record(const ProfileUnit& u, const UnitScores& s, double elapsed_s) = 0;
};

struct ProfileRunStats {
  int64_t units = 0, computed = 0, skipped = 0;
  bool cancelled = false;
  double seconds = 0;
  int64_t head_examples = 0;  // head x example evaluations computed
};

ProfileRunStats run_profile(const Model& model, const std::vector<PreparedTask>& tasks, const ProfilePlan& plan,
                            ProfileJournal& journal, const CancelToken* cancel = nullptr, const ProgressFn& progress = {});

// One unit's scores (exposed for the bench and tests).
UnitScores compute_unit(const Model& model, const PreparedTask& task, const ProfileUnit& unit, const ProfilePlan& plan,
                        const CancelToken* cancel = nullptr);

}  // namespace hl
