// The workbench layer on stories260K: documents prepared and validated, baseline and steered runs on the worker,
// supersession and cancellation, the store record, and equality with the engine called directly.
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "analysis/niah.h"
#include "core/engine/generate.h"
#include "core/engine/session.h"
#include "core/error.h"
#include "engine/cli_runner.h"
#include "engine/doctest_torch.h"
#include "engine/golden.h"
#include "scratch_dir.h"
#include "storage/store.h"
#include "workbench/prompt_setup.h"
#include "workbench/workbench.h"

using namespace hl;

namespace {

const char* kPrompt = "Once upon a time, there was a little girl named Lily. She loved her red ball.";

std::string stories_dir() { return (hl::test::shared_dir() / "models" / "stories260K").string(); }

wb::Document pasta_doc(const std::string& heads) {
  wb::Document d;
  d.prompt = kPrompt;
  d.spec.method = SteeringMethod::Pasta;
  d.spec.heads = parse_head_set_text(heads, "heads");
  d.spec.alpha = 0.01;
  d.spec.emphasis = {"a little girl named Lily"};
  d.sampling.max_new_tokens = 24;
  d.focus_layer = 1;
  d.focus_head = 0;
  return d;
}

// The steered continuation the engine gives for the same document, called directly (no workbench).
std::vector<int64_t> direct_steered(const Model& m, const wb::Document& d) {
  wb::PromptRequest req;
  req.text = d.prompt;
  req.spec = d.spec;
  wb::PromptSetup ps = wb::setup_prompt(m, req);
  GenerateOptions go;
  go.max_new_tokens = d.sampling.max_new_tokens;
  go.bias = ps.bias.get();
  return generate(m, ps.ids, go).tokens[0];
}

const Model& stories_model() {
  static std::unique_ptr<Model> m = Model::load(stories_dir());
  return *m;
}

std::shared_ptr<const wb::VariantResult> finished(const std::shared_ptr<const wb::VariantResult>& v) {
  REQUIRE(v);
  REQUIRE(v->continuation.finished);
  return v;
}

}  // namespace

