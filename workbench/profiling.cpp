#include "workbench/profiling.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <map>

#include "analysis/profile_job.h"
#include "analysis/run/profile_run.h"
#include "core/error.h"
#include "core/file_write.h"
#include "core/fnv_hash.h"
#include "workbench/model_identity.h"
#include "workbench/profile_store_journal.h"
#include "workbench/prompt_setup.h"
#include "workbench/run_recorder.h"

namespace hl::wb {
namespace fs = std::filesystem;

SuiteSources suite_sources() {
  SuiteSources s;
  const char* env = std::getenv("HEADLIGHT_SHARED_DIR");
  s.shared_dir = env && *env ? fs::path(env) : fs::path(HEADLIGHT_DEFAULT_SHARED);
  s.assets_dir = HEADLIGHT_DEFAULT_ASSETS;
  return s;
}

std::string model_config_hash(const Model& m) { return model_record(m).config_hash; }

std::string model_weights_id(const Model& m) {
  // One identity for every experiment fingerprint (model_identity.h), folded to one hash.
  return fnv1a_hex(model_identity(m)["weights"].dump());
}

namespace {

// The stored job with this fingerprint, or a new one. A job written to the same scores file under another
// fingerprint is an error naming what differs (a rerun with changed settings would otherwise mix two results).
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
  run.model_id = st.record_model(model_record(m));
  run.kind = "profile";
  run.note = "profile " + out_path;
  const int64_t run_id = st.start_run(run);
  resumed = false;
  return st.create_profiling_job(run_id, nlohmann::json({{"job", doc}, {"out", out_path}}).dump(), total_units);
}

// Every task's per-example scores, sized for the candidate heads and filled with `fill` (NaN: not scored yet).
std::vector<TaskExampleScores> empty_scores(const std::vector<PreparedTask>& tasks, const std::vector<HeadRef>& heads,
                                            double fill) {
  std::vector<TaskExampleScores> out;
  for (const PreparedTask& t : tasks) {
    TaskExampleScores ts;
    ts.task = t.name;
    ts.scorer = suite_scorer_name(t.scorer);
    ts.heads = heads;
    ts.base.assign(t.examples.size(), fill);
    ts.steered.assign(heads.size(), std::vector<double>(t.examples.size(), fill));
    out.push_back(std::move(ts));
  }
  return out;
}

// The stored metrics of job `job` added into the per-task scores.
void add_stored(const store::Store& st, int64_t job, std::vector<TaskExampleScores>& per_task) {
  std::map<std::string, std::vector<std::pair<std::string, double>>> metrics;
  for (const store::HeadScore& h : st.get_head_scores(job)) metrics[h.task].emplace_back(h.metric, h.value);
  for (auto& [task, ms] : metrics) {
    auto it = std::find_if(per_task.begin(), per_task.end(), [&](const TaskExampleScores& t) { return t.task == task; });
    if (it == per_task.end()) throw Error(st.path() + ": profiling job " + std::to_string(job) + " holds task " + task);
    add_metrics(*it, ms);
  }
}

// Means over the examples scored so far (NaN entries are not scored yet).
void fill_view(ProfileScores& v, const std::vector<TaskExampleScores>& per_task, const std::vector<PreparedTask>& tasks) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  v.tasks.clear();
  for (size_t t = 0; t < per_task.size(); ++t) {
    const TaskExampleScores& ts = per_task[t];
    ProfileScores::Task out;
    out.name = ts.task;
    out.scorer = ts.scorer;
    out.examples = static_cast<int64_t>(tasks[t].examples.size());
    double bsum = 0;
    int64_t bn = 0;
    for (double b : ts.base)
      if (!std::isnan(b)) bsum += b, ++bn;
    out.baseline = bn ? bsum / static_cast<double>(bn) : nan;
    out.mean.assign(static_cast<size_t>(v.layers * v.heads), nan);
    out.n.assign(out.mean.size(), 0);
    for (size_t h = 0; h < ts.heads.size(); ++h) {
      double sum = 0;
      int64_t n = 0;
      for (double x : ts.steered[h])
        if (!std::isnan(x)) sum += x, ++n;
      const size_t k = static_cast<size_t>(ts.heads[h].layer * v.heads + ts.heads[h].head);
      out.n[k] = n;
      if (n) out.mean[k] = sum / static_cast<double>(n);
    }
    v.tasks.push_back(std::move(out));
  }
}

// The store journal, and the live view updated after every unit it records.
class ReportingJournal : public ProfileJournal {
 public:
  ReportingJournal(StoreProfileJournal& inner, std::function<void(const ProfileUnit&, const UnitScores&)> after)
      : inner_(inner), after_(std::move(after)) {}
  bool has(const ProfileUnit& u) override { return inner_.has(u); }
  void record(const ProfileUnit& u, const UnitScores& sc, double elapsed_s) override {
    inner_.record(u, sc, elapsed_s);
    after_(u, sc);
  }

 private:
  StoreProfileJournal& inner_;
  std::function<void(const ProfileUnit&, const UnitScores&)> after_;
};

}  // namespace

