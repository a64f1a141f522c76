// The workbench's head tools for the window (issue #25): ablation in the document (alone and with steering, zero
// and mean) re-runs the steered variant and is recorded with the run; the retrieval scores the Heads grid shows
// are the store's, for the loaded model only, from the newest NIAH sweep that computed them.
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "engine/cli_runner.h"
#include "engine/doctest_torch.h"
#include "engine/golden.h"
#include "niah_store_fixture.h"
#include "scratch_dir.h"
#include "storage/store.h"
#include "workbench/workbench.h"

using namespace hl;
using namespace hl::test;

namespace {

const char* kPrompt = "Once upon a time, there was a little girl named Lily. She loved her red ball.";

std::string stories_dir() { return (shared_dir() / "models" / "stories260K").string(); }

wb::Document ablation_doc(const std::string& ablate, AblationMode mode = AblationMode::Zero) {
  wb::Document d;
  d.prompt = kPrompt;
  d.spec.method = SteeringMethod::None;
  if (!ablate.empty()) d.spec.ablate = parse_head_set_text(ablate, "ablate");
  d.spec.ablation = mode;
  d.sampling.max_new_tokens = 24;
  d.focus_layer = 1;
  d.focus_head = 0;
  return d;
}

struct Ran {
  std::vector<int64_t> baseline, steered;
  wb::Snapshot snap;
};

Ran run(wb::Workbench& w, const wb::Document& d) {
  const uint64_t gen = w.set_document(d);
  REQUIRE(w.wait_idle(120));
  Ran r;
  r.snap = w.snapshot();
  REQUIRE(r.snap.prompt);
  INFO("issues: " << (r.snap.prompt->issues.empty() ? "" : r.snap.prompt->issues.front().message));
  REQUIRE(r.snap.prompt->issues.empty());
  for (const auto& j : r.snap.jobs) {
    INFO(j.label << ": " << j.error);
    CHECK(j.state != wb::JobState::Failed);
  }
  REQUIRE(r.snap.baseline);
  REQUIRE(r.snap.steered);
  REQUIRE(r.snap.steered->continuation.finished);
  CHECK(r.snap.steered->generation == gen);
  r.baseline = r.snap.baseline->continuation.ids;
  r.steered = r.snap.steered->continuation.ids;
  return r;
}

// The steering spec the store recorded for the workbench's newest run.
nlohmann::json newest_spec(const std::string& db) {
  store::Store st = store::Store::open(db, store::Store::Access::ReadOnly);
  store::RunFilter f;
  f.limit = 1;
  const auto runs = st.list_runs(f);
  REQUIRE(runs.size() == 1);
  REQUIRE(runs[0].run.spec_id);
  return nlohmann::json::parse(st.get_spec(*runs[0].run.spec_id).value());
}

}  // namespace

TEST_CASE("workbench: an ablated head changes the steered continuation (method none), zero and mean; recorded") {
  hl_test::ScratchDir tmp("wb_ablate");
  wb::WorkbenchOptions o;
  o.db_path = tmp.file("runs.db");
  wb::Workbench w(o);
  w.load_model(stories_dir());
  REQUIRE(w.wait_idle(120));

  // No ablation, no method: the steered variant is the baseline.
  Ran none = run(w, ablation_doc(""));
  CHECK(none.steered == none.baseline);

  // Ablation alone (no steering method) is a steered run of its own.
  Ran zero = run(w, ablation_doc("L1H0,L1H3,L2H5"));
  CHECK(zero.baseline == none.baseline);
  CHECK(zero.steered != zero.baseline);
  CHECK(zero.snap.prompt->spec_json.find("\"ablate\"") != std::string::npos);
  // Its head statistics and Influence come from the ablated forward: the ablated heads' outputs are gone, so some
  // statistic downstream of them moves.
  REQUIRE(zero.snap.steered->stats);
  REQUIRE(zero.snap.baseline->stats);
  CHECK(zero.snap.steered->stats->values != zero.snap.baseline->stats->values);
  nlohmann::json spec = newest_spec(o.db_path);
  CHECK(spec["method"] == "none");
  CHECK(spec["ablation"] == "zero");
  CHECK(spec["ablate"] == nlohmann::json::parse(R"({"1": [0, 3], "2": [5]})"));

  // Mean ablation runs too (its means computed on the unsteered prompt), with the map over the continuation, and
  // differs from zero ablation.
  Ran mean = run(w, ablation_doc("L1H0,L1H3,L2H5", AblationMode::Mean));
  CHECK(mean.steered != mean.baseline);
  CHECK(mean.steered != zero.steered);
  REQUIRE(mean.snap.steered->map);
  CHECK(mean.snap.steered->map->rows == static_cast<int64_t>(mean.snap.prompt->ids.size() + mean.steered.size()));
  CHECK(newest_spec(o.db_path)["ablation"] == "mean");

  // Ablation with steering: PASTA plus an ablated head is neither PASTA alone nor the baseline.
  wb::Document pasta = ablation_doc("");
  pasta.spec.method = SteeringMethod::Pasta;
  pasta.spec.heads = parse_head_set_text("L1H0,L2H3,L3H5,L4H1", "heads");
  pasta.spec.alpha = 0.01;
  pasta.spec.emphasis = {"a little girl named Lily"};
  Ran steer_only = run(w, pasta);
  pasta.spec.ablate = parse_head_set_text("L1H3,L2H5", "ablate");
  Ran both = run(w, pasta);
  CHECK(both.steered != steer_only.steered);
  CHECK(both.steered != both.baseline);

  // An ablated head outside the model is a field issue for "ablate", not a crash.
  w.set_document(ablation_doc("L9H0"));
  REQUIRE(w.wait_idle(120));
  const wb::Snapshot bad = w.snapshot();
  REQUIRE(bad.prompt);
  REQUIRE(!bad.prompt->issues.empty());
  CHECK(bad.prompt->issues.front().field == "ablate");
}

