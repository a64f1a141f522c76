// Models, prompts, steering specs, runs, generations and head statistics.
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "storage/content_hash.h"
#include "storage/json_arrays.h"
#include "storage/store.h"

namespace hl::store {
namespace {

constexpr int kRunColumnCount = 17;  // columns of kRunColumns; list_runs reads its extra columns after them
const char* const kRunColumns =
    "r.id, r.model_id, r.prompt_id, r.spec_id, r.kind, r.status, r.seed, r.temperature, r.top_p, r.top_k, "
    "r.max_new_tokens, r.created_at, r.finished_at, r.note, r.owner_pid, r.owner_host, r.error";

RunRecord read_run(const Stmt& st) {
  RunRecord r;
  r.id = st.col_int(0);
  r.model_id = st.col_int(1);
  if (!st.is_null(2)) r.prompt_id = st.col_int(2);
  if (!st.is_null(3)) r.spec_id = st.col_int(3);
  r.kind = st.col_text(4);
  r.status = st.col_text(5);
  r.seed = st.col_int(6);
  r.sampling.temperature = st.col_double(7);
  r.sampling.top_p = st.col_double(8);
  r.sampling.top_k = st.col_int(9);
  r.sampling.max_new_tokens = st.col_int(10);
  r.created_at = st.col_text(11);
  r.finished_at = st.is_null(12) ? std::string() : st.col_text(12);
  r.note = st.col_text(13);
  if (!st.is_null(14)) r.owner_pid = st.col_int(14);
  r.owner_host = st.is_null(15) ? std::string() : st.col_text(15);
  r.error = st.col_text(16);
  return r;
}

std::string this_host() {
  char name[256] = {0};
  if (::gethostname(name, sizeof name - 1) != 0) return "localhost";
  return name;
}

// kill(pid, 0) sends nothing: it only says whether the process exists (EPERM: it exists, owned by another user).
bool pid_alive(int64_t pid) {
  if (pid <= 0) return false;
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

void check_status(const std::string& status, const std::string& where) {
  if (status != "running" && status != "done" && status != "failed" && status != "cancelled" && status != "interrupted")
    throw Error(where + ": status \"" + status + "\" is not one of running, done, failed, cancelled, interrupted");
}

// NaN statistics (e.g. entropy of an empty span) are stored as NULL, SQLite's missing value.
double nullable_double(const Stmt& st, int col) {
  return st.is_null(col) ? std::numeric_limits<double>::quiet_NaN() : st.col_double(col);
}

int64_t insert_run(Db& db, const RunRecord& run) {
  if (run.kind.empty()) throw Error(db.path() + ": run kind is empty");
  check_status(run.status, db.path() + ": run");
  Stmt st(db,
          "INSERT INTO runs (model_id, prompt_id, spec_id, kind, status, seed, temperature, top_p, top_k, "
          "max_new_tokens, created_at, finished_at, note, owner_pid, owner_host, error) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
          "?7, ?8, ?9, ?10, coalesce(?11, strftime('%Y-%m-%dT%H:%M:%fZ','now')), "
          "CASE WHEN ?5 = 'running' THEN NULL ELSE coalesce(?12, strftime('%Y-%m-%dT%H:%M:%fZ','now')) END, ?13, ?14, "
          "?15, ?16)");
  st.bind(1, run.model_id);
  run.prompt_id ? st.bind(2, *run.prompt_id) : st.bind_null(2);
  run.spec_id ? st.bind(3, *run.spec_id) : st.bind_null(3);
  st.bind(4, run.kind).bind(5, run.status).bind(6, run.seed);
  st.bind(7, run.sampling.temperature).bind(8, run.sampling.top_p);
  st.bind(9, run.sampling.top_k).bind(10, run.sampling.max_new_tokens);
  run.created_at.empty() ? st.bind_null(11) : st.bind(11, run.created_at);
  run.finished_at.empty() ? st.bind_null(12) : st.bind(12, run.finished_at);
  st.bind(13, run.note);
  run.owner_pid ? st.bind(14, *run.owner_pid) : st.bind_null(14);
  run.owner_host.empty() ? st.bind_null(15) : st.bind(15, run.owner_host);
  st.bind(16, run.error);
  st.run();
  return db.last_insert_id();
}

void insert_generations(Db& db, int64_t run_id, const std::vector<GenerationRecord>& gens) {
  Stmt st(db, "INSERT INTO generations (run_id, variant, token_ids, text, step_probs) VALUES (?, ?, ?, ?, ?)");
  for (const auto& g : gens) {
    if (g.variant != "baseline" && g.variant != "steered")
      throw Error(db.path() + ": generation variant \"" + g.variant + "\" is not baseline or steered");
    st.bind(1, run_id).bind(2, g.variant).bind(3, ints_to_json(g.token_ids)).bind(4, g.text);
    st.bind(5, floats_to_json(g.step_probs));
    st.run();
    st.reset();
  }
}

void insert_head_stats(Db& db, int64_t run_id, const std::vector<HeadStat>& stats) {
  Stmt st(db, "INSERT INTO head_stats (run_id, layer, head, stat, value) VALUES (?, ?, ?, ?, ?)");
  for (const auto& s : stats) {
    st.bind(1, run_id).bind(2, s.layer).bind(3, s.head).bind(4, s.stat);
    std::isnan(s.value) ? st.bind_null(5) : st.bind(5, s.value);
    st.run();
    st.reset();
  }
}

}  // namespace

// ---- models, prompts, specs

int64_t Store::record_model(const ModelRecord& m) {
  require_writable("record a model");
  Transaction tx(db_, Transaction::Write);
  Stmt ins(db_,
           "INSERT INTO models (path, config_hash, architecture, n_layers, n_heads, n_kv_heads, hidden_size, "
           "vocab_size) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (path, config_hash) DO NOTHING");
  ins.bind(1, m.path).bind(2, m.config_hash).bind(3, m.architecture).bind(4, m.n_layers).bind(5, m.n_heads);
  ins.bind(6, m.n_kv_heads).bind(7, m.hidden_size).bind(8, m.vocab_size);
  ins.run();
  Stmt sel(db_, "SELECT id FROM models WHERE path = ? AND config_hash = ?");
  sel.bind(1, m.path).bind(2, m.config_hash);
  if (!sel.step()) throw Error(db_.path() + ": model insert vanished");
  const int64_t id = sel.col_int(0);
  sel.reset();  // a statement still positioned on a row would block COMMIT
  tx.commit();
  return id;
}

std::optional<ModelRecord> Store::get_model(int64_t id) const {
  Stmt st(db_,
          "SELECT id, path, config_hash, architecture, n_layers, n_heads, n_kv_heads, hidden_size, vocab_size "
          "FROM models WHERE id = ?");
  st.bind(1, id);
  if (!st.step()) return std::nullopt;
  ModelRecord m;
  m.id = st.col_int(0);
  m.path = st.col_text(1);
  m.config_hash = st.col_text(2);
  m.architecture = st.col_text(3);
  m.n_layers = st.col_int(4);
  m.n_heads = st.col_int(5);
  m.n_kv_heads = st.col_int(6);
  m.hidden_size = st.col_int(7);
  m.vocab_size = st.col_int(8);
  return m;
}

int64_t Store::record_prompt(const PromptRecord& p) {
  require_writable("record a prompt");
  const std::string ids = ints_to_json(p.token_ids), offs = offsets_to_json(p.offsets);
  if (!p.offsets.empty() && p.offsets.size() != p.token_ids.size())
    throw Error(db_.path() + ": prompt has " + std::to_string(p.token_ids.size()) + " tokens but " +
                std::to_string(p.offsets.size()) + " offsets");
  const std::string hash = content_hash(p.text);
  Transaction tx(db_, Transaction::Write);
  Stmt sel(db_, "SELECT id FROM prompts WHERE text_hash = ? AND text = ? AND token_ids = ? AND offsets = ?");
  sel.bind(1, hash).bind(2, p.text).bind(3, ids).bind(4, offs);
  if (sel.step()) return sel.col_int(0);  // the transaction rolls back: nothing was written
  Stmt ins(db_, "INSERT INTO prompts (text, text_hash, token_ids, offsets, n_tokens) VALUES (?, ?, ?, ?, ?)");
  ins.bind(1, p.text).bind(2, hash).bind(3, ids).bind(4, offs).bind(5, static_cast<int64_t>(p.token_ids.size()));
  ins.run();
  const int64_t id = db_.last_insert_id();
  tx.commit();
  return id;
}

std::optional<PromptRecord> Store::get_prompt(int64_t id) const {
  Stmt st(db_, "SELECT id, text, token_ids, offsets FROM prompts WHERE id = ?");
  st.bind(1, id);
  if (!st.step()) return std::nullopt;
  PromptRecord p;
  p.id = st.col_int(0);
  p.text = st.col_text(1);
  const std::string where = db_.path() + ": prompts." ;
  p.token_ids = json_to_ints(st.col_text(2), where + "token_ids of prompt " + std::to_string(id));
  p.offsets = json_to_offsets(st.col_text(3), where + "offsets of prompt " + std::to_string(id));
  return p;
}

int64_t Store::record_spec(const std::string& spec_json) {
  require_writable("record a steering spec");
  const std::string canon = canonical_json(spec_json, db_.path() + ": steering spec");
  const std::string hash = content_hash(canon);
  Transaction tx(db_, Transaction::Write);
  Stmt sel(db_, "SELECT id, json FROM steering_specs WHERE hash = ?");
  sel.bind(1, hash);
  if (sel.step()) {
    if (sel.col_text(1) != canon)
      throw Error(db_.path() + ": steering spec hash collision on " + hash + " (two different specs)");
    return sel.col_int(0);
  }
  Stmt ins(db_, "INSERT INTO steering_specs (hash, json) VALUES (?, ?)");
  ins.bind(1, hash).bind(2, canon);
  ins.run();
  const int64_t id = db_.last_insert_id();
  tx.commit();
  return id;
}

std::optional<std::string> Store::get_spec(int64_t id) const {
  Stmt st(db_, "SELECT json FROM steering_specs WHERE id = ?");
  st.bind(1, id);
  if (!st.step()) return std::nullopt;
  return st.col_text(0);
}

// ---- runs

int64_t Store::record_run(const RunRecord& run, const std::vector<GenerationRecord>& generations,
                          const std::vector<HeadStat>& head_stats) {
  require_writable("record a run");
  Transaction tx(db_, Transaction::Write);
  const int64_t id = insert_run(db_, run);
  insert_generations(db_, id, generations);
  insert_head_stats(db_, id, head_stats);
  tx.commit();
  return id;
}

int64_t Store::start_run(const RunRecord& run) {
  require_writable("start a run");
  RunRecord r = run;
  r.status = "running";
  r.finished_at.clear();
  if (!r.owner_pid) r.owner_pid = static_cast<int64_t>(::getpid());
  if (r.owner_host.empty()) r.owner_host = this_host();
  Transaction tx(db_, Transaction::Write);
  const int64_t id = insert_run(db_, r);
  tx.commit();
  return id;
}

void Store::add_generations(int64_t run_id, const std::vector<GenerationRecord>& generations) {
  require_writable("add generations");
  Transaction tx(db_, Transaction::Write);
  insert_generations(db_, run_id, generations);
  tx.commit();
}

void Store::add_head_stats(int64_t run_id, const std::vector<HeadStat>& stats) {
  require_writable("add head statistics");
  Transaction tx(db_, Transaction::Write);
  insert_head_stats(db_, run_id, stats);
  tx.commit();
}

void Store::finish_run(int64_t run_id, const std::string& status, const std::string& error) {
  require_writable("finish a run");
  check_status(status, db_.path() + ": run " + std::to_string(run_id));
  Transaction tx(db_, Transaction::Write);
  Stmt st(db_,
          "UPDATE runs SET status = ?1, error = ?3, finished_at = CASE WHEN ?1 = 'running' THEN NULL "
          "ELSE strftime('%Y-%m-%dT%H:%M:%fZ','now') END, "
          "owner_pid = CASE WHEN ?1 = 'running' THEN ?4 ELSE owner_pid END, "
          "owner_host = CASE WHEN ?1 = 'running' THEN ?5 ELSE owner_host END WHERE id = ?2");
  // Back to running (a resumed job): this process owns it now.
  st.bind(1, status).bind(2, run_id).bind(3, error).bind(4, static_cast<int64_t>(::getpid())).bind(5, this_host());
  st.run();
  if (db_.changes() == 0) throw Error(db_.path() + ": no run " + std::to_string(run_id));
  tx.commit();
}

int64_t Store::mark_interrupted_runs() {
  require_writable("mark interrupted runs");
  Transaction tx(db_, Transaction::Write);
  std::vector<std::pair<int64_t, std::string>> gone;
  {
    Stmt st(db_, "SELECT id, owner_pid, owner_host FROM runs WHERE status = 'running'");
    const std::string host = this_host();
    while (st.step()) {
      const int64_t id = st.col_int(0);
      if (st.is_null(1)) {
        gone.emplace_back(id, "started by a headlight without run owners (schema < 3) and never finished");
        continue;
      }
      const int64_t pid = st.col_int(1);
      const std::string owner_host = st.is_null(2) ? std::string() : st.col_text(2);
      if (owner_host != host) continue;  // another machine's process: it cannot be checked from here
      if (pid_alive(pid)) continue;
      gone.emplace_back(id, "its process (pid " + std::to_string(pid) + ") ended before the run finished");
    }
  }
  for (const auto& [id, why] : gone) {
    Stmt up(db_,
            "UPDATE runs SET status = 'interrupted', error = ?2, finished_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') "
            "WHERE id = ?1 AND status = 'running'");
    up.bind(1, id).bind(2, why);
    up.run();
  }
  tx.commit();
  return static_cast<int64_t>(gone.size());
}

std::optional<RunRecord> Store::get_run(int64_t id) const {
  Stmt st(db_, (std::string("SELECT ") + kRunColumns + " FROM runs r WHERE r.id = ?").c_str());
  st.bind(1, id);
  if (!st.step()) return std::nullopt;
  return read_run(st);
}

std::vector<RunSummary> Store::list_runs(const RunFilter& f) const {
  // One fixed statement; unused filters are neutralised by their bound values, never by editing the SQL.
  const std::string sql = std::string("SELECT ") + kRunColumns +
                          ", m.path, (SELECT count(*) FROM generations g WHERE g.run_id = r.id) "
                          "FROM runs r JOIN models m ON m.id = r.model_id "
                          "WHERE (?1 IS NULL OR r.model_id = ?1) AND (?2 = '' OR r.kind = ?2) "
                          "AND (?3 = '' OR r.created_at >= ?3) AND (?4 = '' OR r.created_at < ?4) "
                          "ORDER BY r.created_at DESC, r.id DESC LIMIT ?5";
  Stmt st(db_, sql.c_str());
  f.model_id ? st.bind(1, *f.model_id) : st.bind_null(1);
  st.bind(2, f.kind).bind(3, f.since).bind(4, f.until).bind(5, f.limit > 0 ? f.limit : int64_t(-1));
  std::vector<RunSummary> out;
  while (st.step()) {
    RunSummary s;
    s.run = read_run(st);
    s.model_path = st.col_text(kRunColumnCount);
    s.n_generations = st.col_int(kRunColumnCount + 1);
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<GenerationRecord> Store::get_generations(int64_t run_id) const {
  Stmt st(db_, "SELECT variant, token_ids, text, step_probs FROM generations WHERE run_id = ? ORDER BY variant");
  st.bind(1, run_id);
  std::vector<GenerationRecord> out;
  const std::string where = db_.path() + ": generations of run " + std::to_string(run_id);
  while (st.step()) {
    GenerationRecord g;
    g.variant = st.col_text(0);
    g.token_ids = json_to_ints(st.col_text(1), where + " (token_ids)");
    g.text = st.col_text(2);
    g.step_probs = json_to_floats(st.col_text(3), where + " (step_probs)");
    out.push_back(std::move(g));
  }
  return out;
}

std::vector<HeadStat> Store::get_head_stats(int64_t run_id) const {
  Stmt st(db_, "SELECT layer, head, stat, value FROM head_stats WHERE run_id = ? ORDER BY layer, head, stat");
  st.bind(1, run_id);
  std::vector<HeadStat> out;
  while (st.step()) {
    HeadStat s;
    s.layer = static_cast<int32_t>(st.col_int(0));
    s.head = static_cast<int32_t>(st.col_int(1));
    s.stat = st.col_text(2);
    s.value = nullable_double(st, 3);
    out.push_back(std::move(s));
  }
  return out;
}

bool Store::delete_run(int64_t run_id) {
  require_writable("delete a run");
  Transaction tx(db_, Transaction::Write);
  Stmt st(db_, "DELETE FROM runs WHERE id = ?");
  st.bind(1, run_id);
  st.run();
  const bool deleted = db_.changes() > 0;
  tx.commit();
  return deleted;
}

}  // namespace hl::store
