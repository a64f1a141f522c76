// The profiler end to end (headlight-cli profile / profile-export): a head planted by weight surgery is found
// and its exported config steers the answer; the export strategies on a fixed score table; a SIGKILLed profile
// resumes to the same scores without computing a unit twice; a full stories260K profile within a minute.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ATen/ATen.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/engine/model.h"
#include "core/engine/tensor_io.h"
#include "engine/cli_runner.h"
#include "engine/doctest_torch.h"
#include "scratch_dir.h"
#include "storage/store.h"

using namespace hl;
using namespace hl::test;
using json = nlohmann::json;

namespace {

constexpr int64_t kPlantedLayer = 1, kPlantedHead = 2;

// A tiny Llama (2 layers x 4 heads, hidden 128, head dim 32) with random embeddings in the first 32 hidden
// dimensions and every attention output and MLP zeroed, except head L1H2: no query/key (uniform attention),
// values = those 32 dimensions, output written back into them (gain 4). That head is then the only route from any earlier
// token to the output, and it copies what it attends to: emphasising a token (PASTA) makes the model say it.
void write_planted_model(const std::filesystem::path& dir) {
  const int64_t V = 512, D = 128, L = 2, H = 4, hd = 32, F = 32;
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "config.json") << json({{"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"},
                                               {"hidden_size", D}, {"intermediate_size", F}, {"num_hidden_layers", L},
                                               {"num_attention_heads", H}, {"num_key_value_heads", H}, {"vocab_size", V},
                                               {"max_position_embeddings", 256}, {"rms_norm_eps", 1e-5},
                                               {"rope_theta", 10000.0}, {"hidden_act", "silu"},
                                               {"tie_word_embeddings", false}, {"bos_token_id", 1}, {"eos_token_id", 2},
                                               {"torch_dtype", "float32"}})
                                            .dump();
  std::filesystem::copy_file(shared_dir() / "models/stories260K/hf/tokenizer.model", dir / "tokenizer.model",
                             std::filesystem::copy_options::overwrite_existing);
  at::manual_seed(1234);
  at::Tensor emb = at::zeros({V, D});
  emb.narrow(1, 0, hd).copy_(at::randn({V, hd}));
  std::vector<std::pair<std::string, at::Tensor>> w = {{"model.embed_tokens.weight", emb},
                                                       {"lm_head.weight", emb.clone()},
                                                       {"model.norm.weight", at::ones({D})}};
  for (int64_t l = 0; l < L; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    at::Tensor v = at::zeros({D, D}), o = at::zeros({D, D});
    if (l == kPlantedLayer) {
      v.narrow(0, kPlantedHead * hd, hd).narrow(1, 0, hd).copy_(at::eye(hd));
      // Gain 4: enough for a copied token to outvote the last token's own embedding once steered.
      o.narrow(0, 0, hd).narrow(1, kPlantedHead * hd, hd).copy_(at::eye(hd) * 4.0);
    }
    w.push_back({p + "input_layernorm.weight", at::ones({D})});
    w.push_back({p + "post_attention_layernorm.weight", at::ones({D})});
    w.push_back({p + "self_attn.q_proj.weight", at::zeros({D, D})});
    w.push_back({p + "self_attn.k_proj.weight", at::zeros({D, D})});
    w.push_back({p + "self_attn.v_proj.weight", v});
    w.push_back({p + "self_attn.o_proj.weight", o});
    w.push_back({p + "mlp.gate_proj.weight", at::zeros({F, D})});
    w.push_back({p + "mlp.up_proj.weight", at::zeros({F, D})});
    w.push_back({p + "mlp.down_proj.weight", at::zeros({D, F})});
  }
  save_tensors(dir / "model.safetensors", w);
}

struct PlantedPrompt {
  const char *prompt, *emphasis, *target, *versus;
};
// Emphasised words that are one token in stories260K's 512-piece vocabulary (the copy head then copies exactly
// the target's first token), each occurring once in its prompt; the competing word starts with another token.
const PlantedPrompt kPrompts[] = {
    {"Tom saw his mom and his dad. He ran to his", "mom", " mom", " dad"},
    {"It was a big day for a small dog. It was a", "big", " big", " small"},
    {"Lily wanted to play or to sleep. She went to", "play", " play", " sleep"},
    {"Ben said hello and waved. Then he", "said", " said", " waved"},
    {"The girl saw a dog and heard a cat. She", "saw", " saw", " heard"},
    {"One day the sun was hot. It was a nice", "day", " day", " sun"},
};

