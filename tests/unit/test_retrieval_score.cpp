// Retrieval-head scores: the tally's definition (copy steps, top key on the very needle token), their storage with a
// NIAH sweep (schema v3), the per-head read the window uses, and their exports (JSON, CSV, labelled PNG grid).
#include <doctest/doctest.h>

#include <sqlite3.h>

#include <cmath>

#include "analysis/retrieval_score.h"
#include "core/error.h"
#include "storage/heatmap_png.h"
#include "storage/run_export.h"
#include "storage/schema.h"
#include "storage/sqlite_db.h"
#include "tests/unit/test_store_fixture.h"

using namespace hl;

TEST_CASE("retrieval tally: a head scores at copy steps whose top key holds the generated needle token") {
  // Prompt: 0 1 [7 8 9] 2 3; needle = positions 2..4 (tokens 7, 8, 9). One layer, three heads.
  const std::vector<int64_t> prompt = {0, 1, 7, 8, 9, 2, 3};
  RetrievalTally t(1, 3);
  // Answer 7 8 5 9 7: four copy steps (5 is not a needle token).
  const std::vector<int64_t> answer = {7, 8, 5, 9, 7};
  const std::vector<std::vector<int64_t>> top = {
      {2, 2, 0},  // 7: head 0 on the 7 (hit), head 1 too, head 2 on BOS
      {3, 2, 3},  // 8: head 0 hit, head 1 on the 7 (a needle position with another token: miss), head 2 hit
      {4, 4, 4},  // 5: not a copy step, whatever the heads do
      {4, 6, 4},  // 9: head 0 and head 2 hit, head 1 on a filler
      {7, 2, 2},  // 7: head 0 on a generated position (not the needle: miss), heads 1 and 2 hit
  };
  tally_retrieval(t, prompt, 2, 5, answer, top);
  CHECK(t.copy_steps == 4);
  CHECK(t.hits == std::vector<int64_t>{3, 2, 3});
  CHECK(t.score(0, 0) == doctest::Approx(0.75));
  CHECK(t.score(0, 1) == doctest::Approx(0.5));
  // Fractions over all steps and cells: merging a second answer with no copy step leaves the scores alone.
  RetrievalTally u(1, 3);
  tally_retrieval(u, prompt, 2, 5, {0, 1}, {{2, 2, 2}, {3, 3, 3}});
  CHECK(u.copy_steps == 0);
  CHECK(u.score(0, 0) == 0.0);
  t.merge(u);
  CHECK(t.copy_steps == 4);
  CHECK(t.scores() == std::vector<double>{0.75, 0.5, 0.75});
  // Steps past the shorter of answer and top keys are ignored (an answer stopped at EOS).
  RetrievalTally v(1, 3);
  tally_retrieval(v, prompt, 2, 5, {7, 8}, {{2, 2, 2}});
  CHECK(v.copy_steps == 1);
  CHECK_THROWS_AS(tally_retrieval(v, prompt, 5, 5, answer, top), Error);
  CHECK_THROWS_AS(tally_retrieval(v, prompt, 2, 9, answer, top), Error);
  CHECK_THROWS_AS(tally_retrieval(v, prompt, 2, 5, {7}, {{2, 2}}), Error);
  CHECK_THROWS_AS(t.merge(RetrievalTally(2, 3)), Error);
}

TEST_CASE("retrieval scores are stored with a sweep, read per head, and exported") {
  using namespace hl::store;
  store_test::ScratchDir dir("retrieval");
  const std::string path = (dir.dir / "runs.db").string();
  int64_t run = 0, sweep = 0;
  {
    Store s = Store::open(path);
    RunRecord r;
    r.model_id = store_test::add_model(s);  // 30 layers x 9 heads
    r.kind = "niah";
    run = s.start_run(r);
    sweep = s.create_niah_sweep(run, "guide", R"({"retrieval_scores": true})");
    const size_t n = 30 * 9;
    NiahCell a = store_test::v1_cell(0, 256, 50, 1, 1.0, std::nullopt);
    a.retrieval_copy_steps = 4;
    a.retrieval_hits.assign(n, 0);
    a.retrieval_hits[0] = 4;       // L0H0
    a.retrieval_hits[9 + 2] = 1;   // L1H2
    NiahCell b = store_test::v1_cell(0, 512, 50, 1, 0.0, std::nullopt);
    b.retrieval_copy_steps = 6;
    b.retrieval_hits.assign(n, 0);
    b.retrieval_hits[0] = 2;
    b.retrieval_hits[9 + 2] = 6;
    NiahCell steered = store_test::v1_cell(1, 256, 50, 1, 1.0, std::nullopt);
    steered.retrieval_copy_steps = 2;
    steered.retrieval_hits.assign(n, 2);
    NiahCell none = store_test::v1_cell(2, 256, 50, 1, 1.0, std::nullopt);  // no tally: not counted
    for (const NiahCell& c : {a, b, steered, none}) CHECK(s.record_niah_cell(sweep, c));
    NiahCell bad = store_test::v1_cell(3, 256, 50, 1, 1.0, std::nullopt);
    bad.retrieval_copy_steps = 1;
    bad.retrieval_hits.assign(n, 2);  // more hits than copy steps
    CHECK_THROWS_AS(s.record_niah_cell(sweep, bad), hl::Error);
    s.finish_run(run, "done");
  }
  Store s = Store::open(path, Store::Access::ReadOnly);
  const auto cells = s.get_niah_cells(sweep);
  REQUIRE(cells.size() == 4);
  CHECK(cells[0].retrieval_copy_steps == 4);
  CHECK(cells[0].retrieval_hits[0] == 4);
  CHECK_FALSE(cells[3].retrieval_copy_steps.has_value());

  const auto unsteered = s.get_retrieval_scores(sweep, 0.0);
  REQUIRE(unsteered.size() == 30 * 9);
  CHECK(unsteered[0].layer == 0);
  CHECK(unsteered[0].copy_steps == 10);
  CHECK(unsteered[0].hits == 6);
  CHECK(unsteered[0].score == doctest::Approx(0.6));
  CHECK(unsteered[11].layer == 1);
  CHECK(unsteered[11].head == 2);
  CHECK(unsteered[11].score == doctest::Approx(0.7));
  const auto all = s.get_retrieval_scores(sweep);
  CHECK(all[0].copy_steps == 12);
  CHECK(all[0].score == doctest::Approx(8.0 / 12));
  CHECK(s.get_retrieval_scores(sweep, 9.0).empty());
  CHECK_THROWS_AS(s.get_retrieval_scores(sweep + 100), hl::Error);

  const auto j = run_to_json(s, run);
  REQUIRE(j["niah_sweeps"][0].contains("retrieval_scores"));
  CHECK(j["niah_sweeps"][0]["retrieval_scores"][11]["hits"] == 9);
  const std::string csv = run_to_csv(s, run, "retrieval_scores");
  CHECK(csv.rfind("sweep_id,layer,head,score,hits,copy_steps\n", 0) == 0);
  CHECK(csv.find("\n" + std::to_string(sweep) + ",1,2,0.75,9,12\n") != std::string::npos);

  PngChoice choice;
  choice.retrieval = true;
  choice.strength = 0.0;
  std::string title;
  const FloatMatrix g = head_grid(s, run, choice, &title);
  CHECK(g.rows == 30);
  CHECK(g.cols == 9);
  CHECK(g.values[11] == doctest::Approx(0.7f));
  CHECK(title == "retrieval score (10 copy steps)");
  const std::string png = (dir.dir / "retrieval.png").string();
  export_run_png(s, run, choice, png);
  CHECK(std::filesystem::file_size(png) > 100);
  PngChoice stat;
  stat.head_stat = "attn_distance";
  CHECK_THROWS_WITH_AS(export_run_png(s, run, stat, png), doctest::Contains("no head statistic \"attn_distance\""),
                       hl::Error);
}

