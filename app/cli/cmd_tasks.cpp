// tasks: validate a profiling task dataset (JSONL) and summarise it; --show N prints the first N records.
#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "analysis/task_file.h"
#include "app/cli/commands.h"

namespace hl::cli {
namespace {

int cmd_tasks(const Args& a) {
  const TaskFile t = load_task_file(a.get("file"), parse_task_kind(a.get("kind", "auto")));
  const int64_t show = std::min<int64_t>(a.get_int("show", 0), t.size());
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
  nlohmann::json j = {{"file", a.get("file")}, {"kind", task_kind_name(t.kind)}, {"records", t.size()}};
  if (show > 0) j["items"] = items;
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
