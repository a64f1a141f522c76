// headlight-cli end to end: the headless contract (JSON shapes, safetensors outputs) against the goldens, and
// one-line errors with a non-zero exit for bad input.
#include <fstream>
#include <set>
#include <nlohmann/json.hpp>

#include "core/formats/safetensors.h"
#include "engine/cli_runner.h"
#include "engine/doctest_torch.h"

using namespace hl;
using namespace hl::test;
using nlohmann::json;

namespace {

std::string tmp(const std::string& name) { return "/tmp/hl-cli-" + std::to_string(getpid()) + "-" + name; }

std::string write_spec(const std::string& name, const std::string& text) {
  std::string p = tmp(name);
  std::ofstream(p) << text;
  return p;
}

}  // namespace

TEST_CASE("cli: info, tokenize, logits, generate") {
  const std::string gqa = fixture("llama-gqa").string();
  CliResult r = run_cli({"info", "--model", gqa});
  REQUIRE(r.status == 0);
  json j = json::parse(r.out);
  CHECK(j["model_type"] == "llama");
  CHECK(j["layers"] == 4);
  CHECK(j["heads"] == 4);
  CHECK(j["kv_heads"] == 2);
  CHECK(j["head_dim"] == 16);
  CHECK(j["vocab"] == 1024);
  CHECK(j["params"].get<int64_t>() > 0);
  // Whichever BLAS libtorch loaded is named (OpenBLAS here, MKL in an official build, "unknown" when it cannot tell).
  CHECK_FALSE(j["blas"].get<std::string>().empty());

  r = run_cli({"tokenize", "--model", (shared_dir() / "models/stories260K/hf").string(), "--text", "Once upon a time"});
  REQUIRE(r.status == 0);
  j = json::parse(r.out);
  CHECK(j["ids"] == json({403, 407, 261, 378}));
  CHECK(j["offsets"] == json({{0, 4}, {4, 9}, {9, 11}, {11, 16}}));

  const auto& g = golden(fixture("llama-gqa") / "golden.safetensors");
  const std::string ids_b = join_ids(to_ids(g.at("input_ids_b")));
  const std::string out = tmp("logits.safetensors");
  r = run_cli({"logits", "--model", gqa, "--ids", ids_b, "--attentions", "--out", out});
  REQUIRE(r.status == 0);
  auto t = load_tensors(out);
  CHECK(max_abs_diff(t.at("logits"), g.at("logits_b")) <= 1e-4);
  CHECK(max_abs_diff(t.at("attentions"), g.at("attentions_b")) <= 1e-5);
  std::remove(out.c_str());

  r = run_cli({"generate", "--model", gqa, "--ids", join_ids(to_ids(g.at("input_ids_a"))), "--max-new", "16",
               "--ignore-eos", "--temperature", "0", "--json"});
  REQUIRE(r.status == 0);
  j = json::parse(r.out);
  CHECK(j["generated_ids"].get<std::vector<int64_t>>() == to_ids(g.at("gen_ids_a")));
  CHECK(j["prompt_ids"].get<std::vector<int64_t>>() == to_ids(g.at("input_ids_a")));
  CHECK(j.contains("text"));

  // A text prompt on the real model: the baseline of the README's main job.
  r = run_cli({"generate", "--model", (shared_dir() / "models/stories260K/stories260K.bin").string(), "--prompt",
               "Once upon a time", "--max-new", "20", "--json"});
  REQUIRE(r.status == 0);
  j = json::parse(r.out);
  CHECK(j["prompt_ids"] == json({1, 403, 407, 261, 378}));
  CHECK(j["text"].get<std::string>().rfind(", there was a little girl named Lily", 0) == 0);

  // Sampling is reproducible with a seed and differs from greedy.
  std::vector<std::string> sample = {"generate", "--model", gqa, "--ids", "5,6,7", "--max-new", "12", "--ignore-eos",
                                     "--temperature", "1.0", "--top-k", "50", "--top-p", "0.9", "--seed", "7", "--json"};
  CliResult s1 = run_cli(sample), s2 = run_cli(sample);
  REQUIRE(s1.status == 0);
  CHECK(s1.out == s2.out);
  std::vector<std::string> greedy = sample, other_seed = sample;
  REQUIRE(greedy[8] == "--temperature");
  REQUIRE(other_seed[14] == "--seed");
  greedy[9] = "0";       // --temperature 0
  other_seed[15] = "8";  // --seed 8
  CliResult g0 = run_cli(greedy), s3 = run_cli(other_seed);
  REQUIRE(g0.status == 0);
  REQUIRE(s3.status == 0);
  CHECK(json::parse(s1.out)["generated_ids"] != json::parse(g0.out)["generated_ids"]);
  CHECK(json::parse(s1.out)["generated_ids"] != json::parse(s3.out)["generated_ids"]);
}