TEST_CASE("workbench: load, prepare, baseline and steered runs equal the engine's; toggling a head changes them") {
  hl_test::ScratchDir tmp("wb");
  wb::WorkbenchOptions o;
  o.db_path = tmp.file("runs.db");
  wb::Workbench w(o);
  w.load_model(stories_dir());
  REQUIRE(w.wait_idle(120));
  wb::Snapshot s = w.snapshot();
  REQUIRE(s.model);
  CHECK(s.model->n_layers == 5);
  CHECK(s.model->n_heads == 8);
  CHECK(s.model->has_tokenizer);
  REQUIRE(!s.jobs.empty());
  CHECK(s.jobs.front().kind == wb::JobKind::Load);
  CHECK(s.jobs.front().state == wb::JobState::Done);
  CHECK(s.jobs.front().progress.done == s.jobs.front().progress.total);

  wb::Document d = pasta_doc("L1H0,L2H3,L3H5,L4H1");
  w.set_document(d);
  REQUIRE(w.wait_idle(120));
  s = w.snapshot();
  REQUIRE(s.prompt);
  CHECK(s.prompt->issues.empty());
  REQUIRE(!s.prompt->spans.empty());
  CHECK(s.prompt->token_texts.size() == s.prompt->ids.size());
  CHECK(s.prompt->key_bias.size() == s.prompt->ids.size());
  auto base = finished(s.baseline), steer = finished(s.steered);
  CHECK(base->continuation.ids.size() == 24);
  CHECK(base->continuation.probs.size() == 24);
  CHECK(steer->continuation.ids != base->continuation.ids);
  CHECK(steer->continuation.ids == direct_steered(stories_model(), d));
  // Analysis of both variants: statistics of every head, the focused head's map over prompt + continuation, Influence.
  REQUIRE(steer->stats);
  CHECK(steer->stats->layers == 5);
  CHECK(steer->stats->values.size() == 5 * 8 * steer->stats->names.size());
  REQUIRE(steer->map);
  const int64_t N = static_cast<int64_t>(s.prompt->ids.size() + steer->continuation.ids.size());
  CHECK(steer->map->rows == N);
  for (int64_t r = 0; r < N; ++r) {  // every row a distribution over the keys it can see
    double sum = 0;
    for (int64_t c = 0; c < N; ++c) {
      const float v = steer->map->values[static_cast<size_t>(r * N + c)];
      if (c > r) CHECK(v == 0.0f);
      sum += v;
    }
    CHECK(sum == doctest::Approx(1.0).epsilon(1e-4));
  }
  REQUIRE(steer->influence);
  REQUIRE(base->influence);
  CHECK(steer->influence->layers == 5);
  CHECK(steer->influence->influence.size() == static_cast<size_t>(6 * steer->influence->tokens));
  CHECK(s.runs_recorded == 1);

  // A click on L1H0 in the grid: the spec loses the head and the steered continuation changes with it.
  wb::toggle_head(d.spec.heads, 1, 0, 5, 8);
  CHECK_FALSE(wb::head_in_set(d.spec.heads, 1, 0));
  CHECK(wb::head_in_set(d.spec.heads, 2, 3));
  w.set_document(d);
  REQUIRE(w.wait_idle(120));
  s = w.snapshot();
  CHECK(finished(s.baseline)->continuation.ids == base->continuation.ids);  // the baseline was reused
  CHECK(finished(s.steered)->continuation.ids == direct_steered(stories_model(), d));
  CHECK(s.runs_recorded == 2);

  // The store holds both runs with their generations, head statistics, maps and traces.
  store::Store st = store::Store::open(o.db_path, store::Store::Access::ReadOnly);
  auto runs = st.list_runs();
  REQUIRE(runs.size() == 2);
  for (const auto& r : runs) {
    CHECK(r.run.status == "done");
    CHECK(r.n_generations == 2);
    CHECK(st.get_head_stats(r.run.id).size() == 5 * 8 * 7);  // 7 statistics per head (attn_distance, future_influence added)
    CHECK(st.list_attention_maps(r.run.id).size() == 2);
    CHECK(st.list_traces(r.run.id).size() == 4);
  }
  auto rows = w.list_runs();
  REQUIRE(rows.size() == 2);
  CHECK(rows.front().prompt_text == kPrompt);

  // Reopening the first run restores its spec (with L1H0 steered).
  std::string err;
  REQUIRE(w.reopen_run(runs.back().run.id, &err));
  CHECK(wb::head_in_set(w.document().spec.heads, 1, 0));
  REQUIRE(w.wait_idle(120));
  CHECK(finished(w.snapshot().steered)->continuation.ids == steer->continuation.ids);
  CHECK_FALSE(w.reopen_run(999, &err));
  CHECK(err.find("999") != std::string::npos);

  // Export and delete run on the worker.
  const std::string png = tmp.file("map.png");
  w.export_run(runs.front().run.id, "png", png);
  const uint64_t bad = w.export_run(runs.front().run.id, "gif", tmp.file("x.gif"));
  REQUIRE(w.wait_idle(60));
  CHECK(std::filesystem::file_size(png) > 1000);
  for (const auto& j : w.snapshot().jobs)
    if (j.id == bad) {
      CHECK(j.state == wb::JobState::Failed);
      CHECK(j.error.find("gif") != std::string::npos);
    }
}

