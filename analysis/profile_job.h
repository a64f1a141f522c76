// The identity of a profiling job: everything that determines its results (model config and weights
// identity, suites and their content hashes, examples, alpha, scale position, candidate heads, scorers, block
// sizes, result-format version), as one canonical JSON document and its fingerprint. A stored job resumes only
// under the same fingerprint; a job with another one is never merged into it. Torch-free.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace hl {

inline constexpr int kProfileResultFormat = 1;

struct ProfileSuiteRef {
  std::string name, hash, scorer;
  int64_t examples = 0;  // used (after --examples)
};

struct ProfileJobSpec {
  std::string model_config_hash, model_weights_id;
  int64_t layers = 0, heads_per_layer = 0;
  std::vector<ProfileSuiteRef> suites;
  int64_t max_examples = 0;      // --examples (0 = all)
  double alpha = 0.01;
  std::string scale_position = "exclude";
  std::string heads = "all";     // candidate heads as names
  int64_t head_block = 0, example_block = 0, max_new_tokens = 0;
};

// {"format": 1, "model": {...}, "suites": [...], "examples", "alpha", "scale_position", "heads", "blocks": {...},
//  "max_new_tokens"} plus "fingerprint" (the hash of the rest, canonically dumped).
nlohmann::json profile_job_document(const ProfileJobSpec& s);
// The top-level fields (and "suites[i].name/hash", "model.*") where two job documents differ, for the error
// that refuses to merge them.
std::vector<std::string> profile_job_differences(const nlohmann::json& a, const nlohmann::json& b);

}  // namespace hl
