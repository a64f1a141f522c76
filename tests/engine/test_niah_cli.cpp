// NIAH end to end on stories260K (lengths within its 512-token context): a complete grid, and a sweep killed
// with SIGKILL resumes without redoing finished cells.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "analysis/niah.h"
#include "engine/cli_runner.h"
#include "engine/doctest_torch.h"

using namespace hl::test;

namespace {

std::vector<std::string> csv_lines(const std::string& path) {
  std::ifstream f(path);
  std::vector<std::string> lines;
  std::string l;
  while (std::getline(f, l)) lines.push_back(l);
  return lines;
}

// Cells recorded so far; a line that starts a record begins with "<length>,": answers may span lines.
std::set<std::string> cell_keys(const std::string& path) {
  std::set<std::string> keys;
  auto lines = csv_lines(path);
  for (size_t i = 1; i < lines.size(); ++i) {
    // length,depth,realised_depth,delta,...: the cell is (length, depth, delta).
    std::vector<std::string> f;
    std::string cur;
    for (char c : lines[i]) {
      if (c == ',' && f.size() < 4) {
        f.push_back(cur);
        cur.clear();
      } else {
        cur += c;
      }
    }
    if (f.size() == 4 && (f[0] == "256" || f[0] == "384" || f[0] == "480")) keys.insert(f[0] + "/" + f[1] + "/" + f[3]);
  }
  return keys;
}

}  // namespace

