// Every table: write, close, reopen, read back exactly (blobs bit-exact; fp16 maps within fp16 rounding).
#include <doctest/doctest.h>
#include <sqlite3.h>

#include <cmath>
#include <cstring>
#include <random>

#include "core/error.h"
#include "storage/fp16.h"
#include "storage/schema.h"
#include "storage/sqlite_db.h"
#include "test_store_fixture.h"

using namespace hl::store;
using store_test::ScratchDir;

namespace {

FloatMatrix random_matrix(int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-3.f, 3.f);
  FloatMatrix m{rows, cols, {}};
  m.values.resize(size_t(rows * cols));
  for (float& v : m.values) v = u(rng);
  return m;
}

bool bit_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * 4) == 0);
}

int64_t count_rows(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, sql, -1, &st, nullptr);
  int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
  sqlite3_finalize(st);
  sqlite3_close(db);
  return n;
}

}  // namespace

TEST_CASE("store: fresh database gets the schema, application id and WAL mode") {
  ScratchDir dir("fresh");
  const std::string path = dir.file("nested/deeper/headlight.db");  // parent dirs are created
  {
    Store s = Store::open(path);
    CHECK(s.user_version() == schema_version());
    CHECK(s.integrity_check() == "ok");
  }
  CHECK(count_rows(path, "PRAGMA application_id") == kApplicationId);
  CHECK(count_rows(path, "PRAGMA user_version") == schema_version());
  sqlite3* db = nullptr;
  sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, nullptr);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  CHECK(std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 0))) == "wal");
  sqlite3_finalize(st);
  sqlite3_close(db);
  // Reopening an up-to-date database changes nothing.
  Store again = Store::open(path);
  CHECK(again.user_version() == schema_version());
}

TEST_CASE("store: default_db_path follows XDG_DATA_HOME, else HOME") {
  const char* old_xdg = std::getenv("XDG_DATA_HOME");
  const std::string saved = old_xdg ? old_xdg : "";
  setenv("XDG_DATA_HOME", "/tmp/xdg-test", 1);
  CHECK(default_db_path() == "/tmp/xdg-test/headlight/headlight.db");
  unsetenv("XDG_DATA_HOME");
  const std::string home = std::getenv("HOME") ? std::getenv("HOME") : "";
  if (!home.empty()) CHECK(default_db_path() == home + "/.local/share/headlight/headlight.db");
  if (old_xdg) setenv("XDG_DATA_HOME", saved.c_str(), 1);
}

