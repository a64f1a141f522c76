// The workbench layer on stories260K: documents prepared and validated, baseline and steered runs on the worker,
// supersession and cancellation, the store record, and equality with the engine called directly.
#include <thread>

#include "core/engine/generate.h"
#include "core/engine/session.h"
#include "core/error.h"
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