TEST_CASE("labelled heatmaps: title, axis labels and ticks add margins; an unlabelled map is drawn as before") {
  using namespace hl::store;
  FloatMatrix m{2, 3, {0, 1, 2, 3, 4, 5}};
  const Image plain = render_heatmap(m);
  HeatmapOptions o;
  o.title = "loss_increase per head";
  o.x_label = "head";
  o.y_label = "layer";
  o.x_ticks = {"0", "1", "2"};
  o.y_ticks = {"0", "1"};
  const Image lab = render_heatmap(m, o);
  CHECK(lab.width >= plain.width);
  CHECK(lab.height > plain.height);
  // The cells move right and down by the margins but keep their colours: the top-left cell is viridis(0).
  int x0 = -1, y0 = -1;
  for (int y = 0; y < lab.height && x0 < 0; ++y)
    for (int x = 0; x < lab.width; ++x) {
      const Rgb c = lab.at(x, y), v = viridis(0);
      if (c.r == v.r && c.g == v.g && c.b == v.b) {
        x0 = x, y0 = y;
        break;
      }
    }
  CHECK(x0 > 8);
  CHECK(y0 > 8);
  // Text is ink: some dark pixels above the cells (the title).
  int ink = 0;
  for (int y = 0; y < y0; ++y)
    for (int x = 0; x < lab.width; ++x) ink += lab.at(x, y).r < 0x40 && lab.at(x, y).g < 0x40;
  CHECK(ink > 20);
}

TEST_CASE("store: a v2 file migrates to the newest schema; its NIAH cells keep their fields and have no retrieval tally") {
  using namespace hl::store;
  store_test::ScratchDir dir("migrate3");
  const std::string path = (dir.dir / "v2.db").string();
  {
    Db db(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    migrate(db, 2);
    db.exec("INSERT INTO models (path, config_hash, architecture, n_layers, n_heads, n_kv_heads, hidden_size, vocab_size) "
            "VALUES ('m', 'h', 'llama', 2, 2, 2, 8, 16)");
    db.exec("INSERT INTO runs (model_id, kind, status, created_at) VALUES (1, 'niah', 'done', '2026-01-01T00:00:00.000Z')");
    db.exec("INSERT INTO niah_sweeps (run_id, method, config_json) VALUES (1, 'guide', '{}')");
    db.exec("INSERT INTO niah_cells (sweep_id, strength, context_length, depth_percent, n_samples, mean_score, answer) "
            "VALUES (1, 0, 256, 50, 1, 1.0, 'Spot')");
  }
  Store s = Store::open(path);
  CHECK(s.user_version() == hl::store::schema_version());
  const auto cells = s.get_niah_cells(1);
  REQUIRE(cells.size() == 1);
  CHECK(cells[0].answer == "Spot");
  CHECK_FALSE(cells[0].retrieval_copy_steps.has_value());
  CHECK(s.get_retrieval_scores(1).empty());
  // New cells of the old sweep can carry a tally.
  NiahCell c = store_test::v1_cell(0, 512, 50, 1, 0.0, std::nullopt);
  c.retrieval_copy_steps = 2;
  c.retrieval_hits = {2, 0, 1, 0};
  CHECK(s.record_niah_cell(1, c));
  const auto scores = s.get_retrieval_scores(1);
  REQUIRE(scores.size() == 4);
  CHECK(scores[0].score == 1.0);
  CHECK(scores[2].score == 0.5);
}