TEST_CASE("store: models, prompts, specs, runs, generations and head stats round-trip") {
  ScratchDir dir("rt");
  const std::string path = dir.file("h.db");
  int64_t model_id, prompt_id, spec_id, run_id;
  PromptRecord prompt;
  prompt.text = "Bio: Ana is a nurse.\nAnswer in JSON.";
  prompt.token_ids = {1, 4521, 29901, 530, 2147483647, -5};
  prompt.offsets = {{0, 0}, {0, 3}, {3, 4}, {4, 8}, {8, 20}, {20, 36}};
  GenerationRecord base{"baseline", {13, 450, 7}, "she is a nurse", {0.5f, 0.123456789f, 1e-30f}};
  GenerationRecord steered{"steered", {13, 8, 9, 10}, "{\"occupation\": \"nurse\"}, \"quoted\"",
                           {0.25f, 0.99999994f, std::nanf(""), 3.4028235e38f}};
  std::vector<HeadStat> stats;
  for (int l = 0; l < 3; ++l)
    for (int h = 0; h < 2; ++h) {
      stats.push_back({l, h, "span_mass", 0.1 * l + 0.01 * h + 1e-17});
      stats.push_back({l, h, "entropy", std::nan("")});
    }
  {
    Store s = Store::open(path);
    model_id = store_test::add_model(s);
    CHECK(store_test::add_model(s) == model_id);  // deduplicated
    prompt_id = s.record_prompt(prompt);
    CHECK(s.record_prompt(prompt) == prompt_id);
    spec_id = s.record_spec(R"({"method": "pasta", "alpha": 0.01, "heads": {"3": [17, 7]}})");
    CHECK(s.record_spec(R"({"heads":{"3":[17,7]},"alpha":0.01,"method":"pasta"})") == spec_id);  // same JSON
    CHECK(s.record_spec(R"({"method": "guide", "delta": 1})") != spec_id);
    RunRecord run;
    run.model_id = model_id;
    run.prompt_id = prompt_id;
    run.spec_id = spec_id;
    run.kind = "generate";
    run.status = "done";
    run.seed = -42;
    run.sampling = {0.7, 0.9, 40, 64};
    run.created_at = "2024-05-01T12:00:00.000Z";
    run.finished_at = "2024-05-01T12:00:03.500Z";
    run.note = "emphasise the instruction";
    run_id = s.record_run(run, {base, steered}, stats);
  }
  Store s = Store::open(path);
  auto m = s.get_model(model_id);
  REQUIRE(m);
  CHECK(m->path == "/models/tiny");
  CHECK(m->architecture == "LlamaForCausalLM");
  CHECK(m->n_layers == 30);
  CHECK(m->n_heads == 9);
  CHECK(m->n_kv_heads == 3);
  CHECK(m->hidden_size == 576);
  CHECK(m->vocab_size == 49152);
  auto p = s.get_prompt(prompt_id);
  REQUIRE(p);
  CHECK(p->text == prompt.text);
  CHECK(p->token_ids == prompt.token_ids);
  CHECK(p->offsets == prompt.offsets);
  CHECK(*s.get_spec(spec_id) == R"({"alpha":0.01,"heads":{"3":[17,7]},"method":"pasta"})");
  auto r = s.get_run(run_id);
  REQUIRE(r);
  CHECK(r->model_id == model_id);
  CHECK(*r->prompt_id == prompt_id);
  CHECK(*r->spec_id == spec_id);
  CHECK(r->kind == "generate");
  CHECK(r->status == "done");
  CHECK(r->seed == -42);
  CHECK(r->sampling.temperature == 0.7);
  CHECK(r->sampling.top_p == 0.9);
  CHECK(r->sampling.top_k == 40);
  CHECK(r->sampling.max_new_tokens == 64);
  CHECK(r->created_at == "2024-05-01T12:00:00.000Z");
  CHECK(r->finished_at == "2024-05-01T12:00:03.500Z");
  CHECK(r->note == "emphasise the instruction");
  auto gens = s.get_generations(run_id);
  REQUIRE(gens.size() == 2);
  CHECK(gens[0].variant == "baseline");
  CHECK(gens[0].token_ids == base.token_ids);
  CHECK(gens[0].text == base.text);
  CHECK(bit_equal(gens[0].step_probs, base.step_probs));
  CHECK(gens[1].text == steered.text);
  CHECK(gens[1].token_ids == steered.token_ids);
  REQUIRE(gens[1].step_probs.size() == 4);
  CHECK(gens[1].step_probs[0] == 0.25f);
  CHECK(gens[1].step_probs[1] == 0.99999994f);
  CHECK(std::isnan(gens[1].step_probs[2]));
  CHECK(gens[1].step_probs[3] == 3.4028235e38f);
  auto got = s.get_head_stats(run_id);
  REQUIRE(got.size() == stats.size());
  for (const auto& want : stats) {
    bool found = false;
    for (const auto& g : got)
      if (g.layer == want.layer && g.head == want.head && g.stat == want.stat) {
        found = true;
        if (std::isnan(want.value))
          CHECK(std::isnan(g.value));
        else
          CHECK(g.value == want.value);  // doubles are stored exactly
      }
    CHECK(found);
  }
}