json read_json(const std::string& path) {
  std::ifstream in(path);
  return json::parse(in);
}

// The first token of `cont` after `prompt` (both tokenised together, as the model sees them).
int64_t continuation_token(const Tokenizer& t, const std::string& prompt, const std::string& cont) {
  const auto p = t.encode(prompt).ids, f = t.encode(prompt + cont).ids;
  REQUIRE(f.size() > p.size());
  REQUIRE(std::equal(p.begin(), p.end(), f.begin()));
  return f[p.size()];
}

int64_t count_units(const std::string& db) {
  if (!std::filesystem::exists(db)) return 0;
  try {
    auto st = store::Store::open(db, store::Store::Access::ReadOnly);
    int64_t n = 0;
    for (const auto& j : st.list_profiling_jobs()) n += st.count_units(j.id);
    return n;
  } catch (const std::exception&) {
    return 0;  // created but not yet initialised by the writer
  }
}

}  // namespace

TEST_CASE("profile: a planted head is ranked first with a clear margin and its exported config steers the answer") {
  hl_test::ScratchDir d("profile_planted");
  const auto model_dir = d.dir / "planted";
  write_planted_model(model_dir);
  std::string suite;
  for (const auto& p : kPrompts)
    suite += json({{"prompt", p.prompt}, {"emphasis", p.emphasis}, {"target", p.target}, {"versus", p.versus}}).dump() + "\n";
  const auto suite_file = d.write("planted.jsonl", suite);
  const std::string db = d.file("p.db"), scores = d.file("scores.json");
  CliResult r = run_cli({"profile", "--model", model_dir.string(), "--suite", suite_file.string(), "--db", db, "--out",
                         scores, "--quiet"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  const json s = read_json(scores);
  const json& t = s["tasks"]["planted"];
  CHECK(t["n"] == 6);
  REQUIRE(t["heads"].size() == 8);
  double best_other = -1e9, planted = 0;
  for (const auto& h : t["heads"]) {
    if (h["layer"] == kPlantedLayer && h["head"] == kPlantedHead) planted = h["delta"].get<double>();
    else best_other = std::max(best_other, h["delta"].get<double>());
  }
  MESSAGE("planted head delta " << planted << ", best other head " << best_other);
  // Every other head writes nothing to the residual stream: steering it changes nothing at all.
  CHECK(std::abs(best_other) < 1e-4);
  CHECK(planted > 2.0);
  CHECK(s["alpha"] == 0.01);
  CHECK(s["suites"][0]["n"] == 6);
  CHECK(s["model"]["config_hash"].get<std::string>().size() == 16);

  const std::string heads = d.file("heads.json");
  r = run_cli({"profile-export", "--scores", scores, "--strategy", "task", "--task", "planted", "--k", "1", "--out", heads});
  INFO(r.err);
  REQUIRE(r.status == 0);
  std::ifstream hf(heads);
  const std::string config((std::istreambuf_iterator<char>(hf)), {});
  CHECK(config == "{\"1\":[2]}\n");
  const json side = read_json(d.file("heads.scores.json"));
  CHECK(side["k"] == 1);
  CHECK(side["strategy"] == "task");
  CHECK(side["heads"][0]["name"] == "L1H2");
  CHECK(side["heads"][0]["scores"]["planted"]["rank"] == 1);

  // Steering with the exported file (and with the sidecar) makes the model answer the emphasised word.
  auto m = Model::load(model_dir);
  for (const char* file : {"heads.json", "heads.scores.json"}) {
    int flipped = 0;
    for (const auto& p : kPrompts) {
      const auto spec = d.write("spec.json", json({{"method", "pasta"}, {"heads", file}, {"emphasis", {p.emphasis}}}).dump());
      r = run_cli({"generate", "--model", model_dir.string(), "--prompt", p.prompt, "--steering", spec.string(),
                   "--max-new", "1", "--ignore-eos", "--json"});
      INFO(r.err);
      REQUIRE(r.status == 0);
      const json g = json::parse(r.out);
      CHECK(g["steered_ids"][0].get<int64_t>() == continuation_token(*m->tokenizer(), p.prompt, p.target));
      if (g["baseline_ids"][0] != g["steered_ids"][0]) ++flipped;
    }
    CHECK(flipped >= 5);  // unsteered, the model mostly does not say it
  }
}

TEST_CASE("profile-export: the strategies on a fixed score table, any K, without recomputation") {
  hl_test::ScratchDir d("profile_export");
  // Rankings: A = a b c d e f, B = b c d e a f, C = d a b e f c (a..f = L0H0 L0H1 L1H0 L1H1 L2H0 L2H1).
  const std::vector<std::pair<int, int>> heads = {{0, 0}, {0, 1}, {1, 0}, {1, 1}, {2, 0}, {2, 1}};
  const std::map<std::string, std::vector<double>> table = {
      {"A", {5, 4, 3, 2, 1, 0}}, {"B", {1, 5, 4, 3, 2, 0}}, {"C", {4, 3, 0, 5, 2, 1}}};
  json tasks = json::object();
  for (const auto& [name, scores] : table) {
    json hs = json::array();
    for (size_t i = 0; i < heads.size(); ++i)
      hs.push_back({{"layer", heads[i].first}, {"head", heads[i].second}, {"mean", scores[i]}, {"std", 0}});
    tasks[name] = {{"scorer", "logprob"}, {"n", 1}, {"heads", hs}};
  }
  const auto scores = d.write("scores.json", json({{"alpha", 0.01}, {"tasks", tasks}}).dump());
  struct Case {
    std::vector<std::string> args;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {{"--strategy", "intersection", "--k", "4"}, "{\"0\":[1],\"1\":[1]}\n"},
      {{"--strategy", "union", "--k", "2"}, "{\"0\":[1,0],\"1\":[1,0]}\n"},
      {{"--strategy", "task", "--task", "B", "--k", "3"}, "{\"0\":[1],\"1\":[0,1]}\n"},
      {{"--strategy", "loo", "--task", "A", "--k", "3"}, "{\"0\":[1],\"1\":[1]}\n"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> args = {"profile-export", "--scores", scores.string(), "--out", d.file("h.json")};
    args.insert(args.end(), c.args.begin(), c.args.end());
    CliResult r = run_cli(args);
    INFO(r.err);
    REQUIRE(r.status == 0);
    std::ifstream f(d.file("h.json"));
    CHECK(std::string((std::istreambuf_iterator<char>(f)), {}) == c.expect);
  }
  CliResult r = run_cli({"profile-export", "--scores", scores.string(), "--strategy", "intersection", "--k", "2", "--out",
                         d.file("h2.json")});
  CHECK(r.status != 0);
  CHECK(r.err.find("raise --k") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(d.file("h2.json")));
}

TEST_CASE("profile: stories260K, 40 heads x 2 suites x 20 examples; SIGKILL then rerun gives the same scores") {
  hl_test::ScratchDir d("profile_resume");
  const std::string model = (shared_dir() / "models/stories260K/hf").string();
  // The CI timing of a full stories260K profile: 40 heads x 2 suites x 20 examples.
  const auto t0 = std::chrono::steady_clock::now();
  CliResult r = run_cli({"profile", "--model", model, "--suite", "pair_qa,bios", "--examples", "20", "--db",
                         d.file("t.db"), "--out", d.file("t.json"), "--quiet"});
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  INFO(r.err);
  REQUIRE(r.status == 0);
  MESSAGE("stories260K profile (40 heads x 2 suites x 20 examples): " << secs << " s wall, CLI start included");
  CHECK(secs < 60.0);
  const json timed = read_json(d.file("t.json"));
  CHECK(timed["tasks"]["pair_qa"]["heads"].size() == 40);
  CHECK(timed["tasks"]["pair_qa"]["n"] == 20);
  CHECK(timed["tasks"]["bios"]["scorer"] == "label_acc");

  // Every example of both suites (200 + 40), one unit per example, so that a kill lands mid-way.
  const int64_t kUnits = 240;
  auto args = [&](const std::string& db, const std::string& out) {
    return std::vector<std::string>{"profile", "--model", model, "--suite", "pair_qa,bios", "--examples", "0",
                                    "--example-block", "1", "--db", db, "--out", out, "--quiet"};
  };
  r = run_cli(args(d.file("ref.db"), d.file("ref.json")));
  REQUIRE(r.status == 0);
  const json ref_run = json::parse(r.out);
  CHECK(ref_run["units"] == kUnits);
  CHECK(ref_run["computed"] == kUnits);
  const json ref = read_json(d.file("ref.json"));

  // Start, let a few units land, kill -9.
  const std::string db = d.file("kill.db"), out = d.file("kill.json");
  const auto a = args(db, out);
  pid_t pid = spawn_cli(a);
  REQUIRE(pid > 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (count_units(db) < 3 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  kill(pid, SIGKILL);
  int st = 0;
  waitpid(pid, &st, 0);
  const int64_t before = count_units(db);
  REQUIRE(before >= 3);
  if (before == kUnits) MESSAGE("the profile finished before it could be killed");
  if (before < kUnits) CHECK_FALSE(std::filesystem::exists(out));  // scores.json is written only at the end

  r = run_cli(a);
  INFO(r.err);
  REQUIRE(r.status == 0);
  json j = json::parse(r.out);
  CHECK(j["resumed"] == true);
  CHECK(j["skipped"].get<int64_t>() == before);
  CHECK(j["computed"].get<int64_t>() == kUnits - before);  // nothing computed twice
  CHECK(count_units(db) == kUnits);
  const json resumed = read_json(out);
  CHECK(resumed["tasks"].dump() == ref["tasks"].dump());
  CHECK(resumed["suites"] == ref["suites"]);
  CHECK(resumed["model"]["weights"] == ref["model"]["weights"]);
  CHECK(resumed["job"] == ref["job"]);

  // A finished job computes nothing and writes the same file again.
  r = run_cli(a);
  REQUIRE(r.status == 0);
  j = json::parse(r.out);
  CHECK(j["computed"] == 0);
  CHECK(j["skipped"] == kUnits);
  CHECK(read_json(out).dump() == resumed.dump());

  // Other settings with the same --out: refused, naming what differs; nothing is merged.
  auto other = a;
  other.insert(other.end(), {"--alpha", "0.1"});
  r = run_cli(other);
  CHECK(r.status != 0);
  CHECK(r.err.find("differing: alpha") != std::string::npos);
  CHECK(count_units(db) == kUnits);
  CHECK(read_json(out).dump() == resumed.dump());
}

TEST_CASE("profile: tasks --show prints converted examples; bad suites are refused naming file, line and field") {
  hl_test::ScratchDir d("profile_bad");
  CliResult r = run_cli({"tasks", "--file", (shared_dir() / "data/profiling/pair_qa_synthetic.jsonl").string(), "--show", "2"});
  REQUIRE(r.status == 0);
  json j = json::parse(r.out);
  REQUIRE(j["examples"].size() == 2);
  CHECK(j["examples"][1]["id"] == "qa 1.2");
  CHECK(j["examples"][1]["emphasis"] == "The Golden Dunes shift shape with every desert wind.");
  CHECK(j["items"][0]["id"] == 1);  // the records as read stay there too

  const auto suite = d.write("s.jsonl", R"({"prompt": "Tom saw his mom.", "emphasis": "mom", "target": " mom"})" "\n"
                                        R"({"prompt": "Tom saw his dad.", "emphasis": "dad"})" "\n");
  r = run_cli({"tasks", "--file", suite.string()});
  CHECK(r.status != 0);
  CHECK(r.err.find("s.jsonl:2: missing field \"target\"") != std::string::npos);
  const std::string model = (shared_dir() / "models/stories260K/hf").string();
  r = run_cli({"profile", "--model", model, "--suite", suite.string(), "--db", d.file("p.db"), "--out", d.file("o.json")});
  CHECK(r.status != 0);
  CHECK(r.err.find("s.jsonl:2: missing field \"target\"") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(d.file("o.json")));
  r = run_cli({"profile", "--model", model, "--suite", "nope", "--out", d.file("o.json"), "--db", d.file("p.db")});
  CHECK(r.status != 0);
  CHECK(r.err.find("neither a built-in suite") != std::string::npos);

  // A subset of heads (--heads), a generation scorer: only those heads are scored, and only this task generates.
  const auto gen = d.write("g.jsonl", R"({"prompt": "She said he was here.\nSay it with they:", "emphasis": "Say it with they:", "scorer": "pronoun_change"})" "\n");
  r = run_cli({"profile", "--model", model, "--suite", gen.string(), "--heads", "L0H1,L4", "--max-new", "8", "--db",
               d.file("p.db"), "--out", d.file("g.json"), "--quiet"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  const json g = read_json(d.file("g.json"));
  CHECK(g["tasks"]["g"]["scorer"] == "pronoun_change");
  REQUIRE(g["tasks"]["g"]["heads"].size() == 9);
  CHECK(g["tasks"]["g"]["heads"][0]["layer"] == 0);
  CHECK(g["tasks"]["g"]["heads"][1]["layer"] == 4);
  for (const auto& h : g["tasks"]["g"]["heads"]) CHECK((h["mean"] == 0.0 || h["mean"] == 0.5 || h["mean"] == 1.0));
}
