// Task datasets for head profiling, read from JSON Lines: one flat JSON object per line.
//   counterfact: {"case_id": int, "correct": str, "incorrect": str}      (CounterFact rewrite pairs)
//   pair-qa:     {"id": int, "context_1": str, "context_2": str,
//                 "question_1": str, "answer_1": str, "question_2": str, "answer_2": str}
// The kind is given or detected from the first record's fields. Fields beyond these are ignored (upstream
// dumps carry extras); blank lines are skipped. Anything else (a line that is not a JSON object, a missing or
// mistyped field, an empty string, a duplicate id, a line or file past the limits) is an hl::Error naming the
// file, the 1-based line and the field. Nothing is half-loaded: a file loads whole or not at all. Torch-free.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace hl {

enum class TaskKind { Auto, CounterFact, PairQa };

struct CounterFactItem {
  int64_t case_id = 0;
  std::string correct, incorrect;
};

struct PairQaItem {
  int64_t id = 0;
  std::string context[2], question[2], answer[2];
};

struct TaskFile {
  TaskKind kind = TaskKind::Auto;
  std::vector<CounterFactItem> counterfact;  // kind == CounterFact
  std::vector<PairQaItem> pair_qa;           // kind == PairQa
  int64_t size() const { return static_cast<int64_t>(kind == TaskKind::CounterFact ? counterfact.size() : pair_qa.size()); }
};

struct TaskFileLimits {
  int64_t max_bytes = int64_t(1) << 30;      // whole file
  int64_t max_line_bytes = int64_t(1) << 20; // one record
  int64_t max_records = 10'000'000;
};

const char* task_kind_name(TaskKind k);
TaskKind parse_task_kind(const std::string& name);  // "auto", "counterfact", "pair-qa"; else hl::Error

// Parses JSONL text; `source` names it in errors.
TaskFile parse_task_jsonl(std::string_view text, const std::string& source, TaskKind kind = TaskKind::Auto,
                          const TaskFileLimits& limits = {});
TaskFile load_task_file(const std::filesystem::path& path, TaskKind kind = TaskKind::Auto,
                        const TaskFileLimits& limits = {});

}  // namespace hl
