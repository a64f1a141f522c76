// Resumable PASTA head profiling: a job owns units (task, layer, head); each unit and its scores are one
// transaction, recorded at most once, so a killed job resumes by skipping what is already stored.
#include <cmath>
#include <limits>

#include "core/error.h"
#include "storage/json_arrays.h"
#include "storage/store.h"

namespace hl::store {
namespace {

std::optional<ProfilingJob> read_job(Stmt& st) {
  if (!st.step()) return std::nullopt;
  ProfilingJob j;
  j.id = st.col_int(0);
  j.run_id = st.col_int(1);
  j.tasks_json = st.col_text(2);
  j.total_units = st.col_int(3);
  j.status = st.col_text(4);
  return j;
}

}  // namespace

int64_t Store::create_profiling_job(int64_t run_id, const std::string& tasks_json, int64_t total_units) {
  require_writable("create a profiling job");
  if (total_units < 0) throw Error(db_.path() + ": profiling job with negative unit count");
  const std::string canon = canonical_json(tasks_json, db_.path() + ": profiling job tasks");
  Transaction tx(db_, Transaction::Write);
  Stmt st(db_, "INSERT INTO profiling_jobs (run_id, tasks_json, total_units, status) VALUES (?, ?, ?, 'running')");
  st.bind(1, run_id).bind(2, canon).bind(3, total_units);
  st.run();
  const int64_t id = db_.last_insert_id();
  tx.commit();
  return id;
}

std::optional<ProfilingJob> Store::get_profiling_job(int64_t job_id) const {
  Stmt st(db_, "SELECT id, run_id, tasks_json, total_units, status FROM profiling_jobs WHERE id = ?");
  st.bind(1, job_id);
  return read_job(st);
}

std::optional<ProfilingJob> Store::profiling_job_for_run(int64_t run_id) const {
  Stmt st(db_, "SELECT id, run_id, tasks_json, total_units, status FROM profiling_jobs WHERE run_id = ?");
  st.bind(1, run_id);
  return read_job(st);
}

std::vector<ProfilingJob> Store::list_profiling_jobs() const {
  Stmt st(db_, "SELECT id, run_id, tasks_json, total_units, status FROM profiling_jobs ORDER BY id");
  std::vector<ProfilingJob> out;
  while (auto j = read_job(st)) out.push_back(std::move(*j));
  return out;
}

bool Store::record_unit(int64_t job_id, const ProfilingUnit& u) {
  require_writable("record a profiling unit");
  Transaction tx(db_, Transaction::Write);
  Stmt ins(db_,
           "INSERT INTO profiling_units (job_id, task, layer, head, n_examples, elapsed_s) VALUES (?, ?, ?, ?, ?, ?) "
           "ON CONFLICT (job_id, task, layer, head) DO NOTHING");
  ins.bind(1, job_id).bind(2, u.task).bind(3, u.layer).bind(4, u.head).bind(5, u.n_examples).bind(6, u.elapsed_s);
  ins.run();
  if (db_.changes() == 0) return false;  // already recorded: roll back, keep the first result
  const int64_t unit_id = db_.last_insert_id();
  Stmt sc(db_, "INSERT INTO head_scores (unit_id, metric, value) VALUES (?, ?, ?)");
  for (const auto& [metric, value] : u.scores) {
    sc.bind(1, unit_id).bind(2, metric);
    std::isnan(value) ? sc.bind_null(3) : sc.bind(3, value);
    sc.run();
    sc.reset();
  }
  tx.commit();
  return true;
}

bool Store::is_unit_recorded(int64_t job_id, const std::string& task, int32_t layer, int32_t head) const {
  Stmt st(db_, "SELECT 1 FROM profiling_units WHERE job_id = ? AND task = ? AND layer = ? AND head = ?");
  st.bind(1, job_id).bind(2, task).bind(3, layer).bind(4, head);
  return st.step();
}

int64_t Store::count_units(int64_t job_id) const {
  Stmt st(db_, "SELECT count(*) FROM profiling_units WHERE job_id = ?");
  st.bind(1, job_id);
  st.step();
  return st.col_int(0);
}

std::vector<HeadScore> Store::get_head_scores(int64_t job_id) const {
  Stmt st(db_,
          "SELECT u.task, u.layer, u.head, s.metric, s.value FROM head_scores s "
          "JOIN profiling_units u ON u.id = s.unit_id WHERE u.job_id = ? ORDER BY u.task, u.layer, u.head, s.metric");
  st.bind(1, job_id);
  std::vector<HeadScore> out;
  while (st.step()) {
    HeadScore h;
    h.task = st.col_text(0);
    h.layer = static_cast<int32_t>(st.col_int(1));
    h.head = static_cast<int32_t>(st.col_int(2));
    h.metric = st.col_text(3);
    h.value = st.is_null(4) ? std::numeric_limits<double>::quiet_NaN() : st.col_double(4);
    out.push_back(std::move(h));
  }
  return out;
}

void Store::finish_profiling_job(int64_t job_id, const std::string& status) {
  require_writable("finish a profiling job");
  Transaction tx(db_, Transaction::Write);
  Stmt st(db_, "UPDATE profiling_jobs SET status = ? WHERE id = ?");
  st.bind(1, status).bind(2, job_id);
  st.run();  // the CHECK constraint rejects an unknown status
  if (db_.changes() == 0) throw Error(db_.path() + ": no profiling job " + std::to_string(job_id));
  tx.commit();
}

int64_t Store::record_exported_profile(const ExportedProfile& p) {
  require_writable("record an exported profile");
  const std::string canon = canonical_json(p.json, db_.path() + ": exported profile");
  Transaction tx(db_, Transaction::Write);
  Stmt st(db_, "INSERT INTO exported_profiles (job_id, strategy, k, json) VALUES (?, ?, ?, ?)");
  st.bind(1, p.job_id).bind(2, p.strategy).bind(3, p.k).bind(4, canon);
  st.run();
  const int64_t id = db_.last_insert_id();
  tx.commit();
  return id;
}

std::vector<ExportedProfile> Store::list_exported_profiles(int64_t job_id) const {
  Stmt st(db_, "SELECT id, job_id, strategy, k, json, created_at FROM exported_profiles WHERE job_id = ? ORDER BY id");
  st.bind(1, job_id);
  std::vector<ExportedProfile> out;
  while (st.step()) {
    ExportedProfile p;
    p.id = st.col_int(0);
    p.job_id = st.col_int(1);
    p.strategy = st.col_text(2);
    p.k = st.col_int(3);
    p.json = st.col_text(4);
    p.created_at = st.col_text(5);
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace hl::store
