// Profiling task datasets (JSONL): the shared CounterFact and pair-QA files load whole and exactly; bad records
// give an hl::Error naming file, line and field.
#include <doctest/doctest.h>

#include <fstream>
#include <string>

#include "analysis/task_file.h"
#include "core/error.h"
#include "unit/test_hostile_support.h"

using namespace hl;

namespace {

std::filesystem::path shared() { return HEADLIGHT_SHARED_DIR; }

std::string error_of(const std::string& text, TaskKind kind = TaskKind::Auto, const TaskFileLimits& lim = {}) {
  return hostile::error_of([&] { parse_task_jsonl(text, "tasks.jsonl", kind, lim); });
}

bool has(const std::string& message, const std::string& part) {
  INFO(message);
  return message.find(part) != std::string::npos;
}

int64_t count_lines(const std::filesystem::path& p) {
  std::ifstream in(p);
  int64_t n = 0;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) ++n;
  return n;
}

}  // namespace

TEST_CASE("the shared CounterFact rewrites and pair-QA items load whole, kinds detected") {
  const auto cf_path = shared() / "data" / "counterfact" / "counterfact_rewrites.jsonl";
  const TaskFile cf = load_task_file(cf_path);
  CHECK(cf.kind == TaskKind::CounterFact);
  CHECK(cf.size() == count_lines(cf_path));
  CHECK(cf.size() == 21919);
  CHECK(cf.counterfact[0].case_id == 0);
  CHECK(cf.counterfact[0].correct == "The mother tongue of Danielle Darrieux is French");
  CHECK(cf.counterfact[0].incorrect == "The mother tongue of Danielle Darrieux is English");

  const auto qa_path = shared() / "data" / "profiling" / "pair_qa_synthetic.jsonl";
  const TaskFile qa = load_task_file(qa_path, TaskKind::PairQa);
  CHECK(qa.kind == TaskKind::PairQa);
  CHECK(qa.size() == 100);
  CHECK(qa.pair_qa[0].id == 1);
  CHECK(qa.pair_qa[0].context[1] == "The Golden Dunes shift shape with every desert wind.");
  CHECK(qa.pair_qa[0].answer[0] == "berries that glow under moonlight");
  // Asking for the wrong kind names the field that kind needs.
  try {
    load_task_file(qa_path, TaskKind::CounterFact);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(has(e.what(), "pair_qa_synthetic.jsonl:1"));
    CHECK(has(e.what(), "case_id"));
  }
}

TEST_CASE("task records: blank lines, CRLF and extra fields are accepted") {
  const TaskFile t = parse_task_jsonl(
      "\n{\"case_id\": 3, \"correct\": \"a\", \"incorrect\": \"b\", \"extra\": [1, 2]}\r\n  \n"
      "{\"case_id\": 4, \"correct\": \"c\", \"incorrect\": \"d\"}",
      "t");
  REQUIRE(t.size() == 2);
  CHECK(t.counterfact[1].case_id == 4);
  CHECK(t.counterfact[1].incorrect == "d");
}

TEST_CASE("bad task records are refused with file, line and field") {
  const std::string ok = "{\"case_id\": 1, \"correct\": \"a\", \"incorrect\": \"b\"}\n";
  CHECK(has(error_of(""), "no records"));
  CHECK(has(error_of("\n \n"), "no records"));
  CHECK(has(error_of(ok + "{\"case_id\": 2, \"correct\": \"a\"\n"), "tasks.jsonl:2"));  // torn last line
  CHECK(has(error_of(ok + "{\"case_id\": 2, \"correct\": \"a\"\n"), "not valid JSON"));
  CHECK(has(error_of(ok + "[1, 2]\n"), "must be a JSON object"));
  CHECK(has(error_of(ok + "{\"case_id\": 2, \"correct\": \"a\"}\n"), "\"incorrect\""));
  CHECK(has(error_of(ok + "{\"case_id\": \"2\", \"correct\": \"a\", \"incorrect\": \"b\"}"), "must be an integer"));
  CHECK(has(error_of(ok + "{\"case_id\": 2.5, \"correct\": \"a\", \"incorrect\": \"b\"}"), "must be an integer"));
  CHECK(has(error_of(ok + "{\"case_id\": 18446744073709551615, \"correct\": \"a\", \"incorrect\": \"b\"}"),
            "out of range"));
  CHECK(has(error_of(ok + "{\"case_id\": 2, \"correct\": 7, \"incorrect\": \"b\"}"), "\"correct\" must be a string"));
  CHECK(has(error_of(ok + "{\"case_id\": 2, \"correct\": \"\", \"incorrect\": \"b\"}"), "is empty"));
  CHECK(has(error_of(ok + ok), "tasks.jsonl:2: duplicate case_id 1"));
  CHECK(has(error_of("{\"x\": 1}"), "cannot tell the task kind"));
  CHECK(has(error_of("{\"id\": 1, \"context_1\": \"a\"}", TaskKind::PairQa), "missing field \"question_1\""));
  CHECK(has(error_of(std::string(200, '[') + std::string(200, ']')), "nests deeper"));
  CHECK(has(error_of("{\"case_id\": 1, \"correct\": \"\xff\", \"incorrect\": \"b\"}"), "not valid JSON"));
  // Limits: a long record, too many records, a big file.
  TaskFileLimits lim;
  lim.max_line_bytes = 40;
  CHECK(has(error_of(ok, TaskKind::Auto, lim), "tasks.jsonl:1: record longer than 40 bytes"));
  lim = {};
  lim.max_records = 1;
  CHECK(has(error_of(ok + "{\"case_id\": 2, \"correct\": \"a\", \"incorrect\": \"b\"}", TaskKind::Auto, lim),
            "more than 1 records"));
  lim = {};
  lim.max_bytes = 10;
  CHECK(has(error_of(ok, TaskKind::Auto, lim), "larger than 10 bytes"));
  CHECK_THROWS_AS(load_task_file("/nonexistent/tasks.jsonl"), Error);
  CHECK(parse_task_kind("pair-qa") == TaskKind::PairQa);
  CHECK_THROWS_AS(parse_task_kind("qa"), Error);
}
