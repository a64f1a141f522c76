// tasks: validate a profiling task dataset (JSONL) and summarise it; --show N prints the first N records and
// the profiling examples they convert to (task_suite.h). A task suite file (records with "prompt") is shown as is.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "analysis/suite_builtin.h"
#include "analysis/task_file.h"
#include "app/cli/commands.h"

namespace hl::cli {
namespace {

// Whether the file's first record is in the suite format (has "prompt").
bool is_suite_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    return j.is_object() && j.contains("prompt");
  }
  return false;
}

nlohmann::json examples_json(const TaskSuite& s, int64_t show) {
  nlohmann::json ex = nlohmann::json::array();
  for (int64_t i = 0; i < std::min<int64_t>(show, static_cast<int64_t>(s.examples.size())); ++i)
    ex.push_back(nlohmann::json::parse(example_to_json(s.examples[static_cast<size_t>(i)], s.scorer).dump()));
  return ex;
}

int cmd_tasks(const Args& a) {
  const std::string file = a.get("file");
  const int64_t show_arg = a.get_int("show", 0);
  if (a.get("kind", "auto") == "auto" && is_suite_file(file)) {
    const TaskSuite s = load_suite_file(file);
    nlohmann::json j = {{"file", file},
                        {"kind", "suite"},
                        {"scorer", suite_scorer_name(s.scorer)},
                        {"records", s.examples.size()}};
    if (show_arg > 0) j["examples"] = examples_json(s, show_arg);
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  const TaskFile t = load_task_file(file, parse_task_kind(a.get("kind", "auto")));
  const int64_t show = std::min<int64_t>(show_arg, t.size());
  nlohmann::json items = nlohmann::json::array();
  for (int64_t i = 0; i < show; ++i) {
    if (t.kind == TaskKind::CounterFact) {
      const auto& c = t.counterfact[static_cast<size_t>(i)];
      items.push_back({{"case_id", c.case_id}, {"correct", c.correct}, {"incorrect", c.incorrect}});
    } else {
      const auto& q = t.pair_qa[static_cast<size_t>(i)];
      items.push_back({{"id", q.id},
                       {"context_1", q.context[0]}, {"question_1", q.question[0]}, {"answer_1", q.answer[0]},
                       {"context_2", q.context[1]}, {"question_2", q.question[1]}, {"answer_2", q.answer[1]}});
    }
  }
  nlohmann::json j = {{"file", file}, {"kind", task_kind_name(t.kind)}, {"records", t.size()}};
  if (show > 0) {
    j["items"] = items;
    // What profiling runs: the records converted to suite examples.
    const TaskSuite s = t.kind == TaskKind::CounterFact ? suite_from_counterfact(t, file) : suite_from_pair_qa(t, file);
    j["examples"] = examples_json(s, show);
  }
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

RegisterCommand reg("tasks", "validate a profiling task file and show its records",
                    {text("file", "F.jsonl", "the task file (required)"),
                     text("kind", "KIND", "auto (default), counterfact, pair-qa"),
                     integer("show", "N", "print the first N records", 0)},
                    cmd_tasks);

}  // namespace
}  // namespace hl::cli
