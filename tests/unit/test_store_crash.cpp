// Crash safety: a writer process recording profiling units / NIAH cells is SIGKILLed mid-way. After
// reopening, the file is intact, every unit the writer reported as committed is there (with all of its
// scores), and a resumed writer skips what is recorded and completes the job.
#include <doctest/doctest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <random>
#include <set>
#include <thread>

#include "core/error.h"
#include "test_store_fixture.h"

using namespace hl::store;
using store_test::ScratchDir;

namespace {

const char* const kTasks[] = {"json", "pron", "bios", "cf"};
constexpr int kLayers = 30, kHeads = 9;
constexpr int kUnits = 4 * kLayers * kHeads;

ProfilingUnit unit_at(int i) {
  ProfilingUnit u;
  u.task = kTasks[i / (kLayers * kHeads)];
  u.layer = (i / kHeads) % kLayers;
  u.head = i % kHeads;
  u.n_examples = 100;
  u.elapsed_s = 0.001 * i;
  u.scores = {{"acc", i / 1000.0}, {"em", 1.0 - i / 2000.0}};
  return u;
}

NiahCell cell_at(int i) {
  // 2 strengths x 10 lengths x 11 depths
  NiahCell c;
  c.strength = (i / 110) * 0.5;
  c.context_length = 500 * (1 + (i / 11) % 10);
  c.depth_percent = 10.0 * (i % 11);
  c.n_samples = 5;
  c.mean_score = (i % 7) / 6.0;
  c.mean_influence = i * 1e-3;
  return c;
}
constexpr int kCells = 220;

// Forks a writer that runs `record(store, i)` for i = 0.. and reports each committed index on a pipe,
// then kills it with SIGKILL once `kill_after` indices were reported. Returns the reported indices.
std::set<int> run_and_kill(const std::string& path, int total, int kill_after,
                           const std::function<bool(Store&, int)>& record) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    try {
      Store s = Store::open(path);
      for (int i = 0; i < total; ++i) {
        if (record(s, i)) {
          if (::write(fds[1], &i, sizeof i) != sizeof i) ::_exit(4);
        }
        ::usleep(300);  // the "work" of one unit
      }
    } catch (...) {
      ::_exit(3);
    }
    for (;;) ::pause();  // never finishes on its own: the parent kills it
  }
  ::close(fds[1]);
  std::set<int> reported;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (static_cast<int>(reported.size()) < kill_after && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fds[0], POLLIN, 0};
    if (::poll(&p, 1, 1000) <= 0) continue;
    int i;
    if (::read(fds[0], &i, sizeof i) != sizeof i) break;
    reported.insert(i);
  }
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);
  // Indices written between our last read and the kill were committed too.
  int i;
  while (::read(fds[0], &i, sizeof i) == sizeof i) reported.insert(i);
  ::close(fds[0]);
  return reported;
}

}  // namespace

TEST_CASE("store crash: a killed profiling writer keeps every committed unit and the job resumes") {
  ScratchDir dir("crash_prof");
  const std::string path = dir.file("h.db");
  int64_t job;
  {
    Store s = Store::open(path);
    RunRecord r;
    r.model_id = store_test::add_model(s);
    r.kind = "profile";
    job = s.create_profiling_job(s.start_run(r), R"({"tasks": ["json", "pron", "bios", "cf"]})", kUnits);
  }
  const std::set<int> reported =
      run_and_kill(path, kUnits, 150, [job](Store& s, int i) { return s.record_unit(job, unit_at(i)); });
  REQUIRE(reported.size() >= 150);

  Store s = Store::open(path);
  CHECK(s.integrity_check() == "ok");
  const int64_t recorded = s.count_units(job);
  MESSAGE("killed after " << reported.size() << " reported units; " << recorded << " of " << kUnits << " recorded");
  CHECK(recorded >= static_cast<int64_t>(reported.size()));
  CHECK(recorded < kUnits);  // killed mid-way
  for (int i : reported) {
    const ProfilingUnit u = unit_at(i);
    CHECK(s.is_unit_recorded(job, u.task, u.layer, u.head));
  }
  // No torn unit: every recorded unit has both of its scores.
  CHECK(static_cast<int64_t>(s.get_head_scores(job).size()) == 2 * recorded);

  // Resume: skip recorded units, record the rest, finish.
  int64_t skipped = 0, done = 0;
  for (int i = 0; i < kUnits; ++i) {
    const ProfilingUnit u = unit_at(i);
    if (s.is_unit_recorded(job, u.task, u.layer, u.head)) {
      ++skipped;
      continue;
    }
    CHECK(s.record_unit(job, u));
    ++done;
  }
  s.finish_profiling_job(job, "done");
  CHECK(skipped == recorded);
  CHECK(skipped + done == kUnits);
  CHECK(s.count_units(job) == kUnits);
  CHECK(s.get_profiling_job(job)->status == "done");
  const auto scores = s.get_head_scores(job);
  REQUIRE(scores.size() == 2 * static_cast<size_t>(kUnits));
  for (const auto& h : scores) {
    int t = 0;
    while (h.task != kTasks[t]) ++t;
    const int i = t * kLayers * kHeads + h.layer * kHeads + h.head;
    CHECK(h.value == (h.metric == "acc" ? i / 1000.0 : 1.0 - i / 2000.0));
  }
  CHECK(s.integrity_check() == "ok");
}