TEST_CASE("cli: steering, capture and influence") {
  const std::string gqa = fixture("llama-gqa").string();
  const auto& pg = golden(fixture("pasta/llama-gqa") / "golden.safetensors");
  const std::string ids = join_ids(to_ids(pg.at("input_ids")));
  const std::string pasta = write_spec(
      "pasta.json", R"({"method": "pasta", "heads": {"1": [0, 2], "2": [1]}, "alpha": 0.01, "scale_position": "exclude", "spans": [[5, 12]], "apply_at": "all"})");
  const std::string out = tmp("steered.safetensors");
  CliResult r = run_cli({"logits", "--model", gqa, "--ids", ids, "--steering", pasta, "--out", out});
  REQUIRE(r.status == 0);
  CHECK(max_abs_diff(load_tensors(out).at("logits"), pg.at("h1.exclude.a0.01.r5_12.logits")) <= 1e-4);

  const auto& gg = golden(fixture("guide/llama-gqa") / "golden.safetensors");
  const std::string guide = write_spec("guide.json", R"({"method": "guide", "delta": 1.0, "layers": "all", "spans": [[5, 12]], "apply_at": "all"})");
  r = run_cli({"generate", "--model", gqa, "--ids", ids, "--steering", guide, "--max-new", "16", "--ignore-eos", "--json"});
  REQUIRE(r.status == 0);
  json j = json::parse(r.out);
  CHECK(j["baseline_ids"].get<std::vector<int64_t>>() == to_ids(gg.at("baseline.gen_ids")));
  CHECK(j["steered_ids"].get<std::vector<int64_t>>() == to_ids(gg.at("prehook.delta1.0.gen_ids")));
  CHECK(j.contains("steered_text"));

  r = run_cli({"capture", "--model", gqa, "--ids", ids, "--steering", pasta, "--heads", "L1H0,L2H3", "--out", out});
  REQUIRE(r.status == 0);
  auto t = load_tensors(out);
  at::Tensor att = pg.at("h1.exclude.a0.01.r5_12.attentions");
  CHECK(max_abs_diff(t.at("probs.L1H0"), att[1][0]) <= 1e-5);
  CHECK(max_abs_diff(t.at("probs.L2H3"), att[2][3]) <= 1e-5);
  CHECK(t.at("head_stats").sizes() == at::IntArrayRef({4, 4, 7}));
  CHECK(t.at("head_token_stats").sizes() == at::IntArrayRef({4, 4, 2, static_cast<int64_t>(t.at("input_ids").numel())}));
  hl::SafetensorsFile sf(out);
  REQUIRE(sf.metadata().count("stats_names"));
  CHECK(json::parse(sf.metadata().at("stats_names")).size() == 7);
  CHECK(json::parse(sf.metadata().at("token_stats_names")).size() == 2);

  r = run_cli({"influence", "--model", gqa, "--ids", ids, "--span", "5:12", "--norms", "guide", "--out", out});
  REQUIRE(r.status == 0);
  t = load_tensors(out);
  CHECK(max_abs_diff(t.at("influence"), gg.at("influence.delta0.0.influence")) <= 1e-5);
  CHECK(max_abs_diff(t.at("rollout"), gg.at("attentionrollout.delta0.0.influence")) <= 1e-5);
  j = json::parse(r.out);
  CHECK(j["influence_lastk"].get<double>() >= 0);
  std::remove(out.c_str());
}

