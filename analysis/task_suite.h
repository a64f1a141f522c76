// Task suites for head profiling (methods.md §3, §6.1): one JSON Lines format for any task, one example per line.
//   {"prompt": "...", "emphasis": "..." | "spans": [[a, b], ...], "target": "...", "versus": "...",
//    "labels": ["...", ...], "scorer": "...", "id": "...", <free fields>}
// prompt     the model input (text, no markers).
// emphasis   the substring PASTA emphasises (its first occurrence), or
// spans      code-point ranges [a, b) into the prompt (end-exclusive): tokenizer-independent, so a suite
//            works for every model.
// target     the continuation the task wants (first token scored), or the label a generation must contain.
// versus     a competing continuation: the default scorer is log P(target) - log P(versus) of the first token
//            after the prompt (log P(target) alone without versus).
// labels     candidate answers: the scorer is first-token label accuracy (target must be one of them).
// scorer     "logprob" | "label_acc" | "json_format" | "pronoun_change" (default: label_acc when labels
//            are given, else logprob). Every line of a suite uses the same scorer: a task has one score.
// id         a string or integer; default "line N". Unique in the suite.
// Free fields are kept (for slicing) and echoed by `tasks --show`. Bad records are an hl::Error
// `FILE:LINE: field "x" ...`; nothing is half-loaded. Torch-free.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace hl {

enum class SuiteScorer { LogProb, LabelAccuracy, JsonFormat, PronounChange };

const char* suite_scorer_name(SuiteScorer s);
// Whether the scorer needs a generated continuation (the others read the first next-token distribution).
bool scorer_generates(SuiteScorer s);

struct SuiteExample {
  std::string id;
  std::string prompt;
  std::string emphasis;                               // empty when spans are given
  std::vector<std::pair<int64_t, int64_t>> spans;     // code-point ranges (empty when emphasis is given)
  std::string target, versus;                         // versus may be empty
  std::vector<std::string> labels;                    // label_acc only
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();  // free fields, in file order
};

struct TaskSuite {
  std::string name;    // the task name profiling reports it under
  std::string source;  // file or built-in origin, for messages
  SuiteScorer scorer = SuiteScorer::LogProb;
  std::vector<SuiteExample> examples;
};

struct SuiteLimits {
  int64_t max_bytes = int64_t(1) << 30;
  int64_t max_line_bytes = int64_t(1) << 20;
  int64_t max_records = 10'000'000;
  int64_t max_labels = 4096;
};

// Parses suite JSONL text; `source` names it in errors ("FILE:LINE: field ...").
TaskSuite parse_suite_jsonl(std::string_view text, const std::string& source, const std::string& name,
                            const SuiteLimits& limits = {});
TaskSuite load_suite_file(const std::filesystem::path& path, const SuiteLimits& limits = {});

// One example as a JSON object in the file format (canonical field order), and a whole suite as JSONL.
nlohmann::ordered_json example_to_json(const SuiteExample& e, SuiteScorer scorer);
std::string suite_to_jsonl(const TaskSuite& s);
// A hash of the suite's examples in canonical form and its scorer (what profiling results depend on): the same
// examples hash the same whatever the formatting of the file they came from.
std::string suite_content_hash(const TaskSuite& s);

}  // namespace hl
