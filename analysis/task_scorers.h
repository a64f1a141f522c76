// Per-example scores of the task suites' scorers (task_suite.h), from what the model produced: the next-token
// log-probabilities of a few watched tokens (logprob, label_acc) or a generated continuation (json_format,
// pronoun_change; methods.md §6.1). Torch-free.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace hl {

// log P(target) - log P(versus) (log P(target) when has_versus is false): lp = [target, versus].
double logprob_margin(const float* lp, bool has_versus);

// 1 when the correct label's first token has the highest log-probability among the labels' first tokens (the
// first listed label wins a tie), else 0. Labels sharing a first token are indistinguishable at one token:
// the correct one counts only if it is listed first among them.
double label_accuracy(const std::vector<float>& label_lp, int64_t correct);

// PASTA's JSON formatting metrics on a generation: f = some substring from a '{' to a later '}' parses as a
// JSON object (json.loads semantics: single-quoted keys do not parse); p = some parsed object has a value equal
// to the label or containing it, case-insensitively. The score is (f + p) / 2.
struct JsonFormatScore {
  bool format_ok = false, prediction_ok = false;
  double score() const { return (format_ok ? 0.5 : 0.0) + (prediction_ok ? 0.5 : 0.0); }
};
JsonFormatScore json_format_score(const std::string& generated, const std::string& label);

// PASTA's pronoun-change metrics on a generation (lowercased, split into words at non-letters): acc = no word in
// {she, he}; all = no word in {she, he, her, him, hers, his, herself, himself}. The score is (acc + all) / 2.
struct PronounScore {
  bool acc = false, all = false;
  double score() const { return (acc ? 0.5 : 0.0) + (all ? 0.5 : 0.0); }
};
PronounScore pronoun_change_score(const std::string& generated);

}  // namespace hl
