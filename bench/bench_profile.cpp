// Profiling throughput (methods.md §3): the profiler as `headlight-cli profile` runs it (prepared examples, units of
// task x head block x example block, every unit written to an SQLite store with its per-example scores, scores
// from scan_heads) against the naive loop: one head at a time, a full steered generation of 16 tokens per example
// (SEKA's max_new_tokens; PASTA's official code would generate likewise), scored from its first step. Same
// examples, same scorer (log P(a) - log P(b) of the first answer token), one run. The examples have the shape of
// SEKA's profiling prompts: 48 tokens, the relevant passage at 20-31 emphasised (random ids: the synthetic model
// has no tokenizer, and speed does not depend on the text).
#include "bench/bench_profile.h"

#include <ATen/ATen.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>

#include "analysis/run/profile_run.h"
#include "bench/bench_util.h"
#include "core/engine/generate.h"
#include "core/engine/head_scan.h"
#include "storage/store.h"
#include "workbench/profile_store_journal.h"

namespace hl::bench {
namespace {

// The CLI's journal (each unit and its per-example scores one store transaction), keeping the scores it records.
class BenchJournal : public wb::StoreProfileJournal {
 public:
  BenchJournal(store::Store& s, int64_t job) : StoreProfileJournal(s, job, {}) {}
  void record(const ProfileUnit& u, const UnitScores& sc, double elapsed_s) override {
    StoreProfileJournal::record(u, sc, elapsed_s);
    results.push_back(sc);
  }
  std::vector<UnitScores> results;
};

}  // namespace

void profile_section(const Model& m, bool quick) {
  const ModelConfig& c = m.config();
  const int64_t T = 48, s0 = 20, s1 = 32, new_tokens = 16;
  const int n_ex = quick ? 2 : 4, sample = quick ? 6 : 10;
  PreparedTask task;
  task.name = "bench";
  task.scorer = SuiteScorer::LogProb;
  for (int e = 0; e < n_ex; ++e) {
    PreparedExample ex;
    std::mt19937_64 r(200 + static_cast<uint64_t>(e));
    for (int64_t i = 0; i < T; ++i) ex.ids.push_back(static_cast<int64_t>(r() % static_cast<uint64_t>(c.vocab - 3)) + 3);
    ex.spans = {{s0, s1, 1.0}};
    ex.watch = {3 + e, 4 + e};
    ex.has_versus = true;
    task.examples.push_back(std::move(ex));
  }
  ProfilePlan plan;
  plan.example_block = 1;

  // Example by example, the profiler then the naive loop on the same example, so that the drifts of this shared VM
  // fall on both sides alike. Each example is its own task (one unit), all recorded in one store job.
  const auto db = std::filesystem::temp_directory_path() / ("headlight-bench-profile-" + std::to_string(getpid()) + ".db");
  std::filesystem::remove(db);
  const int64_t n_heads = c.n_layers * c.n_heads;
  double t_fast = 0, t_naive = 0, t_scan = 0, max_diff = 0, max_scan_diff = 0;
  int64_t fast_units = 0, naive_units = 0;
  {
    store::Store st = store::Store::open(db.string());
    store::ModelRecord mr;
    mr.path = "bench";
    mr.config_hash = "bench";
    mr.architecture = c.model_type;
    store::RunRecord run;
    run.model_id = st.record_model(mr);
    run.kind = "profile";
    const int64_t job = st.create_profiling_job(st.start_run(run), R"({"bench": true})", n_ex);
    BenchJournal journal(st, job);
    for (int e = 0; e < n_ex; ++e) {
      PreparedTask one;
      one.name = "bench " + std::to_string(e);
      one.scorer = task.scorer;
      one.examples = {task.examples[static_cast<size_t>(e)]};
      journal.set_task_names({one.name});
      // The profiler, and the bare inner loop on the same example back to back (what the suite machinery — units,
      // bias compilation, scoring, the store — costs on top of scan_heads), in alternating order so that neither
      // always runs on the warmer or quieter side.
      SteeringSpec all;
      all.method = SteeringMethod::Pasta;
      all.heads = HeadSet::all();
      const AttentionBias cand = compile(all, c.n_layers, c.n_heads, T, one.examples[0].spans);
      HeadScanOptions so;
      so.watch_tokens = one.examples[0].watch;
      HeadScanResult sr;
      auto run_scan = [&] {
        const auto s0 = Clock::now();
        sr = scan_heads(m, one.examples[0].ids, cand, so);
        t_scan += seconds_since(s0);
      };
      if (e % 2 == 1) run_scan();
      auto t0 = Clock::now();
      const ProfileRunStats rs = run_profile(m, {one}, plan, journal);
      t_fast += seconds_since(t0);
      fast_units += rs.head_examples;
      if (e % 2 == 0) run_scan();
      const UnitScores& fast = journal.results.back();
      for (size_t i = 0; i < fast.heads.size(); ++i)
        max_scan_diff = std::max(max_scan_diff, std::abs(sr.steered[static_cast<int64_t>(i)][0].item<double>() -
                                                         sr.steered[static_cast<int64_t>(i)][1].item<double>() -
                                                         fast.steered[i][0]));

      // The naive loop on a sample of heads spread over the layers (every naive head-example costs the same: a
      // whole prefill and decode), checking that it scores what the profiler scored.
      const PreparedExample& ex = one.examples[0];
      for (int k = 0; k < sample; ++k) {
        const int64_t i = (k * n_heads) / sample + e % 3;
        SteeringSpec spec;
        spec.method = SteeringMethod::Pasta;
        spec.heads.add(i / c.n_heads, i % c.n_heads);
        AttentionBias bias = compile(spec, c.n_layers, c.n_heads, T, ex.spans);
        GenerateOptions go;
        go.max_new_tokens = new_tokens;
        go.stop_at_eos = false;
        go.bias = &bias;
        go.keep_step_logits = true;
        const auto t1 = Clock::now();
        GenerateResult g = generate(m, ex.ids, go);
        const at::Tensor lp = at::log_softmax(g.step_logits[0][0].to(at::kFloat), -1);
        const double naive = lp[ex.watch[0]].item<double>() - lp[ex.watch[1]].item<double>();
        t_naive += seconds_since(t1);
        ++naive_units;
        max_diff = std::max(max_diff, std::abs(naive - fast.steered[static_cast<size_t>(i)][0]));
      }
    }
  }
  std::filesystem::remove(db);
  std::filesystem::remove(db.string() + "-wal");
  std::filesystem::remove(db.string() + "-shm");
  const double naive_rate = static_cast<double>(naive_units) / t_naive,
               fast_rate = static_cast<double>(fast_units) / t_fast;
  std::printf("profile: every one of %lld heads on %d examples (T=%lld, emphasised %lld-%lld, PASTA alpha 0.01), one "
              "unit per example recorded in an SQLite store; naive on %d sampled heads per example\n",
              static_cast<long long>(n_heads), n_ex, static_cast<long long>(T), static_cast<long long>(s0),
              static_cast<long long>(s1 - 1), sample);
  std::printf("%-52s %14s %10s\n", "", "heads*ex/s", "vs naive");
  std::printf("%-52s %14.2f %10s\n", "naive: one head at a time, generate 16, no reuse", naive_rate, "1.00");
  std::printf("%-52s %14.2f %9.2fx   (%lld head-examples in %.1f s)\n", "profile: run_profile (units, store, scorer)",
              fast_rate, fast_rate / naive_rate, static_cast<long long>(fast_units), t_fast);
  std::printf("%-52s %14.2f %9.2fx   (the profile takes %.3f x its time)\n", "  bare scan_heads on the same examples",
              static_cast<double>(fast_units) / t_scan, static_cast<double>(fast_units) / t_scan / naive_rate,
              t_fast / t_scan);
  std::printf("largest score difference: profile vs naive %.2g, profile vs bare scan %.2g\n", max_diff, max_scan_diff);
}

}  // namespace hl::bench