ProfileOutcome run_profiling(const Model& m, const ProfileRequest& req, store::Store& st, const CancelToken* cancel,
                             const ProgressFn& progress, const ProfileScoresFn& on_scores) {
  if (req.suites.empty()) throw Error("suites: give at least one suite name or file");
  if (req.out_path.empty()) throw Error("out: the profile needs a scores file (it names the job in the store)");
  if (!(req.alpha > 0) || !std::isfinite(req.alpha)) throw Error("alpha must be a finite number > 0");
  if (req.head_block < 0 || req.example_block < 1 || req.rows < 0 || req.max_new_tokens < 1 || req.examples < 0)
    throw Error("--head-block, --rows, --examples must be >= 0; --example-block and --max-new >= 1");
  const Tokenizer& tok = require_tokenizer(m);
  const ModelConfig& c = m.config();
  ProfilePlan plan;
  plan.alpha = req.alpha;
  plan.scale_position = req.scale_position;
  plan.heads = req.heads;
  plan.heads.validate(c.n_layers, c.n_heads, "--heads");
  plan.head_block = req.head_block;
  plan.example_block = req.example_block;
  plan.scan_rows = req.rows;
  plan.max_new_tokens = req.max_new_tokens;

  const SuiteSources src = suite_sources();
  std::vector<PreparedTask> tasks;
  ProfileJobSpec spec;
  for (const std::string& s : req.suites) {
    const TaskSuite suite = resolve_suite(s, src);
    for (const auto& t : tasks)
      if (t.name == suite.name) throw Error("--suite: two suites are named " + suite.name);
    tasks.push_back(prepare_task(suite, tok, default_add_bos(m), req.examples));
    spec.suites.push_back({suite.name, suite_content_hash(suite), suite_scorer_name(suite.scorer),
                           static_cast<int64_t>(tasks.back().examples.size())});
  }
  spec.model_config_hash = model_config_hash(m);
  spec.model_weights_id = model_weights_id(m);
  spec.layers = c.n_layers;
  spec.heads_per_layer = c.n_heads;
  spec.max_examples = req.examples;
  spec.alpha = plan.alpha;
  spec.scale_position = to_string(req.scale_position);
  spec.heads = head_set_to_names(plan.heads);
  spec.head_block = plan.head_block;
  spec.example_block = plan.example_block;
  bool any_gen = false;
  for (const auto& t : tasks) any_gen = any_gen || scorer_generates(t.scorer);
  spec.max_new_tokens = any_gen ? plan.max_new_tokens : 0;
  const nlohmann::json doc = profile_job_document(spec);

  const std::string out_path = fs::weakly_canonical(fs::absolute(req.out_path)).string();
  const std::vector<ProfileUnit> units = plan_units(m, tasks, plan);
  ProfileScores view;
  view.units = static_cast<int64_t>(units.size());
  view.layers = c.n_layers;
  view.heads = c.n_heads;
  view.out_path = out_path;
  view.fingerprint = doc["fingerprint"].get<std::string>();
  view.job_id = find_or_create_job(st, doc, out_path, m, view.units, view.resumed);
  const int64_t job = view.job_id;
  const int64_t run_id = st.get_profiling_job(job)->run_id;
  view.run_id = run_id;

  std::vector<HeadRef> all_heads;
  for (const auto& u : units)
    if (u.task == 0 && u.example_block == 0) all_heads.insert(all_heads.end(), u.heads.begin(), u.heads.end());
  std::vector<std::string> task_names;
  for (const auto& t : tasks) task_names.push_back(t.name);
  StoreProfileJournal store_journal(st, job, task_names);
  std::vector<TaskExampleScores> live;
  if (on_scores) {
    live = empty_scores(tasks, all_heads, std::numeric_limits<double>::quiet_NaN());
    add_stored(st, job, live);
    for (const auto& u : units) view.done += store_journal.has(u) ? 1 : 0;
    view.skipped = view.done;
    fill_view(view, live, tasks);
    on_scores(view);
  }
  ReportingJournal journal(store_journal, [&](const ProfileUnit& u, const UnitScores& sc) {
    if (!on_scores) return;
    add_metrics(live[u.task], unit_metrics(sc, u.first_example));
    ++view.done;
    ++view.computed;
    fill_view(view, live, tasks);
    on_scores(view);
  });
  const ProfileRunStats rs = run_profile(m, tasks, plan, journal, cancel, progress);
  if (rs.cancelled) {
    // The job and its run say cancelled; the units recorded so far stay.
    st.finish_profiling_job(job, "cancelled");
    st.finish_run(run_id, "cancelled");
    throw Cancelled();
  }

  // scores.json from the store: the same whether the units were computed now, before a kill, or both.
  std::vector<TaskExampleScores> per_task = empty_scores(tasks, all_heads, 0.0);
  add_stored(st, job, per_task);
  nlohmann::ordered_json meta;
  meta["format"] = "headlight-profile-scores/1";
  meta["job"] = doc["fingerprint"];
  meta["model"] = {{"path", fs::weakly_canonical(fs::absolute(m.source())).string()},
                   {"type", c.model_type},
                   {"config_hash", spec.model_config_hash},
                   {"weights", spec.model_weights_id},
                   {"layers", c.n_layers},
                   {"heads", c.n_heads}};
  meta["alpha"] = plan.alpha;
  meta["scale_position"] = spec.scale_position;
  meta["candidates"] = spec.heads;
  meta["examples"] = req.examples;
  nlohmann::ordered_json suites = nlohmann::ordered_json::array();
  for (const auto& s : spec.suites)
    suites.push_back({{"name", s.name}, {"hash", s.hash}, {"scorer", s.scorer}, {"n", s.examples}});
  meta["suites"] = suites;
  meta["date"] = st.get_run(run_id)->created_at;  // the job's start: a resumed job reports the same date
  ProfileOutcome out;
  out.scores_json = scores_json(meta, per_task);
  write_file_atomic(out_path, out.scores_json.dump(1) + "\n");
  st.finish_profiling_job(job, "done");
  st.finish_run(run_id, "done");
  view.computed = rs.computed;
  view.skipped = rs.skipped;
  view.done = rs.computed + rs.skipped;
  fill_view(view, per_task, tasks);
  view.finished = true;
  out.scores = view;
  out.seconds = rs.seconds;
  out.head_examples = rs.head_examples;
  if (on_scores) on_scores(view);
  return out;
}

}  // namespace hl::wb