TEST_CASE("store: incremental runs, listing by model, kind and date, deletion cascades") {
  ScratchDir dir("list");
  Store s = Store::open(dir.file("h.db"));
  const int64_t m1 = store_test::add_model(s, "/m/one"), m2 = store_test::add_model(s, "/m/two");
  auto make = [&](int64_t model, const std::string& kind, const std::string& when) {
    RunRecord r;
    r.model_id = model;
    r.kind = kind;
    r.status = "done";
    r.created_at = when;
    return s.record_run(r, {{"baseline", {1}, "x", {0.5f}}}, {});
  };
  const int64_t a = make(m1, "generate", "2024-01-01T00:00:00.000Z");
  const int64_t b = make(m1, "niah", "2024-02-01T00:00:00.000Z");
  const int64_t c = make(m2, "generate", "2024-03-01T00:00:00.000Z");
  RunRecord live;
  live.model_id = m2;
  live.kind = "capture";
  const int64_t d = s.start_run(live);
  CHECK(s.get_run(d)->status == "running");
  CHECK(s.get_run(d)->finished_at.empty());
  s.add_generations(d, {{"steered", {5, 6}, "ab", {0.1f, 0.2f}}});
  s.add_head_stats(d, {{0, 0, "max", 0.75}});
  s.finish_run(d, "cancelled");
  CHECK(s.get_run(d)->status == "cancelled");
  CHECK(!s.get_run(d)->finished_at.empty());
  CHECK_THROWS_AS(s.finish_run(d, "exploded"), hl::Error);
  // A run whose artefacts fail to record leaves nothing behind (one transaction).
  RunRecord bad;
  bad.model_id = m1;
  bad.kind = "generate";
  bad.status = "done";
  CHECK_THROWS_AS(s.record_run(bad, {{"baseline", {1}, "x", {0.5f}}, {"sideways", {2}, "y", {0.5f}}}, {}), hl::Error);
  CHECK_THROWS_AS(s.record_run(bad, {}, {{0, 0, "max", 1.0}, {0, 0, "max", 2.0}}), hl::Error);  // duplicate stat
  bad.model_id = 12345;  // foreign keys are enforced
  CHECK_THROWS_AS(s.record_run(bad, {}, {}), hl::Error);

  CHECK(s.list_runs().size() == 4);
  CHECK(s.list_runs().front().run.id == d);  // newest first
  RunFilter by_model;
  by_model.model_id = m1;
  auto l1 = s.list_runs(by_model);
  REQUIRE(l1.size() == 2);
  CHECK(l1[0].run.id == b);
  CHECK(l1[1].run.id == a);
  CHECK(l1[0].model_path == "/m/one");
  RunFilter by_kind;
  by_kind.kind = "generate";
  CHECK(s.list_runs(by_kind).size() == 2);
  RunFilter by_date;
  by_date.since = "2024-01-15";
  by_date.until = "2024-03-01";
  auto l2 = s.list_runs(by_date);
  REQUIRE(l2.size() == 1);
  CHECK(l2[0].run.id == b);
  RunFilter limited;
  limited.limit = 2;
  CHECK(s.list_runs(limited).size() == 2);
  // A filter value is data, never SQL.
  RunFilter hostile;
  hostile.kind = "generate' OR '1'='1";
  CHECK(s.list_runs(hostile).empty());

  const int64_t map = s.add_attention_map(c, 0, 1, "prefill", random_matrix(4, 4, 1));
  const int64_t tr = s.add_trace(c, "0:2", "influence", std::nullopt, random_matrix(2, 4, 2));
  CHECK(s.delete_run(c));
  CHECK_FALSE(s.delete_run(c));
  CHECK(!s.get_run(c));
  CHECK(s.get_generations(c).empty());
  CHECK(s.list_attention_maps(c).empty());
  CHECK(s.list_traces(c).empty());
  CHECK_THROWS_AS(s.load_attention_map(map), hl::Error);
  CHECK_THROWS_AS(s.load_trace(tr), hl::Error);
  CHECK(s.list_runs().size() == 3);
  s.vacuum();
  CHECK(s.integrity_check() == "ok");
}

