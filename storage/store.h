// The run store: one SQLite file holding everything headlight computes (models, prompts, steering specs,
// runs and their generations, head statistics, attention maps, Influence/rollout traces, resumable
// profiling jobs, NIAH sweeps, exported head profiles). Schema: storage/SCHEMA.md.
//
// Threading model: a Store is one SQLite connection and is NOT shared between threads. Each thread (the
// GUI reading, a worker writing) opens its own Store on the same file. The file is in WAL mode, so readers
// never block the writer and see the last committed state; writes take the write lock up front (BEGIN
// IMMEDIATE) and wait up to the busy timeout for another writer instead of failing with "database is
// locked". Every logical write (a run with its artefacts, one profiling unit, one NIAH cell) is a single
// transaction, so a reader or a crash never sees half of it.
//
// Opening never overwrites or "repairs" a file: a file that is not SQLite, not a headlight database, from a
// newer schema, or failing quick_check is refused with an hl::Error naming it, and left byte-for-byte as is.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "storage/records.h"
#include "storage/sqlite_db.h"

namespace hl::store {

// $XDG_DATA_HOME/headlight/headlight.db, else ~/.local/share/headlight/headlight.db. Does not create it.
std::string default_db_path();

// Reads larger than these are refused: a crafted file declaring a huge shape must not make us allocate.
constexpr int64_t kMaxMatrixElements = int64_t(1) << 27;  // 512 MiB of f32
constexpr int64_t kMaxJsonArrayBytes = int64_t(256) << 20;

struct RunSummary {
  RunRecord run;
  std::string model_path;
  int64_t n_generations = 0;
};

class Store {
 public:
  enum class Access { ReadWrite, ReadOnly };
  // ReadWrite creates the file (and its parent directories) when absent and migrates older schemas.
  static Store open(const std::string& path, Access access = Access::ReadWrite);

  const std::string& path() const { return db_.path(); }
  bool read_only() const { return read_only_; }
  int user_version() const;

  // ---- models, prompts, specs (deduplicated: recording the same thing twice returns the same id)
  int64_t record_model(const ModelRecord& m);
  std::optional<ModelRecord> get_model(int64_t id) const;
  int64_t record_prompt(const PromptRecord& p);
  std::optional<PromptRecord> get_prompt(int64_t id) const;
  // The JSON is canonicalised (keys sorted, no whitespace) before hashing, so formatting does not matter.
  int64_t record_spec(const std::string& spec_json);
  std::optional<std::string> get_spec(int64_t id) const;

  // ---- runs
  // A whole run with its generations and head stats, in one transaction. Returns the run id.
  int64_t record_run(const RunRecord& run, const std::vector<GenerationRecord>& generations,
                     const std::vector<HeadStat>& head_stats);
  // Incremental recording for long jobs: start (status "running"), add artefacts, finish.
  int64_t start_run(const RunRecord& run);
  void add_generations(int64_t run_id, const std::vector<GenerationRecord>& generations);
  void add_head_stats(int64_t run_id, const std::vector<HeadStat>& stats);
  // status: done | failed | cancelled | interrupted; `error` says what happened (failed, interrupted). "running"
  // reopens a run for a resumed job, owned by this process.
  void finish_run(int64_t run_id, const std::string& status, const std::string& error = "");
  // Runs left 'running' by a process that no longer exists (killed, crashed) become 'interrupted' with the reason.
  // ReadWrite opens call it. Returns how many were marked.
  int64_t mark_interrupted_runs();
  std::optional<RunRecord> get_run(int64_t id) const;
  std::vector<RunSummary> list_runs(const RunFilter& filter = {}) const;
  std::vector<GenerationRecord> get_generations(int64_t run_id) const;
  std::vector<HeadStat> get_head_stats(int64_t run_id) const;
  // Deletes the run and, by cascade, every artefact and blob it owns. Returns false if there was no such run.
  bool delete_run(int64_t run_id);
  void vacuum();

  // ---- attention maps and traces (blobs, loaded lazily by id)
  int64_t add_attention_map(int64_t run_id, int32_t layer, int32_t head, const std::string& phase,
                            const FloatMatrix& m, BlobDtype dtype = BlobDtype::F16);
  std::vector<AttentionMapInfo> list_attention_maps(int64_t run_id) const;
  FloatMatrix load_attention_map(int64_t map_id) const;
  int64_t add_trace(int64_t run_id, const std::string& span, const std::string& variant,
                    std::optional<int32_t> layer, const FloatMatrix& m, BlobDtype dtype = BlobDtype::F32);
  std::vector<TraceInfo> list_traces(int64_t run_id) const;
  FloatMatrix load_trace(int64_t trace_id) const;

  // ---- profiling (resumable: a unit is recorded once; resume by skipping is_unit_recorded units)
  int64_t create_profiling_job(int64_t run_id, const std::string& tasks_json, int64_t total_units);
  std::optional<ProfilingJob> get_profiling_job(int64_t job_id) const;
  std::optional<ProfilingJob> profiling_job_for_run(int64_t run_id) const;
  // Every profiling job, oldest first (a resumed profile finds its job by the fingerprint in tasks_json).
  std::vector<ProfilingJob> list_profiling_jobs() const;
  // Records the unit and its scores in one transaction. Returns false (and changes nothing) if the unit
  // (job, task, layer, head) was already recorded.
  bool record_unit(int64_t job_id, const ProfilingUnit& unit);
  bool is_unit_recorded(int64_t job_id, const std::string& task, int32_t layer, int32_t head) const;
  int64_t count_units(int64_t job_id) const;
  std::vector<HeadScore> get_head_scores(int64_t job_id) const;
  void finish_profiling_job(int64_t job_id, const std::string& status);
  int64_t record_exported_profile(const ExportedProfile& p);
  std::vector<ExportedProfile> list_exported_profiles(int64_t job_id) const;

  // ---- NIAH sweeps (resumable per cell, like profiling units)
  int64_t create_niah_sweep(int64_t run_id, const std::string& method, const std::string& config_json);
  std::vector<NiahSweep> list_niah_sweeps(int64_t run_id) const;
  bool record_niah_cell(int64_t sweep_id, const NiahCell& cell);
  bool is_cell_recorded(int64_t sweep_id, double strength, int64_t context_length, double depth_percent) const;
  std::vector<NiahCell> get_niah_cells(int64_t sweep_id) const;
  // Per-head retrieval scores of a sweep (layer-major, every head of the run's model), summed over its cells that
  // carry a tally (only those of one strength when given). Empty when no cell has one.
  std::vector<RetrievalScore> get_retrieval_scores(int64_t sweep_id, std::optional<double> strength = {}) const;

  // For tests and `doctor`-style checks: PRAGMA integrity_check's first line ("ok" when healthy).
  std::string integrity_check() const;

 private:
  friend class ReadSnapshot;
  explicit Store(Db db, bool read_only) : db_(std::move(db)), read_only_(read_only) {}
  void require_writable(const char* what) const;

  mutable Db db_;
  bool read_only_ = false;
};

// One read transaction: every read through the store while it lives sees the same committed state, so
// a run and its artefacts read in its scope are consistent even while another connection writes/deletes.
// Reads only: a write through the same Store inside its scope fails (SQLite has no nested transactions).
class ReadSnapshot {
 public:
  explicit ReadSnapshot(const Store& s) : tx_(s.db_, Transaction::Read) {}

 private:
  Transaction tx_;
};

}  // namespace hl::store
