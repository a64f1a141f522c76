// profile: PASTA multi-task head profiling (methods.md §3). Every candidate head steered alone on every example of
// every suite (analysis/run/profile_run.h), units recorded in the store as they finish, so a killed profile
// rerun with the same arguments computes only what is missing; then scores.json.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "analysis/profile_job.h"
#include "analysis/run/profile_run.h"
#include "app/cli/commands.h"
#include "app/cli/model_args.h"
#include "app/cli/profile_files.h"
#include "workbench/profile_store_journal.h"
#include "workbench/run_recorder.h"
#include "storage/store.h"

namespace hl::cli {
namespace {

namespace fs = std::filesystem;


ScalePosition parse_scale_position(const std::string& s) {
  if (s == "exclude") return ScalePosition::Exclude;
  if (s == "include") return ScalePosition::Include;
  if (s == "generation") return ScalePosition::Generation;
  throw Error("--scale-position " + s + ": expected exclude, include or generation");
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  size_t p = 0;
  while (p <= s.size()) {
    const size_t q = std::min(s.find(',', p), s.size());
    if (q > p) out.push_back(s.substr(p, q - p));
    p = q + 1;
  }
  return out;
}

// The stored job with this fingerprint, or a new one. A job written to the same --out under another fingerprint is
// an error naming what differs (a rerun with changed arguments would otherwise silently mix two results).
int64_t find_or_create_job(store::Store& st, const nlohmann::json& doc, const std::string& out_path, const Model& m,
                           int64_t total_units, bool& resumed) {
  for (const store::ProfilingJob& j : st.list_profiling_jobs()) {
    const nlohmann::json t = nlohmann::json::parse(j.tasks_json, nullptr, false);
    if (!t.is_object() || !t.contains("job") || !t["job"].is_object()) continue;  // a job of another kind
    if (t["job"].value("fingerprint", "") == doc["fingerprint"]) {
      resumed = true;
      if (j.status != "running") st.finish_profiling_job(j.id, "running");
      // Its run (interrupted, cancelled or done before) is this process's running run again.
      if (auto r = st.get_run(j.run_id); r && r->status != "running") st.finish_run(j.run_id, "running");
      return j.id;
    }
    if (t.value("out", "") == out_path) {
      std::string diff;
      for (const auto& d : profile_job_differences(doc, t["job"])) diff += (diff.empty() ? "" : ", ") + d;
      throw Error("--out " + out_path + " belongs to profiling job " + std::to_string(j.id) + " (" + st.path() +
                  ") with other settings; differing: " + diff + ". Use another --out, or the same arguments to resume");
    }
  }
  store::RunRecord run;
  run.model_id = st.record_model(wb::model_record(m));
  run.kind = "profile";
  run.note = "profile " + out_path;
  const int64_t run_id = st.start_run(run);
  resumed = false;
  return st.create_profiling_job(run_id, nlohmann::json({{"job", doc}, {"out", out_path}}).dump(), total_units);
}

int cmd_profile(const Args& a) {
  const std::string out_arg = a.get("out");
  const std::vector<std::string> suite_args = split_list(a.get("suite"));
  if (suite_args.empty()) throw Error("--suite: give at least one suite name or file");
  auto m = load_model(a);
  const Tokenizer& tok = require_tokenizer(*m);
  const ModelConfig& c = m->config();

  ProfilePlan plan;
  plan.alpha = a.get_double("alpha", 0.01);
  if (!(plan.alpha > 0) || !std::isfinite(plan.alpha)) throw Error("--alpha must be a finite number > 0");
  const std::string scale = a.get("scale-position", "exclude");
  plan.scale_position = parse_scale_position(scale);
  const std::string heads_arg = a.get("heads", "all");
  plan.heads = heads_arg.size() > 5 && heads_arg.substr(heads_arg.size() - 5) == ".json"
                   ? load_head_config(heads_arg)
                   : parse_head_set_text(heads_arg, "--heads");
  plan.heads.validate(c.n_layers, c.n_heads, "--heads");
  plan.head_block = a.get_int("head-block", 0);
  plan.example_block = a.get_int("example-block", 4);
  plan.scan_rows = a.get_int("rows", 0);
  plan.max_new_tokens = a.get_int("max-new", 24);
  // The authors found 100 examples per task rank heads close to 1000 (PASTA issue #1); 0 takes every example.
  const int64_t max_examples = a.get_int("examples", 100);
  if (plan.head_block < 0 || plan.example_block < 1 || plan.scan_rows < 0 || plan.max_new_tokens < 1 || max_examples < 0)
    throw Error("--head-block, --rows, --examples must be >= 0; --example-block and --max-new >= 1");

  const SuiteSources src = suite_sources();
  std::vector<PreparedTask> tasks;
  ProfileJobSpec spec;
  for (const std::string& s : suite_args) {
    const TaskSuite suite = resolve_suite(s, src);
    for (const auto& t : tasks)
      if (t.name == suite.name) throw Error("--suite: two suites are named " + suite.name);
    tasks.push_back(prepare_task(suite, tok, default_add_bos(*m), max_examples));
    spec.suites.push_back({suite.name, suite_content_hash(suite), suite_scorer_name(suite.scorer),
                           static_cast<int64_t>(tasks.back().examples.size())});
  }
  spec.model_config_hash = model_config_hash(*m);
  spec.model_weights_id = model_weights_id(*m);
  spec.layers = c.n_layers;
  spec.heads_per_layer = c.n_heads;
  spec.max_examples = max_examples;
  spec.alpha = plan.alpha;
  spec.scale_position = scale;
  spec.heads = head_set_to_names(plan.heads);
  spec.head_block = plan.head_block;
  spec.example_block = plan.example_block;
  bool any_gen = false;
  for (const auto& t : tasks) any_gen = any_gen || scorer_generates(t.scorer);
  spec.max_new_tokens = any_gen ? plan.max_new_tokens : 0;
  const nlohmann::json doc = profile_job_document(spec);

  const std::string out_path = fs::weakly_canonical(fs::absolute(out_arg)).string();
  store::Store st = store::Store::open(a.get("db", store::default_db_path()));
  const std::vector<ProfileUnit> units = plan_units(*m, tasks, plan);
  bool resumed = false;
  const int64_t job = find_or_create_job(st, doc, out_path, *m, static_cast<int64_t>(units.size()), resumed);
  const int64_t run_id = st.get_profiling_job(job)->run_id;

  std::vector<std::string> task_names;
  for (const auto& t : tasks) task_names.push_back(t.name);
  wb::StoreProfileJournal journal(st, job, std::move(task_names));
  const bool quiet = a.has("quiet");
  const ProfileRunStats rs = run_profile(*m, tasks, plan, journal, &interrupted(), [&](const Progress& p) {
    if (!quiet)
      std::fprintf(stderr, "profile: %lld/%lld units, %.1f s, eta %.1f s (%s)\n", static_cast<long long>(p.done),
                   static_cast<long long>(p.total), p.elapsed_s, p.eta_s, p.what.c_str());
  });
  if (rs.cancelled) {
    // Ctrl-C / SIGTERM (main's handler): the job and its run say cancelled; the units recorded so far stay.
    st.finish_profiling_job(job, "cancelled");
    st.finish_run(run_id, "cancelled");
    std::fprintf(stderr, "profile: cancelled after %lld of %lld units; rerun with the same arguments to resume (job %lld)\n",
                 static_cast<long long>(rs.skipped + rs.computed), static_cast<long long>(rs.units),
                 static_cast<long long>(job));
    throw Cancelled();
  }

  // scores.json from the store: the same whether the units were computed now, before a kill, or both.
  std::vector<TaskExampleScores> per_task;
  std::vector<HeadRef> all_heads;
  for (const auto& u : units)
    if (u.task == 0 && u.example_block == 0) all_heads.insert(all_heads.end(), u.heads.begin(), u.heads.end());
  std::map<std::string, size_t> task_index;
  for (size_t t = 0; t < tasks.size(); ++t) {
    TaskExampleScores ts;
    ts.task = tasks[t].name;
    ts.scorer = suite_scorer_name(tasks[t].scorer);
    ts.heads = all_heads;
    ts.base.assign(tasks[t].examples.size(), 0.0);
    ts.steered.assign(all_heads.size(), std::vector<double>(tasks[t].examples.size(), 0.0));
    task_index[ts.task] = t;
    per_task.push_back(std::move(ts));
  }
  std::map<std::string, std::vector<std::pair<std::string, double>>> metrics;
  for (const store::HeadScore& h : st.get_head_scores(job)) metrics[h.task].emplace_back(h.metric, h.value);
  for (auto& [task, ms] : metrics) {
    auto it = task_index.find(task);
    if (it == task_index.end()) throw Error(st.path() + ": profiling job " + std::to_string(job) + " holds task " + task);
    add_metrics(per_task[it->second], ms);
  }
  nlohmann::ordered_json meta;
  meta["format"] = "headlight-profile-scores/1";
  meta["job"] = doc["fingerprint"];
  meta["model"] = {{"path", fs::weakly_canonical(fs::absolute(m->source())).string()},
                   {"type", c.model_type},
                   {"config_hash", spec.model_config_hash},
                   {"weights", spec.model_weights_id},
                   {"layers", c.n_layers},
                   {"heads", c.n_heads}};
  meta["alpha"] = plan.alpha;
  meta["scale_position"] = scale;
  meta["candidates"] = spec.heads;
  meta["examples"] = max_examples;
  nlohmann::ordered_json suites = nlohmann::ordered_json::array();
  for (const auto& s : spec.suites)
    suites.push_back({{"name", s.name}, {"hash", s.hash}, {"scorer", s.scorer}, {"n", s.examples}});
  meta["suites"] = suites;
  meta["date"] = st.get_run(run_id)->created_at;  // the job's start: a resumed job reports the same date
  write_file_atomic(out_path, scores_json(meta, per_task).dump(1) + "\n");
  st.finish_profiling_job(job, "done");
  st.finish_run(run_id, "done");

  const nlohmann::json summary = {{"out", out_path},
                                  {"db", st.path()},
                                  {"job", job},
                                  {"resumed", resumed},
                                  {"units", rs.units},
                                  {"computed", rs.computed},
                                  {"skipped", rs.skipped},
                                  {"head_examples", rs.head_examples},
                                  {"seconds", rs.seconds},
                                  {"head_examples_per_s", rs.seconds > 0 ? rs.head_examples / rs.seconds : 0.0}};
  std::printf("%s\n", summary.dump().c_str());
  return 0;
}

RegisterCommand reg(
    "profile", "multi-task head profiling: every head steered alone on every example of every suite (resumable)",
    model_options() +
        std::vector<OptionSpec>{
            text("suite", "NAME|FILE[,..]", "task suites: built-in names (counterfact, pair_qa, bios, json_format, "
                                            "pronoun_change) or suite JSONL files (required)"),
            integer("examples", "N", "examples per suite (default 100; 0 = all)", 0),
            real("alpha", "A", "PASTA's alpha for the steered head (default 0.01)", 1e-30, 1e30),
            text("scale-position", "MODE", "exclude (default), include, generation"),
            text("heads", "all|SPEC|FILE.json", "candidate heads (default all)"),
            integer("head-block", "N", "heads per recorded unit (default 0 = one layer's)", 0),
            integer("example-block", "N", "examples per recorded unit (default 4)", 1),
            integer("rows", "N", "heads per batched forward (default 0 = one layer's)", 0),
            integer("max-new", "N", "tokens generation scorers generate (default 24)", 1, 1 << 16),
            flag("quiet", "no progress line"),
            text("db", "FILE", "the store holding the job and its units (default ~/.local/share/headlight/headlight.db)"),
            text("out", "scores.json", "the scores file (required)")},
    cmd_profile);

}  // namespace
}  // namespace hl::cli