TEST_CASE("workbench: a newer document supersedes a running steered job; the result is the newer one's") {
  wb::Workbench w;
  w.load_model(stories_dir());
  wb::Document a = pasta_doc("L1H0,L2H3"), b = pasta_doc("L3H5,L4H1,L2H2");
  a.sampling.max_new_tokens = b.sampling.max_new_tokens = 200;
  w.set_document(a);
  // Let the first document's jobs start, then move the "slider" several times.
  for (int i = 0; i < 200 && w.snapshot().jobs.front().kind != wb::JobKind::Steered; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  for (double alpha : {0.5, 0.2, 0.05}) {
    a.spec.alpha = alpha;
    w.set_document(a);
  }
  w.set_document(b);
  REQUIRE(w.wait_idle(180));
  wb::Snapshot s = w.snapshot();
  CHECK(finished(s.steered)->continuation.ids == direct_steered(stories_model(), b));
  int superseded = 0;
  for (const auto& j : s.jobs)
    if (j.state == wb::JobState::Cancelled) ++superseded;
  CHECK(superseded >= 1);
  CHECK(w.document().spec == b.spec);
}

TEST_CASE("workbench: bad input shows as messages, never a crash; the loaded model stays") {
  hl_test::ScratchDir tmp("wb_bad");
  wb::Workbench w;
  w.load_model(tmp.dir.string());  // an empty folder
  REQUIRE(w.wait_idle(60));
  wb::Snapshot s = w.snapshot();
  CHECK_FALSE(s.model);
  CHECK(s.model_error.find("config.json") != std::string::npos);
  CHECK(s.jobs.front().state == wb::JobState::Failed);

  w.load_model(stories_dir());
  w.set_document(pasta_doc("L1H0"));
  REQUIRE(w.wait_idle(60));
  w.load_model((tmp.dir / "missing").string());
  REQUIRE(w.wait_idle(60));
  s = w.snapshot();
  REQUIRE(s.model);  // the previous model is still loaded
  CHECK(s.model_error.find("no such file") != std::string::npos);
  // ... and the document runs again on it (the failed load had cancelled its jobs).
  CHECK(finished(s.steered)->continuation.ids == direct_steered(stories_model(), pasta_doc("L1H0")));

  wb::Document d = pasta_doc("L9H0");
  w.set_document(d);
  REQUIRE(w.wait_idle(60));
  s = w.snapshot();
  REQUIRE(s.prompt);
  REQUIRE(s.prompt->issues.size() == 1);
  CHECK(s.prompt->issues[0].field == "heads");
  CHECK(s.prompt->issues[0].message.find("layer 9 out of range") != std::string::npos);
  CHECK_FALSE(s.steered);

  d = pasta_doc("L1H0");
  d.spec.emphasis = {"a purple elephant"};
  w.set_document(d);
  REQUIRE(w.wait_idle(60));
  s = w.snapshot();
  REQUIRE(s.prompt->issues.size() == 1);
  CHECK(s.prompt->issues[0].field == "emphasis");
}

TEST_CASE("workbench: loading reports progress and can be cancelled") {
  std::vector<Progress> seen;
  LoadOptions lo;
  lo.progress = [&](const Progress& p) { seen.push_back(p); };
  auto m = Model::load(stories_dir(), lo);
  REQUIRE(seen.size() >= 3);
  CHECK(seen.back().done == seen.back().total);
  for (size_t i = 1; i < seen.size(); ++i) CHECK(seen[i].done > seen[i - 1].done);
  CancelToken stop;
  lo.cancel = &stop;
  lo.progress = [&](const Progress& p) {
    if (p.done == 2) stop.cancel();
  };
  CHECK_THROWS_AS(Model::load(stories_dir(), lo), Cancelled);
}

TEST_CASE("engine: a cancelled re-prefill throws and leaves the session usable") {
  const Model& m = stories_model();
  wb::PromptRequest req;
  req.text = kPrompt;
  req.spec = pasta_doc("L2H0,L3H1").spec;
  wb::PromptSetup ps = wb::setup_prompt(m, req);
  GenerateOptions go;
  go.max_new_tokens = 16;
  go.bias = ps.bias.get();
  const auto want = generate(m, ps.ids, go).tokens[0];

  SteeringSession session(m, ps.ids, 16);
  CancelToken stop;
  stop.cancel();
  GenerateOptions cancelled = go;
  cancelled.cancel = &stop;
  CHECK_THROWS_AS(session.steered(cancelled), Cancelled);  // before the baseline prefill
  GenerateOptions plain = go;
  plain.bias = nullptr;
  session.baseline(plain);
  CHECK_THROWS_AS(session.steered(cancelled), Cancelled);  // inside the re-prefill
  CHECK(session.steered(go).tokens[0] == want);

  KVCache cache = m.new_cache(1, 8);
  ForwardOptions fo;
  fo.cancel = &stop;
  CHECK_THROWS_AS(m.forward(at::tensor(std::vector<int64_t>{1, 2, 3}, at::kLong).unsqueeze(0), cache, fo), Cancelled);
}

namespace {

std::vector<std::string> file_lines(const std::string& path) {
  std::ifstream f(path);
  std::vector<std::string> out;
  for (std::string line; std::getline(f, line);) out.push_back(line);
  return out;
}

// A workbench recording in `db` (empty: none) with `model` loaded.
std::unique_ptr<wb::Workbench> loaded_workbench(const std::string& db, const std::string& model) {
  wb::WorkbenchOptions o;
  o.db_path = db;
  auto w = std::make_unique<wb::Workbench>(o);
  w->load_model(model);
  REQUIRE(w->wait_idle(120));
  REQUIRE(w->snapshot().model);
  return w;
}

const wb::JobInfo& job_of(const wb::Snapshot& s, uint64_t id) {
  for (const auto& j : s.jobs)
    if (j.id == id) return j;
  FAIL("job " << id << " is not in the snapshot");
  return s.jobs.front();
}

}  // namespace

TEST_CASE("workbench: a NIAH sweep job gives the CLI's cells, records its run, and a rerun skips every cell") {
  hl_test::ScratchDir tmp("wb_niah");
  const std::string model = stories_dir() + "/stories260K.bin";
  auto wp = loaded_workbench(tmp.file("runs.db"), model);
  wb::Workbench& w = *wp;
  wb::NiahSweepRequest req;
  req.grid.lengths = {256, 384};
  req.grid.depths = {0, 50, 100};
  req.grid.deltas = {0, 1};
  req.max_new_tokens = 8;
  req.journal_path = tmp.file("wb.csv");
  const uint64_t id = w.start_niah(req);
  REQUIRE(w.wait_idle(300));
  wb::Snapshot s = w.snapshot();
  const wb::JobInfo& job = job_of(s, id);
  INFO(job.error);
  REQUIRE(job.state == wb::JobState::Done);
  CHECK(job.progress.total == 12);
  CHECK(job.progress.done == job.progress.total);
  REQUIRE(s.niah);
  CHECK(s.niah->finished);
  CHECK(s.niah->total == 12);
  CHECK(s.niah->ran == 12);
  CHECK(s.niah->run_id > 0);
  CHECK(job.run_id == s.niah->run_id);
  REQUIRE(s.niah->cells.size() == 12);

  // The CLI, same settings: the same CSV, record for record, and the cells published are its rows.
  const std::string cli_csv = tmp.file("cli.csv");
  hl::test::CliResult r = hl::test::run_cli({"niah", "--model", model, "--lengths", "256,384", "--depths", "0,50,100",
                                             "--deltas", "0,1", "--max-new", "8", "--out", cli_csv});
  INFO(r.err);
  REQUIRE(r.status == 0);
  const std::vector<std::string> cli = file_lines(cli_csv);
  CHECK(file_lines(req.journal_path) == cli);
  REQUIRE(cli.size() == 13);
  for (size_t i = 0; i < s.niah->cells.size(); ++i) CHECK(niah_csv_row(s.niah->cells[i]) == cli[i + 1]);

  // The same sweep again: every cell comes from the journal, the store run continues (no new run).
  const uint64_t again = w.start_niah(req);
  REQUIRE(w.wait_idle(120));
  s = w.snapshot();
  CHECK(job_of(s, again).state == wb::JobState::Done);
  REQUIRE(s.niah);
  CHECK(s.niah->skipped == 12);
  CHECK(s.niah->ran == 0);
  CHECK(s.niah->cells.size() == 12);
  CHECK(job_of(s, again).run_id == job_of(s, id).run_id);
}

TEST_CASE("workbench: a profile job cancelled midway and restarted computes no unit twice; its scores are an "
          "uninterrupted job's") {
  hl_test::ScratchDir tmp("wb_profile");
  wb::ProfileRequest req;
  req.suites = {"pair_qa"};
  req.examples = 60;
  req.example_block = 1;  // 60 units: a cancel lands midway
  req.out_path = tmp.file("scores.json");

  // Without a store there is no journal to resume from: a clear error, no crash.
  {
    auto bp = loaded_workbench("", stories_dir());
    wb::Workbench& bare = *bp;
    const uint64_t id = bare.start_profile(req);
    REQUIRE(bare.wait_idle(60));
    const wb::Snapshot s = bare.snapshot();
    CHECK(job_of(s, id).state == wb::JobState::Failed);
    CHECK(job_of(s, id).error.find("store") != std::string::npos);
  }

  auto wp = loaded_workbench(tmp.file("runs.db"), stories_dir());
  wb::Workbench& w = *wp;
  const uint64_t first = w.start_profile(req);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline) {
    const wb::Snapshot s = w.snapshot();
    if (s.profile && s.profile->done >= 8) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  w.cancel(first);
  REQUIRE(w.wait_idle(60));
  wb::Snapshot s = w.snapshot();
  REQUIRE(job_of(s, first).state == wb::JobState::Cancelled);
  REQUIRE(s.profile);
  const int64_t units = s.profile->units;
  const int64_t done_before = s.profile->done;
  CHECK(units == 60);
  CHECK(done_before >= 8);
  CHECK(done_before < units);
  CHECK_FALSE(s.profile->finished);
  // Partial scores: heads scored on the examples done so far.
  REQUIRE(s.profile->tasks.size() == 1);
  CHECK(s.profile->tasks[0].n[0] == done_before);
  CHECK(std::isfinite(s.profile->tasks[0].mean[0]));

  const uint64_t second = w.start_profile(req);
  REQUIRE(w.wait_idle(300));
  s = w.snapshot();
  INFO(job_of(s, second).error);
  REQUIRE(job_of(s, second).state == wb::JobState::Done);
  CHECK(job_of(s, second).progress.done == units);
  CHECK(job_of(s, second).progress.total == units);
  REQUIRE(s.profile);
  const wb::ProfileScores resumed = *s.profile;
  CHECK(resumed.finished);
  CHECK(resumed.resumed);
  CHECK(resumed.skipped == done_before);
  CHECK(resumed.computed == units - done_before);
  CHECK(job_of(s, second).run_id == resumed.run_id);

  // The uninterrupted job, in another store.
  auto rp = loaded_workbench(tmp.file("ref.db"), stories_dir());
  wb::Workbench& ref = *rp;
  wb::ProfileRequest req2 = req;
  req2.out_path = tmp.file("ref.json");
  ref.start_profile(req2);
  REQUIRE(ref.wait_idle(300));
  const wb::Snapshot rs = ref.snapshot();
  REQUIRE(rs.profile);
  CHECK(rs.profile->computed == units);
  CHECK(rs.profile->skipped == 0);
  REQUIRE(rs.profile->tasks.size() == 1);
  CHECK(rs.profile->tasks[0].baseline == resumed.tasks[0].baseline);
  CHECK(rs.profile->tasks[0].mean == resumed.tasks[0].mean);
  CHECK(rs.profile->tasks[0].n == resumed.tasks[0].n);
  nlohmann::json a = nlohmann::json::parse(std::ifstream(req.out_path)), b = nlohmann::json::parse(std::ifstream(req2.out_path));
  CHECK(a["tasks"].dump() == b["tasks"].dump());
  CHECK(a["tasks"]["pair_qa"]["heads"].size() == 40);
}
