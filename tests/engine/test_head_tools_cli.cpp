// The head tools end to end: a hand-built copying model whose retrieval head is known (the retrieval score finds it),
// and on stories260K the CLI paths into the store: niah --retrieval-scores, scan-heads --effect ablate --db,
// capture's new statistics, and the labelled layer x head PNGs.
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "analysis/retrieval_score.h"
#include "core/engine/generate.h"
#include "core/engine/top_key_recorder.h"
#include "engine/cli_runner.h"
#include "engine/golden.h"
#include "storage/store.h"
#include "engine/doctest_torch.h"

using namespace hl;
using namespace hl::test;

namespace {

// One attention-only layer over one-hot tokens (dims [0, V)) and one-hot learned positions (dims [V, V + P)).
// Head 0 attends from position i to position i - lag and copies that token into the logits; head 1 attends to its
// own position and writes nothing. The MLP is zero.
std::unique_ptr<Model> copying_model(int64_t V, int64_t P, int64_t lag) {
  ModelConfig c;
  c.model_type = "llama";
  c.n_layers = 1;
  c.n_heads = c.n_kv_heads = 2;
  c.hidden = c.head_dim = V + P;
  c.intermediate = 4;
  c.vocab = V;
  c.max_positions = P;
  c.rope = RopeStyle::None;
  c.learned_positions = true;
  const int64_t D = c.hidden, hd = c.head_dim;
  const float s = 5.0f, g = 2.0f;  // query sharpness, copy gain
  ModelWeights w;
  w.embed = at::zeros({V, D});
  for (int64_t t = 0; t < V; ++t) w.embed[t][t] = 1.0f;
  w.pos_embed = at::zeros({P, D});
  for (int64_t p = 0; p < P; ++p) w.pos_embed[p][V + p] = 1.0f;
  w.final_norm_w = at::ones({D});
  w.lm_head_w = at::zeros({V, D});
  for (int64_t t = 0; t < V; ++t) w.lm_head_w[t][t] = 1.0f;
  LayerWeights lw;
  lw.norm1_w = at::ones({D});
  lw.norm2_w = at::ones({D});
  lw.qkv_w = at::zeros({6 * hd, D});
  at::Tensor q0 = lw.qkv_w.narrow(0, 0, hd), q1 = lw.qkv_w.narrow(0, hd, hd);
  at::Tensor k0 = lw.qkv_w.narrow(0, 2 * hd, hd), k1 = lw.qkv_w.narrow(0, 3 * hd, hd);
  at::Tensor v0 = lw.qkv_w.narrow(0, 4 * hd, hd);
  for (int64_t p = 0; p < P; ++p) {
    if (p + lag < P) q0[V + p][V + p + lag] = s;  // the query of position p + lag looks for key position p
    q1[V + p][V + p] = s;
    k0[V + p][V + p] = 1.0f;
    k1[V + p][V + p] = 1.0f;
  }
  for (int64_t t = 0; t < V; ++t) v0[t][t] = 1.0f;
  lw.o_w = at::zeros({D, 2 * hd});
  for (int64_t t = 0; t < V; ++t) lw.o_w[t][t] = g;
  lw.up_w = at::zeros({2 * c.intermediate, D});
  lw.down_w = at::zeros({D, c.intermediate});
  w.layers.push_back(lw);
  return std::make_unique<Model>(c, w, at::Device(at::kCPU), at::kFloat);
}

}  // namespace

TEST_CASE("retrieval score: on a hand-built copying model the copying head scores 1, the other 0") {
  // Prompt 1 2 3 [10 11 12 13] 4 5 6 7 8: the needle is at positions 3..6; lag 8 makes the last position (11)
  // attend to position 3 and every later step to the next needle token.
  const std::vector<int64_t> prompt = {1, 2, 3, 10, 11, 12, 13, 4, 5, 6, 7, 8};
  auto m = copying_model(16, 24, 8);
  TopKeyRecorder top(1, 2);
  GenerateOptions go;
  go.max_new_tokens = 6;
  go.stop_at_eos = false;
  go.observer = &top;
  const GenerateResult g = generate(*m, prompt, go);
  // The model copies the needle, then what followed it (not needle tokens: no copy steps).
  CHECK(g.tokens[0] == std::vector<int64_t>{10, 11, 12, 13, 4, 5});
  REQUIRE(top.steps() == 6);
  CHECK(top.top_keys(0, 0) == std::vector<int64_t>{3, 11});  // prefill's last row: head 0 on the needle start
  CHECK(top.top_keys(5, 0) == std::vector<int64_t>{8, 16});
  RetrievalTally t(1, 2);
  tally_retrieval(t, prompt, 3, 7, g.tokens[0], top.row(0));
  CHECK(t.copy_steps == 4);
  CHECK(t.score(0, 0) == 1.0);
  CHECK(t.score(0, 1) == 0.0);
}

