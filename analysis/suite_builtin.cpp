#include "analysis/suite_builtin.h"

#include <fstream>

#include "core/error.h"
#include "core/json_limits.h"

namespace hl {
namespace {

namespace fs = std::filesystem;

// The two sentences of a CounterFact pair share a prefix and differ in the object: split both at the last
// word boundary of their common prefix ("... is" + " French" / " English").
bool split_rewrite(const std::string& correct, const std::string& incorrect, std::string& question,
                   std::string& old_obj, std::string& new_obj) {
  size_t n = 0;
  while (n < correct.size() && n < incorrect.size() && correct[n] == incorrect[n]) ++n;
  // Back up to a space so the objects start with " word" (the continuation a model would produce).
  while (n > 0 && correct[n - 1] != ' ') --n;
  if (n < 2) return false;
  question = correct.substr(0, n - 1);
  old_obj = correct.substr(n - 1);
  new_obj = incorrect.substr(n - 1);
  return old_obj.size() > 1 && new_obj.size() > 1 && old_obj != new_obj;
}

std::string first_line_of(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string() + ": cannot open task file");
  std::string line;
  while (std::getline(in, line))
    if (line.find_first_not_of(" \t\r") != std::string::npos) return line;
  return {};
}

}  // namespace

std::vector<std::string> builtin_suite_names() {
  return {"counterfact", "pair_qa", "bios", "json_format", "pronoun_change"};
}

TaskSuite suite_from_counterfact(const TaskFile& f, const std::string& source) {
  if (f.kind != TaskKind::CounterFact) throw Error(source + ": not a CounterFact rewrite file");
  TaskSuite s;
  s.name = "counterfact";
  s.source = source;
  s.scorer = SuiteScorer::LogProb;
  for (const CounterFactItem& c : f.counterfact) {
    std::string question, old_obj, new_obj;
    if (!split_rewrite(c.correct, c.incorrect, question, old_obj, new_obj)) continue;
    SuiteExample e;
    e.id = "cf " + std::to_string(c.case_id);
    // PASTA's model input (evaluation code: no commas): the new fact is emphasised.
    e.prompt = "Previously " + c.correct + ". Currently " + c.incorrect + ". " + question;
    e.emphasis = c.incorrect;
    e.target = new_obj;
    e.versus = old_obj;
    e.extra["case_id"] = c.case_id;
    s.examples.push_back(std::move(e));
  }
  if (s.examples.empty()) throw Error(source + ": no CounterFact record could be split into question and objects");
  return s;
}

TaskSuite suite_from_pair_qa(const TaskFile& f, const std::string& source) {
  if (f.kind != TaskKind::PairQa) throw Error(source + ": not a pair-QA file");
  TaskSuite s;
  s.name = "pair_qa";
  s.source = source;
  s.scorer = SuiteScorer::LogProb;
  for (const PairQaItem& q : f.pair_qa) {
    for (int p = 0; p < 2; ++p) {
      const int o = 1 - p;
      SuiteExample e;
      e.id = "qa " + std::to_string(q.id) + "." + std::to_string(p + 1);
      // SEKA's profiling prompt: the irrelevant passage first, the relevant one (emphasised) next to the question.
      e.prompt = "Context: " + q.context[o] + " " + q.context[p] + "\nQuestion: " + q.question[p] + "\nAnswer:";
      e.emphasis = q.context[p];
      e.target = " " + q.answer[p];
      e.versus = " " + q.answer[o];
      e.extra["item"] = q.id;
      e.extra["question"] = p + 1;
      if (e.target == e.versus) e.versus.clear();  // identical answers: nothing to compare against
      s.examples.push_back(std::move(e));
    }
  }
  return s;
}

TaskSuite load_any_task_file(const fs::path& path) {
  const std::string first = first_line_of(path);
  nlohmann::json j = nlohmann::json::parse(first, nullptr, false);
  if (j.is_object() && !j.contains("prompt") &&
      (j.contains("correct") || j.contains("incorrect") || j.contains("context_1") || j.contains("question_1"))) {
    const TaskFile f = load_task_file(path);
    return f.kind == TaskKind::CounterFact ? suite_from_counterfact(f, path.string())
                                           : suite_from_pair_qa(f, path.string());
  }
  return load_suite_file(path);
}

TaskSuite resolve_suite(const std::string& arg, const SuiteSources& src) {
  if (arg == "counterfact") {
    const fs::path p = src.shared_dir / "data" / "counterfact" / "counterfact_rewrites.jsonl";
    return suite_from_counterfact(load_task_file(p, TaskKind::CounterFact), p.string());
  }
  if (arg == "pair_qa") {
    const fs::path p = src.shared_dir / "data" / "profiling" / "pair_qa_synthetic.jsonl";
    return suite_from_pair_qa(load_task_file(p, TaskKind::PairQa), p.string());
  }
  for (const std::string& n : builtin_suite_names())
    if (arg == n) {
      TaskSuite s = load_suite_file(src.assets_dir / "suites" / (n + ".jsonl"));
      s.name = n;
      return s;
    }
  if (!fs::is_regular_file(arg)) {
    std::string names;
    for (const auto& n : builtin_suite_names()) names += (names.empty() ? "" : ", ") + n;
    throw Error("--suite " + arg + ": neither a built-in suite (" + names + ") nor a readable file");
  }
  return load_any_task_file(arg);
}

}  // namespace hl