TEST_CASE("niah: stories260K grid runs end to end; a killed sweep resumes") {
  const std::string model = (shared_dir() / "models/stories260K/stories260K.bin").string();
  const std::string out = "/tmp/hl-niah-" + std::to_string(getpid()) + ".csv";
  std::remove(out.c_str());
  const std::vector<std::string> args = {"niah", "--model", model, "--lengths", "256,384,480", "--depths", "0,25,50,75,100",
                                         "--deltas", "0,1", "--max-new", "24", "--out", out};

  // Start, let a few cells land, kill -9.
  pid_t pid = spawn_cli(args);
  REQUIRE(pid > 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (cell_keys(out).size() < 3 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  kill(pid, SIGKILL);
  int st = 0;
  waitpid(pid, &st, 0);
  const size_t before = cell_keys(out).size();
  REQUIRE(before >= 3);
  const bool finished_anyway = before == 30;

  CliResult r = run_cli(args);
  REQUIRE(r.status == 0);
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["cells"] == 30);
  CHECK(j["skipped"].get<size_t>() == before);
  CHECK(j["ran"].get<size_t>() == 30 - before);
  if (finished_anyway) MESSAGE("the sweep finished before it could be killed");

  auto lines = csv_lines(out);
  CHECK(lines[0] == "length,depth,realised_depth,delta,score,influence_lastk,rollout_lastk,answer");
  CHECK(cell_keys(out).size() == 30);
  // Every row is complete and well-formed, read back through the journal parser.
  {
    hl::NiahJournal journal(out);
    CHECK(journal.results().size() == 30);
    CHECK_FALSE(journal.dropped_torn_record());
    for (const auto& res : journal.results()) {
      CHECK((res.score == 0.0 || res.score == 1.0));
      CHECK(res.influence_lastk >= 0.0);
      CHECK(res.influence_lastk <= 1.0);
      CHECK(res.rollout_lastk >= 0.0);
      CHECK(res.rollout_lastk <= 1.0);
      CHECK(res.realised_depth <= res.depth + 1e-9);
    }
  }

  // A rerun of a finished sweep does nothing.
  r = run_cli(args);
  REQUIRE(r.status == 0);
  j = nlohmann::json::parse(r.out);
  CHECK(j["ran"] == 0);
  CHECK(j["skipped"] == 30);
  std::remove(out.c_str());
  std::remove((out + ".fingerprint.json").c_str());
}

TEST_CASE("niah: PASTA sweeps over alphas for a head set; alpha 1 is the unsteered run") {
  const std::string model = (shared_dir() / "models/stories260K/stories260K.bin").string();
  const std::string out = "/tmp/hl-niah-pasta-" + std::to_string(getpid()) + ".csv";
  const std::string out_guide = "/tmp/hl-niah-guide-" + std::to_string(getpid()) + ".csv";
  std::remove(out.c_str());
  std::remove(out_guide.c_str());
  CliResult r = run_cli({"niah", "--model", model, "--lengths", "256", "--depths", "50", "--method", "pasta", "--heads",
                         "L1H0,L2H3,L4", "--alphas", "1,0.01", "--max-new", "12", "--out", out});
  REQUIRE(r.status == 0);
  r = run_cli({"niah", "--model", model, "--lengths", "256", "--depths", "50", "--deltas", "0", "--max-new", "12",
               "--out", out_guide});
  REQUIRE(r.status == 0);
  std::vector<hl::NiahResult> pasta_results, guide_results;
  {
    hl::NiahJournal pasta(out), guide(out_guide);  // read, then closed: an open journal locks its file
    pasta_results = pasta.results();
    guide_results = guide.results();
  }
  REQUIRE(pasta_results.size() == 2);
  REQUIRE(guide_results.size() == 1);
  const hl::NiahResult& unsteered = guide_results[0];
  for (const auto& res : pasta_results) {
    if (res.delta == 1.0) {
      // PASTA with alpha = 1 and GUIDE with delta = 0 are both the plain model.
      CHECK(res.answer == unsteered.answer);
      CHECK(res.influence_lastk == doctest::Approx(unsteered.influence_lastk));
    } else {
      CHECK(res.delta == 0.01);
      CHECK(res.influence_lastk != doctest::Approx(unsteered.influence_lastk));
    }
  }
  r = run_cli({"niah", "--model", model, "--lengths", "256", "--method", "pasta", "--heads", "L9H0", "--out", out});
  CHECK(r.status != 0);
  CHECK(r.err.find("--heads") != std::string::npos);
  CHECK(r.err.find("layer 9") != std::string::npos);

  // The PASTA journal holds another experiment than a GUIDE sweep or another head set: refused, naming what differs.
  r = run_cli({"niah", "--model", model, "--lengths", "256", "--depths", "50", "--deltas", "0,1", "--max-new", "12",
               "--out", out});
  CHECK(r.status != 0);
  CHECK(r.err.find("another experiment") != std::string::npos);
  CHECK(r.err.find("steering.method") != std::string::npos);
  r = run_cli({"niah", "--model", model, "--lengths", "256", "--depths", "50", "--method", "pasta", "--heads", "L1H0",
               "--alphas", "1,0.01", "--max-new", "12", "--out", out});
  CHECK(r.status != 0);
  CHECK(r.err.find("steering.heads") != std::string::npos);
  r = run_cli({"niah", "--model", model, "--lengths", "256", "--depths", "50", "--method", "pasta", "--heads",
               "L1H0,L2H3,L4", "--alphas", "1,0.01", "--max-new", "13", "--out", out});
  CHECK(r.status != 0);
  CHECK(r.err.find("max_new") != std::string::npos);
  CHECK(hl::NiahJournal(out).results().size() == 2);  // nothing was merged into it
  for (const auto& f : {out, out_guide}) {
    std::remove(f.c_str());
    std::remove((f + ".fingerprint.json").c_str());
  }
}

TEST_CASE("niah: two processes never share one journal") {
  const std::string model = (shared_dir() / "models/stories260K/stories260K.bin").string();
  const std::string out = "/tmp/hl-niah-lock-" + std::to_string(getpid()) + ".csv";
  std::remove(out.c_str());
  {
    hl::NiahJournal held(out);  // this process holds the lock, as a running sweep would
    CliResult r = run_cli({"niah", "--model", model, "--lengths", "256", "--depths", "50", "--max-new", "4",
                           "--out", out});
    CHECK(r.status != 0);
    CHECK(r.err.find("in use by another headlight process") != std::string::npos);
  }
  CliResult r = run_cli({"niah", "--model", model, "--lengths", "256", "--depths", "50", "--max-new", "4", "--out", out});
  CHECK(r.status == 0);
  std::remove(out.c_str());
  std::remove((out + ".fingerprint.json").c_str());
}

TEST_CASE("niah: --head-index kv steers each listed KV head's whole GQA group") {
  // stories260K: 8 query heads over 4 KV heads, so KV head 1 of layer 2 = query heads 2 and 3.
  const std::string model = (shared_dir() / "models/stories260K/stories260K.bin").string();
  const std::string kv = "/tmp/hl-niah-kv-" + std::to_string(getpid()) + ".csv";
  const std::string q = "/tmp/hl-niah-q-" + std::to_string(getpid()) + ".csv";
  std::remove(kv.c_str());
  std::remove(q.c_str());
  const std::vector<std::string> common = {"--model", model, "--lengths", "256", "--depths", "50", "--method", "pasta",
                                           "--alphas", "0.01", "--max-new", "8"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"niah"};
    args.insert(args.end(), common.begin(), common.end());
    args.insert(args.end(), extra.begin(), extra.end());
    return run_cli(args);
  };
  REQUIRE(with({"--heads", "L2H1", "--head-index", "kv", "--out", kv}).status == 0);
  REQUIRE(with({"--heads", "L2H2,L2H3", "--out", q}).status == 0);
  {
    hl::NiahJournal a(kv), b(q);  // closed before the next run: an open journal locks its file
    REQUIRE(a.results().size() == 1);
    REQUIRE(b.results().size() == 1);
    CHECK(a.results()[0].answer == b.results()[0].answer);
    CHECK(a.results()[0].influence_lastk == b.results()[0].influence_lastk);
  }
  CliResult r = with({"--heads", "L2H4", "--head-index", "kv", "--out", kv});  // only 4 KV heads
  CHECK(r.status != 0);
  CHECK(r.err.find("KV-head indices") != std::string::npos);
  r = with({"--heads", "L2H1", "--head-index", "group", "--out", kv});
  CHECK(r.err.find("--head-index") != std::string::npos);
  std::remove(kv.c_str());
  std::remove(q.c_str());
}