TEST_CASE("head tools through the CLI into the store: retrieval scores, ablation scan, new statistics, PNGs") {
  const std::string model = (shared_dir() / "models/stories260K/stories260K.bin").string();
  const std::string tag = "/tmp/hl-headtools-" + std::to_string(getpid());
  const std::string db = tag + ".db", csv = tag + ".csv";
  std::filesystem::remove(db);
  std::filesystem::remove(csv);

  CliResult r = run_cli({"niah", "--model", model, "--lengths", "256", "--depths", "25,75", "--deltas", "0", "--max-new",
                         "12", "--out", csv, "--retrieval-scores", "--db", db});
  REQUIRE_MESSAGE(r.status == 0, r.err);
  const auto summary = nlohmann::json::parse(r.out);
  REQUIRE(summary.contains("retrieval_scores"));
  CHECK(summary["retrieval_scores"].size() == 5);
  CHECK(summary["retrieval_scores"][0].size() == 8);
  const int64_t copy_steps = summary["retrieval_copy_steps"];
  CHECK(copy_steps >= 0);
  {
    store::Store s = store::Store::open(db, store::Store::Access::ReadOnly);
    const auto runs = s.list_runs({});
    REQUIRE(runs.size() == 1);
    const auto sweeps = s.list_niah_sweeps(runs[0].run.id);
    REQUIRE(sweeps.size() == 1);
    const auto scores = s.get_retrieval_scores(sweeps[0].id);
    REQUIRE(scores.size() == 40);
    for (const auto& sc : scores) {
      CHECK(sc.copy_steps == copy_steps);
      CHECK(sc.score >= 0.0);
      CHECK(sc.score <= 1.0);
      CHECK(sc.score == doctest::Approx(summary["retrieval_scores"][sc.layer][sc.head].get<double>()));
    }
    const std::string png = tag + "-retrieval.png";
    r = run_cli({"runs", "export", std::to_string(runs[0].run.id), "--format", "png", "--retrieval", "--out", png, "--db", db});
    CHECK_MESSAGE(r.status == 0, r.err);
    CHECK(std::filesystem::file_size(png) > 100);
    std::filesystem::remove(png);
  }

  // Ablation scan of every head (no spec): AttentionInfluence's loss increase, recorded as head scores.
  const std::string ids = "1,403,407,261,378,429,261,316,304,370,301,258,278,263,365,407";
  r = run_cli({"scan-heads", "--model", model, "--ids", ids, "--effect", "ablate", "--json", "--db", db});
  REQUIRE_MESSAGE(r.status == 0, r.err);
  const auto scan = nlohmann::json::parse(r.out);
  CHECK(scan["metric"] == "loss_increase");
  CHECK(scan["heads"].size() == 40);
  CHECK(scan["baseline_loss"].get<double>() > 0);
  r = run_cli({"scan-heads", "--model", model, "--ids", ids, "--effect", "ablate", "--ablation", "mean", "--json"});
  REQUIRE_MESSAGE(r.status == 0, r.err);
  CHECK(nlohmann::json::parse(r.out)["ablation"] == "mean");
  r = run_cli({"scan-heads", "--model", model, "--ids", ids, "--effect", "ablate", "--ablation", "half"});
  CHECK(r.status != 0);
  CHECK(r.err.find("--ablation") != std::string::npos);

  // Capture: the new statistics per head in the store, and per token in the output file.
  const std::string cap = tag + "-cap.safetensors";
  r = run_cli({"capture", "--model", model, "--ids", ids, "--out", cap, "--db", db});
  REQUIRE_MESSAGE(r.status == 0, r.err);
  store::Store s = store::Store::open(db, store::Store::Access::ReadOnly);
  int64_t scan_run = 0, cap_run = 0;
  for (const auto& run : s.list_runs({})) {
    if (run.run.kind == "scan-heads") scan_run = run.run.id;
    if (run.run.kind == "capture") cap_run = run.run.id;
  }
  REQUIRE(scan_run > 0);
  REQUIRE(cap_run > 0);
  int distance = 0, future = 0;
  for (const auto& st : s.get_head_stats(cap_run)) {
    distance += st.stat == "attn_distance";
    future += st.stat == "future_influence";
  }
  CHECK(distance == 40);
  CHECK(future == 40);
  for (const auto& [flag, value, run] : std::vector<std::tuple<std::string, std::string, int64_t>>{
           {"--head-score", "loss_increase", scan_run}, {"--head-stat", "attn_distance", cap_run}}) {
    const std::string png = tag + "-" + value + ".png";
    r = run_cli({"runs", "export", std::to_string(run), "--format", "png", flag, value, "--out", png, "--db", db});
    CHECK_MESSAGE(r.status == 0, r.err);
    CHECK(std::filesystem::file_size(png) > 100);
    std::filesystem::remove(png);
  }
  std::filesystem::remove(cap);
  std::filesystem::remove(db);
  std::filesystem::remove(csv);
}
