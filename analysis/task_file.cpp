#include "analysis/task_file.h"
#include "analysis/jsonl_records.h"

#include <unordered_set>

#include "core/error.h"
#include "core/file_read.h"
#include "core/json_limits.h"

namespace hl {
namespace {


const std::string& str_field(const nlohmann::json& j, const char* field, const std::string& where) {
  auto it = j.find(field);
  if (it == j.end()) throw Error(where + ": missing field \"" + field + "\"");
  if (!it->is_string()) throw Error(where + ": field \"" + field + "\" must be a string");
  const std::string& s = it->get_ref<const std::string&>();
  if (s.empty()) throw Error(where + ": field \"" + field + "\" is empty");
  return s;
}

int64_t int_field(const nlohmann::json& j, const char* field, const std::string& where) {
  auto it = j.find(field);
  if (it == j.end()) throw Error(where + ": missing field \"" + field + "\"");
  if (!it->is_number_integer()) throw Error(where + ": field \"" + field + "\" must be an integer");
  if (it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
    throw Error(where + ": field \"" + field + "\" is out of range");
  return it->get<int64_t>();
}

TaskKind detect(const nlohmann::json& j, const std::string& where) {
  if (j.contains("correct") || j.contains("incorrect")) return TaskKind::CounterFact;
  if (j.contains("context_1") || j.contains("question_1")) return TaskKind::PairQa;
  throw Error(where + ": cannot tell the task kind (expected CounterFact fields \"correct\"/\"incorrect\" or "
                      "pair-QA fields \"context_1\"/\"question_1\"...); pass the kind explicitly");
}

}  // namespace

const char* task_kind_name(TaskKind k) {
  switch (k) {
    case TaskKind::Auto: return "auto";
    case TaskKind::CounterFact: return "counterfact";
    case TaskKind::PairQa: return "pair-qa";
  }
  return "?";
}

TaskKind parse_task_kind(const std::string& name) {
  for (TaskKind k : {TaskKind::Auto, TaskKind::CounterFact, TaskKind::PairQa})
    if (name == task_kind_name(k)) return k;
  throw Error("unknown task kind \"" + name + "\" (expected auto, counterfact or pair-qa)");
}

TaskFile parse_task_jsonl(std::string_view text, const std::string& source, TaskKind kind,
                          const TaskFileLimits& limits) {
  if (static_cast<int64_t>(text.size()) > limits.max_bytes)
    throw Error(source + ": task file larger than " + std::to_string(limits.max_bytes) + " bytes");
  TaskFile out;
  out.kind = kind;
  std::unordered_set<int64_t> ids;
  for_each_jsonl_record(text, source, limits.max_line_bytes, limits.max_records,
                        [&](std::string_view line, const std::string& where, int64_t) {
    const nlohmann::json j = parse_json_bounded(line, where);
    if (!j.is_object()) throw Error(where + ": a record must be a JSON object");
    if (out.kind == TaskKind::Auto) out.kind = detect(j, where);
    int64_t id = 0;
    if (out.kind == TaskKind::CounterFact) {
      CounterFactItem it;
      id = it.case_id = int_field(j, "case_id", where);
      it.correct = str_field(j, "correct", where);
      it.incorrect = str_field(j, "incorrect", where);
      out.counterfact.push_back(std::move(it));
    } else {
      PairQaItem it;
      id = it.id = int_field(j, "id", where);
      static const char* const kFields[2][3] = {{"context_1", "question_1", "answer_1"},
                                                {"context_2", "question_2", "answer_2"}};
      for (int p = 0; p < 2; ++p) {
        it.context[p] = str_field(j, kFields[p][0], where);
        it.question[p] = str_field(j, kFields[p][1], where);
        it.answer[p] = str_field(j, kFields[p][2], where);
      }
      out.pair_qa.push_back(std::move(it));
    }
    if (!ids.insert(id).second)
      throw Error(where + ": duplicate " + (out.kind == TaskKind::CounterFact ? "case_id " : "id ") + std::to_string(id));
  });
  if (out.size() == 0) throw Error(source + ": no records");
  return out;
}

TaskFile load_task_file(const std::filesystem::path& path, TaskKind kind, const TaskFileLimits& limits) {
  return parse_task_jsonl(read_file_bounded(path, limits.max_bytes, "task file"), path.string(), kind, limits);
}

}  // namespace hl