TEST_CASE("workbench: retrieval scores are the store's for the loaded model's newest NIAH sweep with scores") {
  hl_test::ScratchDir tmp("wb_retrieval");
  const std::string db = tmp.file("runs.db");
  wb::WorkbenchOptions o;
  o.db_path = db;
  wb::Workbench w(o);
  CHECK(w.retrieval_scores().missing == "no model is loaded");
  w.load_model(stories_dir());
  REQUIRE(w.wait_idle(120));
  const wb::Snapshot s = w.snapshot();
  REQUIRE(s.model);
  CHECK(!s.model->record_path.empty());
  CHECK(!s.model->config_hash.empty());
  // No store file yet: the reason says how to make one.
  wb::RetrievalScores none = w.retrieval_scores();
  CHECK(!none.available());
  CHECK(none.missing.find("niah") != std::string::npos);
  CHECK(none.missing.find("--retrieval-scores") != std::string::npos);

  // A NIAH sweep without retrieval scores does not count.
  CliResult r = run_cli({"niah", "--model", stories_dir(), "--lengths", "256", "--depths", "50", "--deltas", "0",
                         "--max-new", "8", "--out", tmp.file("plain.csv"), "--db", db});
  REQUIRE_MESSAGE(r.status == 0, r.err);
  CHECK(!w.retrieval_scores().available());

  r = run_cli({"niah", "--model", stories_dir(), "--lengths", "256", "--depths", "25,75", "--deltas", "0",
               "--max-new", "12", "--out", tmp.file("scores.csv"), "--retrieval-scores", "--db", db});
  REQUIRE_MESSAGE(r.status == 0, r.err);
  const wb::RetrievalScores got = w.retrieval_scores();
  INFO(got.missing);
  REQUIRE(got.available());
  CHECK(got.layers == 5);
  CHECK(got.heads == 8);
  CHECK(got.cells == 2);
  CHECK(got.method == "guide");
  CHECK(got.copy_steps > 0);  // the answers copied needle tokens: a real tally, if every head scores 0 on this model
  {
    store::Store st = store::Store::open(db, store::Store::Access::ReadOnly);
    store::RunFilter f;
    f.kind = "niah";
    const auto runs = st.list_runs(f);
    REQUIRE(runs.size() == 2);
    CHECK(got.run_id == runs[0].run.id);  // the newer one: the sweep with scores
    const auto sweeps = st.list_niah_sweeps(got.run_id);
    REQUIRE(sweeps.size() == 1);
    CHECK(got.sweep_id == sweeps[0].id);
    const auto expect = st.get_retrieval_scores(sweeps[0].id);
    REQUIRE(expect.size() == 40);
    for (const auto& e : expect) {
      const auto k = static_cast<size_t>(e.layer * 8 + e.head);
      CHECK(got.score[k] == doctest::Approx(e.score));
      CHECK(got.hits[k] == e.hits);
      CHECK(got.copy_steps == e.copy_steps);
    }
    CHECK(got.copy_steps == nlohmann::json::parse(r.out)["retrieval_copy_steps"].get<int64_t>());
  }

  // Another model's sweep, newer and with scores, is not this model's: the model's own stays.
  hl_test::record_retrieval_run(db, "/elsewhere/other-model", "0123", 4, std::vector<int32_t>(40, 4));
  const wb::RetrievalScores again = w.retrieval_scores();
  REQUIRE(again.available());
  CHECK(again.run_id == got.run_id);
  CHECK(again.score == got.score);

  // A newer sweep of the same model (same path and config hash) with scores replaces it.
  std::vector<int32_t> hits(40, 0);
  hits[2 * 8 + 1] = 3;  // L2H1 retrieved 3 of 4
  const int64_t newest = hl_test::record_retrieval_run(db, s.model->record_path, s.model->config_hash, 4, hits);
  const wb::RetrievalScores newer = w.retrieval_scores();
  REQUIRE(newer.available());
  CHECK(newer.run_id == newest);
  CHECK(newer.method == "none");
  CHECK(newer.copy_steps == 4);
  CHECK(newer.score[2 * 8 + 1] == doctest::Approx(0.75));
  CHECK(newer.score[0] == 0.0f);
}
