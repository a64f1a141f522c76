// Built-in task suites and the converters that make them (methods.md §3, §6.1).
//   counterfact     from ../shared/data/counterfact/counterfact_rewrites.jsonl, converted at use time:
//                   "Previously {true fact}. Currently {new fact}. {question}", emphasis = the new fact,
//                   target = the new object, versus = the old one (CounterFact efficacy's first-token margin).
//   pair_qa         from ../shared/data/profiling/pair_qa_synthetic.jsonl (SEKA's profiling set), two examples per
//                   item: "Context: {other passage} {passage}\nQuestion: {q}\nAnswer:", emphasis = the passage
//                   holding the answer, target = its answer, versus = the other passage's answer.
//   bios, json_format, pronoun_change
//                   the project's own suites in assets/suites/ (scripts/make_suites.py): synthetic biographies
//                   (occupation by first-token label accuracy) and PASTA's JSON-format and pronoun-change
//                   instruction templates over them (generation scorers).
// The shared data is read in place and never copied into the repository. Torch-free.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "analysis/task_file.h"
#include "analysis/task_suite.h"

namespace hl {

struct SuiteSources {
  std::filesystem::path shared_dir;  // ../shared
  std::filesystem::path assets_dir;  // the repository's assets/
};

std::vector<std::string> builtin_suite_names();

// Records the converter cannot split (a CounterFact pair whose sentences do not differ in a last word run) are
// skipped: they have no question to ask. The suite's examples keep the source ids ("cf 17", "qa 3.1").
TaskSuite suite_from_counterfact(const TaskFile& f, const std::string& source);
TaskSuite suite_from_pair_qa(const TaskFile& f, const std::string& source);

// A built-in suite name, a suite JSONL file, or a CounterFact / pair-QA task file (converted). Throws hl::Error
// naming the argument when it is neither a known name nor a readable file.
TaskSuite resolve_suite(const std::string& name_or_file, const SuiteSources& src);

// Converts a task file of the `tasks` loader's kinds, or loads a suite file: what `tasks --file F` shows.
TaskSuite load_any_task_file(const std::filesystem::path& path);

}  // namespace hl