TEST_CASE("store crash: a killed NIAH sweep keeps every committed cell and resumes") {
  ScratchDir dir("crash_niah");
  const std::string path = dir.file("h.db");
  int64_t sweep;
  {
    Store s = Store::open(path);
    RunRecord r;
    r.model_id = store_test::add_model(s);
    r.kind = "niah";
    sweep = s.create_niah_sweep(s.start_run(r), "guide", R"({"deltas": [0, 0.5]})");
  }
  const std::set<int> reported =
      run_and_kill(path, kCells, 60, [sweep](Store& s, int i) { return s.record_niah_cell(sweep, cell_at(i)); });
  REQUIRE(reported.size() >= 60);

  Store s = Store::open(path);
  CHECK(s.integrity_check() == "ok");
  const auto before = s.get_niah_cells(sweep);
  CHECK(before.size() >= reported.size());
  CHECK(before.size() < static_cast<size_t>(kCells));
  for (int i : reported) {
    const NiahCell c = cell_at(i);
    CHECK(s.is_cell_recorded(sweep, c.strength, c.context_length, c.depth_percent));
  }
  size_t skipped = 0;
  for (int i = 0; i < kCells; ++i) {
    const NiahCell c = cell_at(i);
    if (s.is_cell_recorded(sweep, c.strength, c.context_length, c.depth_percent)) {
      ++skipped;
      continue;
    }
    CHECK(s.record_niah_cell(sweep, c));
  }
  CHECK(skipped == before.size());
  const auto cells = s.get_niah_cells(sweep);
  REQUIRE(cells.size() == static_cast<size_t>(kCells));
  for (const auto& c : cells) {
    const int i = static_cast<int>(c.strength / 0.5) * 110 + (static_cast<int>(c.context_length / 500) - 1) * 11 +
                  static_cast<int>(c.depth_percent / 10.0 + 0.5);
    CHECK(c.mean_score == (i % 7) / 6.0);
    CHECK(*c.mean_influence == i * 1e-3);
  }
}

TEST_CASE("store crash: SIGKILL at random points of back-to-back transactions, many times, never tears one") {
  // No sleep between transactions: the writer is inside a transaction (or its commit) most of the time, so the
  // kills land inside one. Each transaction is a whole run with generations and 200 head statistics, or a
  // profiling unit with its scores; after every kill the file is intact and no run or unit is half there.
  ScratchDir dir("crash_random");
  const std::string path = dir.file("h.db");
  int64_t job, model;
  {
    Store s = Store::open(path);
    model = store_test::add_model(s);
    RunRecord r;
    r.model_id = model;
    r.kind = "profile";
    job = s.create_profiling_job(s.start_run(r), R"({"tasks": ["t"]})", 1 << 20);
  }
  std::mt19937 rng(12345);
  int killed_mid_way = 0;
  for (int round = 0; round < 30; ++round) {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      try {
        Store s = Store::open(path);
        for (int i = 0;; ++i) {
          RunRecord r;
          r.model_id = model;
          r.kind = "generate";
          r.status = "done";
          GenerationRecord g;
          g.variant = "baseline";
          g.token_ids = std::vector<int32_t>(64, i);
          g.text = std::string(256, 'x');
          g.step_probs = std::vector<float>(64, 0.5f);
          std::vector<HeadStat> hs;
          for (int l = 0; l < 20; ++l)
            for (int h = 0; h < 10; ++h) hs.push_back({l, h, "entropy", 0.01 * i});
          s.record_run(r, {g}, hs);
          ProfilingUnit u;
          u.task = "t";
          u.layer = round;
          u.head = i;
          u.n_examples = 1;
          u.scores = {{"a", 1.0}, {"b", 2.0}, {"c", 3.0}};
          s.record_unit(job, u);
        }
      } catch (...) {
        ::_exit(3);
      }
    }
    std::this_thread::sleep_for(std::chrono::microseconds(2000 + rng() % 30000));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) ++killed_mid_way;

    Store s = Store::open(path);
    REQUIRE(s.integrity_check() == "ok");
    for (const auto& r : s.list_runs()) {
      if (r.run.kind != "generate") continue;
      CHECK(r.n_generations == 1);
      CHECK(s.get_head_stats(r.run.id).size() == 200);
    }
    CHECK(static_cast<int64_t>(s.get_head_scores(job).size()) == 3 * s.count_units(job));
  }
  CHECK(killed_mid_way == 30);  // every writer was still writing when killed
}