TEST_CASE("store: attention maps (fp16 and f32) and traces round-trip through reopen") {
  ScratchDir dir("blobs");
  const std::string path = dir.file("h.db");
  const FloatMatrix m16 = random_matrix(37, 53, 7), m32 = random_matrix(16, 16, 8);
  const FloatMatrix whole = random_matrix(30, 100, 9), layer = random_matrix(1, 100, 10);
  FloatMatrix special{1, 6, {0.f, -0.f, std::numeric_limits<float>::infinity(), 1e-7f, 70000.f, 1.0f}};
  int64_t run, id16, id32, idw, idl, idsp, idempty;
  {
    Store s = Store::open(path);
    RunRecord r;
    r.model_id = store_test::add_model(s);
    r.kind = "capture";
    run = s.start_run(r);
    id16 = s.add_attention_map(run, 3, 5, "prefill", m16);
    id32 = s.add_attention_map(run, 3, -1, "decode", m32, BlobDtype::F32);
    idsp = s.add_attention_map(run, 4, 0, "prefill", special);
    idempty = s.add_attention_map(run, 5, 0, "prefill", FloatMatrix{0, 0, {}});
    idw = s.add_trace(run, "12:20", "influence", std::nullopt, whole);
    idl = s.add_trace(run, "12:20", "rollout", 7, layer, BlobDtype::F16);
    CHECK_THROWS_AS(s.add_attention_map(run, 3, 5, "prefill", FloatMatrix{2, 2, {1, 2, 3}}), hl::Error);
    CHECK_THROWS_AS(s.add_trace(run, "x", "saliency", std::nullopt, layer), hl::Error);
  }
  Store s = Store::open(path, Store::Access::ReadOnly);
  auto maps = s.list_attention_maps(run);
  REQUIRE(maps.size() == 4);
  CHECK(maps[0].layer == 3);
  CHECK(maps[0].head == -1);
  CHECK(maps[0].dtype == BlobDtype::F32);
  CHECK(maps[1].head == 5);
  CHECK(maps[1].rows == 37);
  CHECK(maps[1].cols == 53);
  CHECK(maps[1].phase == "prefill");
  FloatMatrix got16 = s.load_attention_map(id16);
  REQUIRE(got16.values.size() == m16.values.size());
  CHECK(got16.rows == 37);
  for (size_t i = 0; i < m16.values.size(); ++i) {
    // Exactly what fp16 rounding gives, and within half an fp16 ulp of the input.
    CHECK(got16.values[i] == half_to_float(float_to_half(m16.values[i])));
    CHECK(std::fabs(got16.values[i] - m16.values[i]) <= std::fabs(m16.values[i]) * (1.0f / 2048) + 1e-7f);
  }
  CHECK(bit_equal(s.load_attention_map(id32).values, m32.values));
  FloatMatrix sp = s.load_attention_map(idsp);
  CHECK(sp.values[0] == 0.f);
  CHECK(std::signbit(sp.values[1]));
  CHECK(std::isinf(sp.values[2]));
  CHECK(std::isinf(sp.values[4]));  // beyond fp16 range
  CHECK(sp.values[5] == 1.0f);
  CHECK(s.load_attention_map(idempty).values.empty());
  auto traces = s.list_traces(run);
  REQUIRE(traces.size() == 2);
  CHECK(traces[0].variant == "influence");
  CHECK(!traces[0].layer);
  CHECK(traces[1].layer == 7);
  CHECK(traces[1].dtype == BlobDtype::F16);
  FloatMatrix gw = s.load_trace(idw);
  CHECK(gw.rows == 30);
  CHECK(gw.cols == 100);
  CHECK(bit_equal(gw.values, whole.values));
  CHECK(s.load_trace(idl).cols == 100);
  // Read-only stores refuse writes with a clear message.
  try {
    s.delete_run(run);
    FAIL("delete on a read-only store succeeded");
  } catch (const hl::Error& e) {
    CHECK(std::string(e.what()).find("read-only") != std::string::npos);
  }
}

TEST_CASE("store: profiling jobs, units, head scores and exported profiles round-trip") {
  ScratchDir dir("prof");
  const std::string path = dir.file("h.db");
  int64_t run, job;
  {
    Store s = Store::open(path);
    RunRecord r;
    r.model_id = store_test::add_model(s);
    r.kind = "profile";
    run = s.start_run(r);
    job = s.create_profiling_job(run, R"({"tasks": ["json", "pron"], "alpha": 0.01})", 4);
    CHECK(s.record_unit(job, {"json", 0, 1, 100, 2.5, {{"f_acc", 0.9}, {"p_acc", 0.8}}}));
    CHECK(s.record_unit(job, {"pron", 2, 3, 100, 1.25, {{"acc", 0.125}}}));
    // Recorded once: a second result for the same unit is ignored, the first stays.
    CHECK_FALSE(s.record_unit(job, {"json", 0, 1, 100, 9.0, {{"f_acc", 0.1}}}));
    s.record_exported_profile({0, job, "intersection", 300, R"({"0": [1], "2": [3]})", ""});
  }
  Store s = Store::open(path);
  auto j = s.get_profiling_job(job);
  REQUIRE(j);
  CHECK(j->run_id == run);
  CHECK(j->total_units == 4);
  CHECK(j->status == "running");
  CHECK(j->tasks_json == R"({"alpha":0.01,"tasks":["json","pron"]})");
  CHECK(s.profiling_job_for_run(run)->id == job);
  CHECK(s.count_units(job) == 2);
  CHECK(s.is_unit_recorded(job, "json", 0, 1));
  CHECK_FALSE(s.is_unit_recorded(job, "json", 0, 2));
  auto scores = s.get_head_scores(job);
  REQUIRE(scores.size() == 3);
  CHECK(scores[0].task == "json");
  CHECK(scores[0].metric == "f_acc");
  CHECK(scores[0].value == 0.9);
  CHECK(scores[1].value == 0.8);
  CHECK(scores[2].task == "pron");
  CHECK(scores[2].layer == 2);
  CHECK(scores[2].head == 3);
  CHECK(scores[2].value == 0.125);
  auto profiles = s.list_exported_profiles(job);
  REQUIRE(profiles.size() == 1);
  CHECK(profiles[0].strategy == "intersection");
  CHECK(profiles[0].k == 300);
  CHECK(profiles[0].json == R"({"0":[1],"2":[3]})");
  CHECK(!profiles[0].created_at.empty());
  s.finish_profiling_job(job, "done");
  CHECK(s.get_profiling_job(job)->status == "done");
  // Deleting the run removes the job, its units and scores.
  s.delete_run(run);
  CHECK(!s.get_profiling_job(job));
  CHECK(s.get_head_scores(job).empty());
}

