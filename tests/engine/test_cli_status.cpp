// Run status as a user sees it in the store: an error marks the run failed with its message, SIGTERM marks it
// cancelled, SIGKILL leaves it to be marked interrupted at the next open; a failed command leaves no file behind.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "engine/cli_runner.h"
#include "engine/doctest_torch.h"
#include "scratch_dir.h"
#include "storage/store.h"

using namespace hl::test;
using hl::store::Store;

namespace {

const std::string kStories = (shared_dir() / "models/stories260K/stories260K.bin").string();

// Waits until the store holds a NIAH cell (the sweep is under way), up to a minute.
bool wait_for_cells(const std::string& db) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    if (std::filesystem::exists(db)) {
      try {
        Store s = Store::open(db, Store::Access::ReadOnly);
        for (const auto& r : s.list_runs())
          for (const auto& sw : s.list_niah_sweeps(r.run.id))
            if (!s.get_niah_cells(sw.id).empty()) return true;
      } catch (const std::exception&) {
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

std::vector<std::string> long_sweep(const std::string& out, const std::string& db) {
  return {"niah", "--model", kStories, "--lengths", "300,350,400,450", "--depths", "0,10,20,30,40,50,60,70,80,90,100",
          "--deltas", "0,0.5,1,2", "--max-new", "24", "--out", out, "--db", db};
}

}  // namespace

TEST_CASE("cli: a failed command marks its run failed with the error; --max-new 0 is refused everywhere") {
  hl_test::ScratchDir tmp("status_cli");
  const std::string db = tmp.file("runs.db");
  // The prompt fits, the generation does not: the run was started, then the engine refused.
  CliResult r = run_cli({"generate", "--model", kStories, "--prompt", "Once upon a time", "--max-new", "100000",
                         "--db", db, "--json"});
  CHECK(r.status == 1);
  {
    Store s = Store::open(db, Store::Access::ReadOnly);
    auto runs = s.list_runs();
    REQUIRE(runs.size() == 1);
    CHECK(runs[0].run.status == "failed");
    CHECK(runs[0].run.error.find("context") != std::string::npos);
    CHECK_FALSE(runs[0].run.finished_at.empty());
  }
  for (const auto& cmd : {std::vector<std::string>{"generate", "--model", kStories, "--prompt", "a", "--max-new", "0"},
                          std::vector<std::string>{"niah", "--model", kStories, "--lengths", "300", "--depths", "50",
                                                   "--max-new", "0", "--out", tmp.file("n.csv")}}) {
    r = run_cli(cmd);
    CHECK(r.status != 0);
    CHECK(r.err.find("--max-new") != std::string::npos);
  }
  CHECK_FALSE(std::filesystem::exists(tmp.file("n.csv")));  // refused before anything was written

  // An output in a folder that does not exist: an error naming it, no temporary file anywhere.
  r = run_cli({"capture", "--model", kStories, "--prompt", "Once upon a time", "--out", tmp.file("nope/c.safetensors")});
  CHECK(r.status != 0);
  CHECK(r.err.find("nope") != std::string::npos);
  // A NIAH cell that cannot run (a length too short for the needle): no CSV, no fingerprint left behind.
  r = run_cli({"niah", "--model", kStories, "--lengths", "8", "--depths", "50", "--out", tmp.file("short.csv")});
  CHECK(r.status != 0);
  CHECK_FALSE(std::filesystem::exists(tmp.file("short.csv")));
  CHECK_FALSE(std::filesystem::exists(tmp.file("short.csv.fingerprint.json")));
  for (const auto& e : std::filesystem::directory_iterator(tmp.dir))
    CHECK(e.path().filename().string().find(".tmp") == std::string::npos);

  // Commands that record print the run id.
  r = run_cli({"influence", "--model", kStories, "--prompt", "Once upon a time there was a girl", "--span", "2:4",
               "--out", tmp.file("i.safetensors"), "--db", db});
  REQUIRE(r.status == 0);
  auto j = nlohmann::json::parse(r.out);
  REQUIRE(j.contains("run_id"));
  Store s = Store::open(db, Store::Access::ReadOnly);
  CHECK(s.get_run(j["run_id"].get<int64_t>())->note == "norms: residual");
  CHECK(s.get_run(j["run_id"].get<int64_t>())->status == "done");
}

TEST_CASE("cli: SIGTERM cancels a sweep (run cancelled); SIGKILL leaves it interrupted at the next open") {
  hl_test::ScratchDir tmp("signals");
  const std::string db = tmp.file("runs.db");
  pid_t pid = spawn_cli(long_sweep(tmp.file("a.csv"), db));
  REQUIRE(wait_for_cells(db));
  kill(pid, SIGTERM);
  int st = 0;
  waitpid(pid, &st, 0);
  CHECK(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 130);
  {
    Store s = Store::open(db, Store::Access::ReadOnly);
    auto runs = s.list_runs();
    REQUIRE(runs.size() == 1);
    CHECK(runs[0].run.status == "cancelled");
  }

  const std::string db2 = tmp.file("killed.db");
  pid = spawn_cli(long_sweep(tmp.file("b.csv"), db2));
  REQUIRE(wait_for_cells(db2));
  kill(pid, SIGKILL);
  waitpid(pid, &st, 0);
  Store s = Store::open(db2);  // a writable open settles what the dead process left running
  auto runs = s.list_runs();
  REQUIRE(runs.size() == 1);
  CHECK(runs[0].run.status == "interrupted");
  CHECK(runs[0].run.error.find(std::to_string(pid)) != std::string::npos);
}

TEST_CASE("cli: prompt markers are parsed only when a steering spec asks for them") {
  hl_test::ScratchDir tmp("markers");
  // No spec: the text is literal ("**" is two asterisks, "**bold**" keeps its asterisks).
  CliResult r = run_cli({"generate", "--model", kStories, "--prompt", "a ** b and **bold**", "--max-new", "2", "--json"});
  REQUIRE(r.status == 0);
  auto j = nlohmann::json::parse(r.out);
  CliResult t = run_cli({"tokenize", "--model", kStories, "--text", "a ** b and **bold**", "--bos"});
  REQUIRE(t.status == 0);
  CHECK(j["prompt_ids"] == nlohmann::json::parse(t.out)["ids"]);
  // With a spec (markers on by default), **bold** is the emphasised span and the asterisks are stripped.
  const auto spec = tmp.write("g.json", R"({"method": "guide", "delta": 1.0})");
  r = run_cli({"generate", "--model", kStories, "--prompt", "a b and **bold**", "--steering", spec.string(), "--max-new",
               "2", "--json"});
  REQUIRE(r.status == 0);
  j = nlohmann::json::parse(r.out);
  CHECK(j["spans"].size() == 1);
  CHECK(j["prompt_ids"] != nlohmann::json::parse(t.out)["ids"]);
}

TEST_CASE("cli: scan-heads records into the store and names its target token; tokenize shows token strings") {
  hl_test::ScratchDir tmp("scan_rec");
  const std::string db = tmp.file("runs.db");
  const auto spec = tmp.write("p.json", R"({"method": "pasta", "heads": "all", "emphasis": ["a little girl"]})");
  CliResult r = run_cli({"scan-heads", "--model", kStories, "--prompt", "Once upon a time there was a little girl",
                         "--steering", spec.string(), "--target", " named", "--json", "--db", db});
  REQUIRE(r.status == 0);
  auto j = nlohmann::json::parse(r.out);
  CliResult t = run_cli({"tokenize", "--model", kStories, "--text", " named"});
  REQUIRE(t.status == 0);
  CHECK(j["target_token"] == nlohmann::json::parse(t.out)["tokens"][0]);  // the first token the target scores
  Store s = Store::open(db, Store::Access::ReadOnly);
  const auto run = s.get_run(j["run_id"].get<int64_t>());
  REQUIRE(run);
  CHECK(run->kind == "scan-heads");
  CHECK(run->status == "done");
  const auto job = s.profiling_job_for_run(run->id);
  REQUIRE(job);
  CHECK(s.get_head_scores(job->id).size() == 40);  // one score per head
  CHECK(run->note.find("target") != std::string::npos);
  r = run_cli({"tokenize", "--model", kStories, "--text", "a red ball"});
  REQUIRE(r.status == 0);
  j = nlohmann::json::parse(r.out);
  REQUIRE(j["tokens"].size() == j["ids"].size());
  std::string joined;
  for (const auto& t : j["tokens"]) joined += t.get<std::string>();
  CHECK(joined.find("ball") != std::string::npos);
}

TEST_CASE("load: weights the config does not use are an error, as a missing tensor is") {
  hl_test::ScratchDir tmp("extra_weights");
  const auto src = fixture("llama-gqa");
  std::filesystem::copy_file(src / "model.safetensors", tmp.dir / "model.safetensors");
  std::ifstream in(src / "config.json");
  auto cfg = nlohmann::json::parse(in);
  REQUIRE(cfg["num_hidden_layers"] == 4);
  cfg["num_hidden_layers"] = 3;  // the weights hold 4 layers
  tmp.write("config.json", cfg.dump());
  CliResult r = run_cli({"info", "--model", tmp.dir.string()});
  CHECK(r.status != 0);
  CHECK(r.err.find("the config does not use") != std::string::npos);
  CHECK(r.err.find("layers.3.") != std::string::npos);
}
