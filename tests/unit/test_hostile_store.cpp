// Crafted run-store files (issue 8): a database a user was sent must be refused or read with an hl::Error,
// never crash or allocate what its rows declare. Complements test_store_badfiles.cpp (foreign, newer,
// truncated files and huge attention-map shapes).
#include <doctest/doctest.h>
#include <sqlite3.h>

#include <fstream>
#include <string>

#include "storage/run_export.h"
#include "storage/store.h"
#include "unit/test_hostile_support.h"
#include "unit/test_store_fixture.h"

namespace {

using hl::store::Store;

void raw_sql(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  const std::string msg = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(db);
  REQUIRE_MESSAGE(rc == SQLITE_OK, msg);
}

// One run with a prompt, a spec, a generation, an attention map and a trace; returns the run id.
int64_t populate(const std::string& path) {
  Store s = Store::open(path);
  hl::store::RunRecord run;
  run.model_id = store_test::add_model(s);
  run.prompt_id = s.record_prompt({0, "a b", {1, 2}, {{0, 1}, {1, 3}}});
  run.spec_id = s.record_spec(R"({"method": "guide", "delta": 1})");
  run.kind = "generate";
  const int64_t id = s.record_run(run, {{"steered", {3, 4}, "c d", {0.5f, 0.5f}}}, {});
  s.finish_run(id, "done");
  hl::store::FloatMatrix mat{2, 2, {0.25f, 0.75f, 0.5f, 0.5f}};
  s.add_attention_map(id, 0, 0, "prefill", mat);
  s.add_trace(id, "0:1", "influence", std::nullopt, mat);
  s.vacuum();
  return id;
}

std::string deep_array(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

}  // namespace

TEST_CASE("hostile store: rows whose JSON nests too deep are refused, not recursed into") {
  hostile::Scratch dir("store_deep");
  const std::string path = (dir.dir / "deep.db").string();
  const int64_t run = populate(path);
  // Valid JSON for SQLite's json_valid (its own limit is 1000 levels), past headlight's 128.
  raw_sql(path, "UPDATE generations SET token_ids = '" + deep_array(500) + "';"
                "UPDATE steering_specs SET json = '{\"method\": " + deep_array(500) + "}';");
  Store s = Store::open(path, Store::Access::ReadOnly);
  CHECK_THROWS_WITH_AS(s.get_generations(run), doctest::Contains("nests deeper than 128"), hl::Error);
  CHECK_THROWS_WITH_AS(hl::store::run_to_json(s, run), doctest::Contains("nests deeper than 128"), hl::Error);
}

TEST_CASE("hostile store: a stored spec that is not JSON fails the export with an hl::Error") {
  hostile::Scratch dir("store_badjson");
  const std::string path = (dir.dir / "bad.db").string();
  const int64_t run = populate(path);
  // Drop the json_valid CHECK the way a hand-edited file could: rebuild the table without it.
  raw_sql(path,
          "PRAGMA foreign_keys = OFF;"
          "CREATE TABLE specs_loose (id INTEGER PRIMARY KEY, hash TEXT NOT NULL UNIQUE, json TEXT NOT NULL,"
          " created_at TEXT NOT NULL DEFAULT '');"
          "INSERT INTO specs_loose SELECT id, hash, '{\"method\": ', created_at FROM steering_specs;"
          "DROP TABLE steering_specs; ALTER TABLE specs_loose RENAME TO steering_specs;");
  Store s = Store::open(path, Store::Access::ReadOnly);
  CHECK_THROWS_WITH_AS(hl::store::run_to_json(s, run), doctest::Contains("steering spec"), hl::Error);
}

TEST_CASE("hostile store: a headlight database with a damaged schema fails reads with an hl::Error") {
  hostile::Scratch dir("store_schema");
  const std::string path = (dir.dir / "schema.db").string();
  const int64_t run = populate(path);
  raw_sql(path, "DROP TABLE generations; ALTER TABLE traces RENAME COLUMN data TO payload;");
  Store s = Store::open(path, Store::Access::ReadOnly);
  CHECK_THROWS_AS(s.get_generations(run), hl::Error);
  const auto traces = s.list_traces(run);
  REQUIRE(traces.size() == 1);
  CHECK_THROWS_AS(s.load_trace(traces[0].id), hl::Error);
}

TEST_CASE("hostile store: huge declared trace shapes and short blobs are refused without allocating") {
  hostile::Scratch dir("store_huge");
  const std::string path = (dir.dir / "huge.db").string();
  const int64_t run = populate(path);
  Store probe = Store::open(path, Store::Access::ReadOnly);
  const int64_t trace = probe.list_traces(run).at(0).id;
  raw_sql(path, "UPDATE traces SET rows = 9223372036854775807, cols = 9223372036854775807;");
  {
    Store s = Store::open(path, Store::Access::ReadOnly);
    CHECK_THROWS_WITH_AS(s.load_trace(trace), doctest::Contains("element limit"), hl::Error);
  }
  raw_sql(path, "UPDATE traces SET rows = 3, cols = 3;");
  Store s = Store::open(path, Store::Access::ReadOnly);
  CHECK_THROWS_WITH_AS(s.load_trace(trace), doctest::Contains("blob holds 16 bytes"), hl::Error);
}

TEST_CASE("hostile store: garbage written over the b-tree pages is refused at open") {
  hostile::Scratch dir("store_pages");
  const std::string path = (dir.dir / "pages.db").string();
  populate(path);
  const auto size = std::filesystem::file_size(path);
  REQUIRE(size >= 4 * 4096);
  {
    // Keep page 1 (the header and schema root) intact; scribble over every later page's header.
    std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
    for (uint64_t page = 1; page * 4096 < size; ++page) {
      f.seekp(static_cast<std::streamoff>(page * 4096));
      const std::string junk(64, '\xA5');
      f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
    }
  }
  const std::string msg = hostile::error_of([&] { Store::open(path, Store::Access::ReadOnly); });
  CHECK(msg.find(path) != std::string::npos);
  CHECK(msg.find("corrupt") != std::string::npos);
}