TEST_CASE("cli: scan-heads ranks every head steered alone") {
  const std::string gqa = fixture("llama-gqa").string();
  const auto& pg = golden(fixture("pasta/llama-gqa") / "golden.safetensors");
  const std::vector<int64_t> prompt = to_ids(pg.at("input_ids"));
  const std::string ids = join_ids(prompt);
  const std::string all = write_spec(
      "all.json", R"({"method": "pasta", "heads": "all", "alpha": 0.01, "scale_position": "exclude", "spans": [[5, 12]]})");
  const int64_t target = 326, versus = 696;  // the baseline's and the golden steered run's first tokens
  CliResult r = run_cli({"scan-heads", "--model", gqa, "--ids", ids, "--steering", all, "--target-id",
                         std::to_string(target), "--versus-id", std::to_string(versus), "--rows", "3", "--json"});
  REQUIRE(r.status == 0);
  json j = json::parse(r.out);
  CHECK(j["metric"] == "logp_target_minus_versus");
  REQUIRE(j["heads"].size() == 16);
  CHECK(j["forwards"] == 8);  // 4 layers x (3 + 1 rows)
  std::set<std::pair<int64_t, int64_t>> seen;
  for (size_t k = 0; k < j["heads"].size(); ++k) {
    const json& h = j["heads"][k];
    seen.insert({h["layer"].get<int64_t>(), h["head"].get<int64_t>()});
    if (k > 0) CHECK(h["score"].get<double>() <= j["heads"][k - 1]["score"].get<double>());
    CHECK(h["delta"].get<double>() == doctest::Approx(h["score"].get<double>() - j["baseline_score"].get<double>()));
  }
  CHECK(seen.size() == 16);
  // The top and the bottom head against `logits` with a spec that steers that head only.
  for (size_t k : {size_t(0), size_t(15)}) {
    const json& h = j["heads"][k];
    const std::string one = write_spec(
        "one.json", "{\"method\": \"pasta\", \"heads\": {\"" + std::to_string(h["layer"].get<int64_t>()) + "\": [" +
                        std::to_string(h["head"].get<int64_t>()) + "]}, \"alpha\": 0.01, \"spans\": [[5, 12]]}");
    const std::string out = tmp("one.safetensors");
    REQUIRE(run_cli({"logits", "--model", gqa, "--ids", ids, "--steering", one, "--out", out}).status == 0);
    at::Tensor lp = at::log_softmax(load_tensors(out).at("logits")[-1], -1);
    CHECK(h["score"].get<double>() == doctest::Approx(lp[target].item<double>() - lp[versus].item<double>()).epsilon(1e-5));
    std::remove(out.c_str());
  }
  // Without a target: KL from the baseline, largest first; the text table names heads L{l}H{h}.
  r = run_cli({"scan-heads", "--model", gqa, "--ids", ids, "--steering", all, "--top", "3"});
  REQUIRE(r.status == 0);
  CHECK(r.out.find("16 heads scanned") != std::string::npos);
  CHECK(r.out.find("kl_from_baseline") != std::string::npos);
  CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 2 + 3);

  auto error_of = [&](std::vector<std::string> args) {
    CliResult e = run_cli(args);
    CHECK(e.status != 0);
    return e.err;
  };
  CHECK(error_of({"scan-heads", "--model", gqa, "--ids", ids}).find("--steering") != std::string::npos);
  CHECK(error_of({"scan-heads", "--model", gqa, "--ids", ids, "--steering", all, "--versus-id", "3"})
            .find("--versus needs --target") != std::string::npos);
  CHECK(error_of({"scan-heads", "--model", gqa, "--ids", ids, "--steering", all, "--target-id", "5000"})
            .find("outside the vocabulary") != std::string::npos);
}

TEST_CASE("cli: bad input gives a one-line error and a non-zero exit") {
  const std::string gqa = fixture("llama-gqa").string();
  const auto expect_error = expect_cli_error;
  expect_error({"info", "--model", "/nonexistent/model"}, "no such file or directory");
  expect_error({"frobnicate"}, "unknown command");
  expect_error({"generate", "--model", gqa, "--ids", "1,2,99999", "--json"}, "outside the vocabulary");
  expect_error({"generate", "--model", gqa, "--ids", "1,2", "--max-new", "abc"}, "--max-new");
  expect_error({"generate", "--model", gqa, "--ids", "1,2", "--max-new", "400"}, "exceeds the model's context");
  expect_error({"logits", "--model", gqa, "--ids", "1,2", "--out", "/tmp/x.safetensors", "--bogus", "1"}, "unknown option --bogus");
  const std::string ids = "5,6,7,8,9,10,11,12,13,14";
  auto spec_error = [&](const std::string& name, const std::string& text, const std::string& needle) {
    expect_error({"logits", "--model", gqa, "--ids", ids, "--steering", write_spec(name, text), "--out", tmp("o.safetensors")},
                 needle);
  };
  spec_error("m.json", R"({"method": "pastaa", "spans": [[1, 2]]})", "method");
  spec_error("h.json", R"({"method": "pasta", "heads": {"1": [7]}, "alpha": 0.01, "spans": [[1, 2]]})", "7");
  spec_error("a.json", R"({"method": "pasta", "heads": {"1": [0]}, "alpha": 0, "spans": [[1, 2]]})", "alpha");
  spec_error("s.json", R"({"method": "guide", "delta": 1, "spans": [[5, 40]]})", "span");
  spec_error("j.json", R"({"method": "guide", "delta": 1, )", "JSON");
  expect_error({"capture", "--model", gqa, "--ids", ids, "--heads", "L9H0", "--out", tmp("c.safetensors")}, "L9H0");
  expect_error({"influence", "--model", gqa, "--ids", ids, "--span", "8:30", "--out", tmp("i.safetensors")}, "--span");
  expect_error({"tasks", "--file", write_spec("t.jsonl", "{\"case_id\": 1, \"correct\": \"a\"}\n")}, "t.jsonl:1");
}

