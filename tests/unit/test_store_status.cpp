// Honest run status: failed runs keep their error, runs of a dead process become interrupted at the next open,
// a live process's running run is left alone, and the v2 -> v3 rebuild of `runs` keeps every row and cascade.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "core/error.h"
#include "scratch_dir.h"
#include "storage/schema.h"
#include "storage/sqlite_db.h"
#include "storage/store.h"

using hl::store::RunRecord;
using hl::store::Store;

namespace {

int64_t a_model(Store& s) {
  hl::store::ModelRecord m;
  m.path = "/m";
  m.config_hash = "h";
  m.architecture = "llama";
  m.n_layers = m.n_heads = m.n_kv_heads = 1;
  m.hidden_size = 8;
  m.vocab_size = 16;
  return s.record_model(m);
}

// The pid of a process that has exited (and been reaped): no process has it, until the kernel reuses it.
int64_t dead_pid() {
  const pid_t child = fork();
  if (child == 0) _exit(0);
  int st = 0;
  waitpid(child, &st, 0);
  return child;
}

}  // namespace

TEST_CASE("store: runs record their owner; failed keeps the error; dead owners' runs become interrupted at open") {
  hl_test::ScratchDir tmp("status");
  const std::string path = tmp.file("runs.db");
  int64_t mine = 0, orphan = 0, failed = 0;
  {
    Store s = Store::open(path);
    RunRecord r;
    r.model_id = a_model(s);
    r.kind = "generate";
    mine = s.start_run(r);
    const auto got = s.get_run(mine);
    REQUIRE(got);
    CHECK(*got->owner_pid == static_cast<int64_t>(getpid()));
    CHECK_FALSE(got->owner_host.empty());
    failed = s.start_run(r);
    s.finish_run(failed, "failed", "prompt: 600 tokens exceed the context of 512");
    RunRecord o = r;
    o.owner_pid = dead_pid();
    orphan = s.start_run(o);
  }
  Store s = Store::open(path);
  CHECK(s.get_run(mine)->status == "running");  // this process is alive
  const auto o = s.get_run(orphan);
  CHECK(o->status == "interrupted");
  CHECK(o->error.find("ended before the run finished") != std::string::npos);
  CHECK_FALSE(o->finished_at.empty());
  const auto f = s.get_run(failed);
  CHECK(f->status == "failed");
  CHECK(f->error == "prompt: 600 tokens exceed the context of 512");
  CHECK_THROWS_AS(s.finish_run(mine, "paused"), hl::Error);
  s.finish_run(mine, "cancelled");
  CHECK(s.get_run(mine)->status == "cancelled");
  // A read-only open marks nothing (it cannot write); it reads the new statuses.
  Store ro = Store::open(path, Store::Access::ReadOnly);
  CHECK(ro.get_run(orphan)->status == "interrupted");
}

TEST_CASE("store: the v2 -> v3 rebuild of runs keeps rows and cascades; pre-v3 running runs become interrupted") {
  hl_test::ScratchDir tmp("v3");
  const std::string path = tmp.file("old.db");
  {
    hl::store::Db db(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    hl::store::migrate(db, 2);
    db.exec("INSERT INTO models (path, config_hash, architecture, n_layers, n_heads, n_kv_heads, hidden_size, vocab_size) "
            "VALUES ('m', 'h', 'llama', 1, 1, 1, 8, 16);"
            "INSERT INTO runs (model_id, kind, status, created_at, finished_at) VALUES (1, 'generate', 'done', "
            "'2026-01-01T00:00:00Z', '2026-01-01T00:00:01Z');"
            "INSERT INTO runs (model_id, kind, status, created_at) VALUES (1, 'niah', 'running', '2026-01-02T00:00:00Z');"
            "INSERT INTO generations (run_id, variant, token_ids, text, step_probs) VALUES (1, 'baseline', '[1,2]', 'ab', '[0.5,0.5]');");
  }
  Store s = Store::open(path);
  CHECK(s.user_version() == hl::store::schema_version());
  CHECK(s.integrity_check() == "ok");
  REQUIRE(s.get_run(1));
  CHECK(s.get_run(1)->status == "done");
  CHECK(s.get_run(1)->created_at == "2026-01-01T00:00:00Z");
  CHECK(s.get_generations(1).size() == 1);
  CHECK(s.get_run(2)->status == "interrupted");
  CHECK(s.get_run(2)->error.find("schema < 3") != std::string::npos);
  CHECK(s.delete_run(1));  // the generations' foreign key still points at runs: the delete cascades
  CHECK(s.get_generations(1).empty());
}
