// The model organism's figures on held-out sets (issue #23), computed with headlight's own engine, steering,
// profiler and Influence: in-context retrieval accuracy, needle accuracy by depth, the knowledge-conflict share
// (baseline and with PASTA on profiled heads), the needle's Influence over GUIDE's Δ, and retrieval accuracy with
// the top profiled heads ablated versus as many random heads. The header is torch-free.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/job.h"

namespace hl::organism {

struct EvalOptions {
  std::filesystem::path model_dir;
  int64_t items = 200;       // held-out items per figure
  uint64_t seed = 7;         // the held-out sets' seed (training uses the model's own seed streams)
  std::string device = "cpu";
  int64_t top_heads = 4;     // heads PASTA steers and the ablation removes
  int64_t profile_examples = 48;
  int64_t random_draws = 20;  // random head sets averaged for the ablation control
  double alpha = 0.01;
};

// The figures as JSON: retrieval_accuracy, needle_accuracy_by_depth, conflict_new_share_baseline,
// conflict_new_share_pasta, influence_by_delta, ablation_top_heads, ablation_random_heads, and the details
// (counts, the profiled heads, fact recall, binding_accuracy: retrieval where every statement has the asked
// attribute, against binding_chance). Throws hl::Error naming the file for a bad directory.
nlohmann::ordered_json evaluate(const EvalOptions& o, const CancelToken* cancel = nullptr,
                                const std::function<void(const std::string&)>& log = {});

// A readable summary of evaluate()'s result.
std::string eval_report_text(const nlohmann::ordered_json& r);

// Writes the curriculum's task suites (JSONL, the profiler's format) and a haystack for needle-in-a-haystack
// into out_dir, for the organism in model_dir (its organism.json gives the seed): organism_retrieval, organism_needle,
// organism_conflict, organism_distractors (retrieval whose other statements share the asked attribute) and
// haystack/filler.txt.
void write_data_files(const std::filesystem::path& model_dir, const std::filesystem::path& out_dir, int64_t items);

}  // namespace hl::organism