TEST_CASE("cli: tasks validates and summarises a profiling dataset") {
  const std::string qa = (shared_dir() / "data" / "profiling" / "pair_qa_synthetic.jsonl").string();
  CliResult r = run_cli({"tasks", "--file", qa, "--show", "2"});
  REQUIRE(r.status == 0);
  nlohmann::json j = nlohmann::json::parse(r.out);
  CHECK(j["kind"] == "pair-qa");
  CHECK(j["records"] == 100);
  REQUIRE(j["items"].size() == 2);
  CHECK(j["items"][1]["id"] == 2);
  CHECK(j["items"][1]["answer_2"] == "misty pools");
}

TEST_CASE("cli: --db records runs; runs list/show/export/delete") {
  const std::string db = tmp("runs.db");
  std::remove(db.c_str());
  const std::string stories = (shared_dir() / "models/stories260K/stories260K.bin").string();
  const std::string guide = write_spec("g2.json", R"({"method": "guide", "delta": 2.0, "layers": "all", "emphasis": ["red ball"]})");
  CliResult r = run_cli({"generate", "--model", stories, "--prompt", "Lily loved her red ball. One day", "--steering", guide,
                         "--max-new", "8", "--json", "--db", db});
  REQUIRE(r.status == 0);
  json gen = json::parse(r.out);
  r = run_cli({"capture", "--model", fixture("llama-gqa").string(), "--ids", "5,6,7,8,9,10", "--heads", "L0H1,L3H3",
               "--out", tmp("cap.safetensors"), "--db", db});
  REQUIRE(r.status == 0);
  r = run_cli({"--db", db, "runs", "list"});
  REQUIRE(r.status == 0);
  json list = json::parse(r.out);
  REQUIRE(list.size() == 2);
  CHECK(list[0]["kind"] == "capture");
  CHECK(list[1]["kind"] == "generate");
  CHECK(list[1]["status"] == "done");
  const int64_t gen_id = list[1]["id"], cap_id = list[0]["id"];

  r = run_cli({"--db", db, "runs", "show", std::to_string(gen_id)});
  REQUIRE(r.status == 0);
  json show = json::parse(r.out);
  REQUIRE(show["generations"].size() == 2);
  std::vector<int64_t> steered_ids;
  for (const auto& g : show["generations"]) {
    if (g["variant"] == "steered") steered_ids = g["token_ids"].get<std::vector<int64_t>>();
    CHECK(g["step_probs"].size() == g["token_ids"].size());
  }
  CHECK(steered_ids == gen["steered_ids"].get<std::vector<int64_t>>());

  const std::string png = tmp("map.png");
  r = run_cli({"--db", db, "runs", "export", std::to_string(cap_id), "--format", "png", "--out", png});
  REQUIRE(r.status == 0);
  std::ifstream f(png, std::ios::binary);
  std::string magic(8, '\0');
  f.read(magic.data(), 8);
  CHECK(magic == "\x89PNG\r\n\x1a\n");

  r = run_cli({"--db", db, "runs", "delete", std::to_string(cap_id)});
  REQUIRE(r.status == 0);
  r = run_cli({"--db", db, "runs", "list"});
  CHECK(json::parse(r.out).size() == 1);
  r = run_cli({"--db", "/nonexistent-dir/x/y.db", "runs", "show", "1"});
  CHECK(r.status != 0);
  std::remove(db.c_str());
  std::remove(png.c_str());
}