TEST_CASE("store: NIAH sweeps and cells round-trip") {
  ScratchDir dir("niah");
  const std::string path = dir.file("h.db");
  int64_t run, sweep;
  {
    Store s = Store::open(path);
    RunRecord r;
    r.model_id = store_test::add_model(s);
    r.kind = "niah";
    run = s.start_run(r);
    sweep = s.create_niah_sweep(run, "guide", R"({"deltas": [0, 0.5], "depths": 11})");
    CHECK(s.record_niah_cell(sweep, store_test::v1_cell(0.5, 1000, 25.0, 10, 0.7, 0.031)));
    CHECK(s.record_niah_cell(sweep, store_test::v1_cell(0.0, 2000, 0.0, 10, 1.0, std::nullopt)));
    CHECK_FALSE(s.record_niah_cell(sweep, store_test::v1_cell(0.5, 1000, 25.0, 3, 0.0, 0.0)));
    CHECK_THROWS_AS(s.record_niah_cell(sweep, store_test::v1_cell(0.5, 1000, 101.0, 3, 0.0, 0.0)), hl::Error);
  }
  Store s = Store::open(path);
  auto sweeps = s.list_niah_sweeps(run);
  REQUIRE(sweeps.size() == 1);
  CHECK(sweeps[0].method == "guide");
  CHECK(sweeps[0].config_json == R"({"deltas":[0,0.5],"depths":11})");
  auto cells = s.get_niah_cells(sweep);
  REQUIRE(cells.size() == 2);
  CHECK(cells[0].strength == 0.0);
  CHECK(cells[0].context_length == 2000);
  CHECK(!cells[0].mean_influence);
  CHECK(cells[1].strength == 0.5);
  CHECK(cells[1].depth_percent == 25.0);
  CHECK(cells[1].n_samples == 10);
  CHECK(cells[1].mean_score == 0.7);
  CHECK(*cells[1].mean_influence == 0.031);
  CHECK(s.is_cell_recorded(sweep, 0.5, 1000, 25.0));
  CHECK_FALSE(s.is_cell_recorded(sweep, 0.5, 1000, 50.0));
}

TEST_CASE("store: a v1 file migrates forward to v2 and keeps its rows; v2 NIAH fields round-trip") {
  const std::string path = "/tmp/hl-migrate-" + std::to_string(getpid()) + ".db";
  std::remove(path.c_str());
  {
    hl::store::Db db(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    hl::store::migrate(db, 1);
    db.exec("INSERT INTO models (path, config_hash, architecture, n_layers, n_heads, n_kv_heads, hidden_size, vocab_size) "
            "VALUES ('m', 'h', 'llama', 1, 1, 1, 8, 16)");
  }
  REQUIRE(count_rows(path, "PRAGMA user_version") == 1);
  {
    Store s = Store::open(path);
    CHECK(s.user_version() == schema_version());  // migrated to the newest (v3 added retrieval columns)
    CHECK(s.get_model(1).has_value());
    RunRecord run;
    run.model_id = 1;
    run.kind = "niah";
    const int64_t rid = s.start_run(run);
    const int64_t sweep = s.create_niah_sweep(rid, "guide", "{}");
    hl::store::NiahCell c;
    c.strength = 1;
    c.context_length = 256;
    c.depth_percent = 50;
    c.n_samples = 1;
    c.mean_score = 1;
    c.mean_influence = 0.25;
    c.realised_depth = 48.5;
    c.mean_rollout = 0.125;
    c.answer = "eat a sandwich, \"in Dolores Park\"";
    c.influence_by_layer = {1.0, 0.5, 0.25};
    CHECK(s.record_niah_cell(sweep, c));
    auto back = s.get_niah_cells(sweep);
    REQUIRE(back.size() == 1);
    CHECK(*back[0].realised_depth == 48.5);
    CHECK(*back[0].mean_rollout == 0.125);
    CHECK(back[0].answer == c.answer);
    CHECK(back[0].influence_by_layer == c.influence_by_layer);
  }
  std::remove(path.c_str());
}
