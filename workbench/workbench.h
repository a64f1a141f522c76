// hl_workbench: what both front ends need and neither should own (as Tracy's server/ serves its profiler/ GUI).
// A Document (prompt, steering, sampling) validated in words a UI can show next to the field; one worker thread
// that runs every long job (load, baseline, steered re-run, capture, Influence, scan) one at a time, with progress,
// ETA, one cancellation convention, streamed partial results and a record in the store when one is open.
//
// Torch-free: this header hands out plain arrays only, so app/gui never includes libtorch. The model, the
// SteeringSession and every tensor live behind the pimpl, on the worker thread.
//
// Threading: every public method is called from one thread (the UI thread) and returns at once; none waits on the
// model (wait_idle excepted, for scripts and tests). Results are immutable objects published by the worker under
// a short lock; snapshot() copies shared pointers, never arrays, so the frame loop stays cheap.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "analysis/haystack.h"
#include "analysis/niah.h"
#include "core/job.h"
#include "core/steering/steering_spec.h"

namespace hl::wb {

// ---------------------------------------------------------------------------------------------------------------
// The document: what the user edits.

struct SamplingSettings {
  double temperature = 0;  // 0 = greedy
  int64_t top_k = 0;
  double top_p = 1.0;
  uint64_t seed = 0;
  int64_t max_new_tokens = 48;
  bool stop_at_eos = true;
};

struct Document {
  std::string prompt;  // may carry markers (**...**, <!-> <-!>, <?-> <-?>): parsed when spec.markers
  // Steering: method, heads, alpha, delta, multiplier, layers, scale_position, apply_at, and where to steer
  // (spec.emphasis substrings and spec.spans token ranges, in the prepared prompt's token coordinates).
  SteeringSpec spec;
  SamplingSettings sampling;
  // The head whose attention the heatmap shows; layer >= 0 with head -1 = the mean over the layer's heads.
  int64_t focus_layer = 0, focus_head = 0;
};

// A problem with one field of the document, in words for the UI to show next to that field.
struct FieldIssue {
  std::string field;    // "prompt", "heads", "alpha", "delta", "spans", "emphasis", "layers", "sampling", ...
  std::string message;
};

// Head set helpers for the grid (torch-free; HeadSet keeps PASTA's rank order).
bool head_in_set(const HeadSet& set, int64_t layer, int64_t head);
// Adds or removes one head; a whole-layer or "all" set is expanded against the model's shape first.
void toggle_head(HeadSet& set, int64_t layer, int64_t head, int64_t n_layers, int64_t n_heads);
void set_head(HeadSet& set, int64_t layer, int64_t head, bool on, int64_t n_layers, int64_t n_heads);

// ---------------------------------------------------------------------------------------------------------------
// What the worker publishes.

struct ModelInfo {
  std::string path;        // as given
  std::string model_type;  // llama, gpt2, ...
  int64_t n_layers = 0, n_heads = 0, n_kv_heads = 0, head_dim = 0, hidden = 0, vocab = 0, max_positions = 0;
  int64_t params = 0;
  std::string device, dtype;
  bool packed = false;     // packed projections (own kernels)
  bool has_tokenizer = false;
  double load_seconds = 0;
  // The store's identity of the model (its models row): canonical path and config hash. Runs recorded by any front
  // end on this model carry the same pair (retrieval_scores() finds the NIAH runs of this model by it).
  std::string record_path, config_hash;
};

// The prompt as the model sees it, with the steering resolved on it.
struct PreparedPrompt {
  std::string clean_text;                              // markers stripped
  std::vector<int64_t> ids;
  std::vector<std::string> token_texts;                // per id, as the tokenizer decodes it alone
  std::vector<std::pair<int64_t, int64_t>> offsets;    // per id, code-point offsets into clean_text
  std::vector<SteeringSpan> spans;                     // token spans that are steered
  std::optional<TokenRange> influence_span;            // traced by Influence (else the first steered span)
  std::vector<float> key_bias;                         // per prompt token, the bias a steered head puts on it
  std::string spec_json;                               // the spec as resolved (canonical JSON)
  std::vector<FieldIssue> issues;                      // non-empty: nothing is run for this document
  uint64_t generation = 0;                             // the set_document() call this was prepared for
};

// A continuation of the prompt; grows while it streams.
struct Continuation {
  std::vector<int64_t> ids;
  std::vector<std::string> token_texts;
  std::vector<float> probs;   // probability of each chosen token
  std::string text;           // the decoded continuation
  bool finished = false;
  bool cancelled = false;
  double seconds = 0;          // from the job's start to its last token
  double first_token_seconds = -1;
};

// Per-head statistics of the prompt, [layers, heads, k] row-major.
struct HeadStatsTable {
  int64_t layers = 0, heads = 0;
  std::vector<std::string> names;  // span_mass_after, span_mass_last, entropy, max, sink
  std::vector<float> values;
  float at(int64_t l, int64_t h, int64_t k) const {
    return values[static_cast<size_t>((l * heads + h) * static_cast<int64_t>(names.size()) + k)];
  }
};

// One head's (or a layer's mean) attention over prompt + continuation, [rows, cols] row-major; causal.
struct AttentionMap {
  int64_t layer = 0, head = 0;  // head -1: mean over the layer's heads
  int64_t rows = 0, cols = 0;
  int64_t prompt_len = 0;
  std::vector<float> values;
  std::vector<std::string> token_texts;  // rows (= cols) token labels
};

// Influence and rollout of a span, [layers + 1, tokens] row-major (row 0 = the embeddings).
struct InfluenceCurves {
  int64_t layers = 0, tokens = 0;
  TokenRange span;
  std::vector<float> influence, rollout;
};

// Every head steered alone (PASTA's α on the document's span) on the current prompt: how far each head moves the
// next-token distribution, KL(baseline || steered) in nats, [layers, heads] row-major. Fills the Heads grid.
struct HeadScanScores {
  int64_t layers = 0, heads = 0;
  double alpha = 0.01;
  std::vector<float> kl;
  std::vector<int64_t> top_token;  // per head, the steered next token's argmax
};

// Per-head retrieval scores (Wu et al. 2024) from the store: the newest NIAH sweep run on the loaded model (same
// path and config hash) with `headlight-cli niah --retrieval-scores`, summed over its cells as
// store::Store::get_retrieval_scores does. [layers, heads] row-major.
struct RetrievalScores {
  int64_t layers = 0, heads = 0;
  std::vector<float> score;     // hits / copy steps, in [0, 1]
  std::vector<int64_t> hits;    // copy steps at which the head's most-attended key was the copied needle token
  int64_t copy_steps = 0;       // answer tokens that copied a needle token, over the sweep's cells
  int64_t run_id = 0, sweep_id = 0;
  std::string run_created_at;   // as the store has it (ISO-8601 UTC)
  std::string method;           // the sweep's steering method ("none" for an unsteered sweep)
  int64_t cells = 0;            // cells that carried a tally
  // Empty when there are scores; otherwise why there are none, in words for the UI (no store, no model, no NIAH run
  // of this model with retrieval scores, the store could not be read).
  std::string missing;
  bool available() const { return missing.empty() && !score.empty(); }
};

// Baseline or steered: everything computed for one variant of the current document.
struct VariantResult {
  uint64_t generation = 0;  // the set_document() call whose run produced it (older ones are stale)
  Continuation continuation;
  std::shared_ptr<const HeadStatsTable> stats;
  std::shared_ptr<const AttentionMap> map;
  std::shared_ptr<const InfluenceCurves> influence;
};

// A needle-in-a-haystack sweep (start_niah): the grid's cells, each generated, scored and traced; resumable through
// its CSV journal (fingerprinted: a journal of other settings is refused) and its store run.
struct NiahSweepRequest {
  NiahGrid grid;                         // lengths x depths x strengths (grid.deltas: alpha, delta or multiplier)
  std::optional<SteeringSpec> steering;  // method, heads, layers...; the needle is the span. Empty: GUIDE, all layers
  NiahTexts texts;
  NiahTemplate prompt_template;           // default: GUIDE's question block before and after the context
  std::string haystack_dir;              // empty: the shared Paul Graham essays
  int64_t max_new_tokens = 30, last_k = 5;
  std::optional<bool> add_bos;           // empty: the model's default
  bool retrieval_scores = false;
  std::string journal_path;              // the results CSV, also the resume journal (required)
  std::string dtype = "auto";            // as the model was loaded (part of the fingerprint)
};

// A sweep's cells so far (the journal's earlier ones first), grows while it runs.
struct NiahSweepCells {
  std::vector<NiahResult> cells;
  int64_t total = 0, skipped = 0, ran = 0;
  bool finished = false;
  int64_t run_id = 0;
  // Retrieval scores of the cells run by this call, [layers, heads] row-major (with retrieval_scores).
  int64_t layers = 0, heads = 0, retrieval_copy_steps = 0;
  std::vector<double> retrieval;
};

// A multi-task head profiling job (start_profile): every candidate head steered alone on every example of every
// suite, in units (task x head block x example block) journalled in the store, so a cancelled or killed job
// restarted with the same request computes only the missing units.
struct ProfileRequest {
  std::vector<std::string> suites;  // built-in names (counterfact, pair_qa, ...) or suite JSONL files
  int64_t examples = 100;           // per suite (0 = all)
  double alpha = 0.01;
  ScalePosition scale_position = ScalePosition::Exclude;
  HeadSet heads = HeadSet::all();   // candidates
  int64_t head_block = 0, example_block = 4, rows = 0, max_new_tokens = 24;
  std::string out_path;             // scores.json, written when the job finishes; it names the job in the store
};

// A profiling job's scores so far: per task, every head's mean score over the examples scored so far.
struct ProfileScores {
  int64_t units = 0, done = 0, computed = 0, skipped = 0;  // done = computed + skipped
  int64_t layers = 0, heads = 0;
  struct Task {
    std::string name, scorer;
    int64_t examples = 0;
    double baseline = 0;       // mean unsteered score over the examples scored so far
    std::vector<double> mean;  // [layers, heads] row-major; NaN: not a candidate or not scored yet
    std::vector<int64_t> n;    // examples scored per head
  };
  std::vector<Task> tasks;
  bool finished = false;
  bool resumed = false;  // the store already held this job (same fingerprint)
  int64_t job_id = 0, run_id = 0;
  std::string fingerprint, out_path;
};

enum class JobKind { Load, Prepare, Baseline, Steered, Capture, Influence, Scan, Sweep, Profile, Custom };
enum class JobState { Queued, Running, Done, Failed, Cancelled };
const char* to_string(JobKind k);
const char* to_string(JobState s);

struct JobInfo {
  uint64_t id = 0;
  JobKind kind = JobKind::Custom;
  std::string label;
  JobState state = JobState::Queued;
  Progress progress;
  std::string error;       // Failed: the message, naming the file / field / tensor
  int64_t run_id = 0;      // the store's run, when recorded
  double seconds = 0;      // running time so far (or total)
};

// A run in the store, for the Runs panel.
struct RunRow {
  int64_t id = 0;
  std::string kind, status, created_at, model_path, prompt_text;
  int64_t n_generations = 0;
};

// Everything the UI draws, by value (big arrays behind shared pointers).
struct Snapshot {
  uint64_t version = 0;  // bumps on every change
  std::optional<ModelInfo> model;
  std::string model_error;  // the loader's message for the last failed load
  std::shared_ptr<const PreparedPrompt> prompt;
  std::shared_ptr<const VariantResult> baseline, steered;
  std::shared_ptr<const HeadScanScores> scan;  // from scan_heads(), for the current prompt
  std::shared_ptr<const NiahSweepCells> niah;  // the latest start_niah() job's cells
  std::shared_ptr<const ProfileScores> profile;  // the latest start_profile() job's scores
  std::vector<JobInfo> jobs;  // running and queued first, then the most recent finished ones
  int64_t runs_recorded = 0;  // runs this workbench wrote to the store
  std::string store_path;     // empty: no store open
  std::string store_error;
};

// ---------------------------------------------------------------------------------------------------------------

struct WorkbenchOptions {
  std::string db_path;   // empty: nothing is recorded
  int threads = 0;       // compute threads, 0 = hardware
  size_t max_finished_jobs = 16;
};

class Workbench {
 public:
  explicit Workbench(WorkbenchOptions opt = {});
  ~Workbench();  // cancels every job and joins the worker
  Workbench(const Workbench&) = delete;
  Workbench& operator=(const Workbench&) = delete;

  // Loads a model (HF directory, a llama2.c .bin, or a folder holding one of them); cancels and drops every other
  // job first. Progress is reported; cancel(id) stops it. On failure snapshot().model_error says why, and the
  // previous model (if any) stays loaded.
  uint64_t load_model(const std::string& path, const std::string& device = "cpu", const std::string& dtype = "auto");

  // Sets the document. Prepares it (tokenise, resolve the steering); a changed prompt or sampling re-runs the
  // baseline; any change re-runs the steered variant. A stale steered run, capture or Influence job is cancelled
  // at its next check (inside the re-prefill, between layers) and superseded. Returns the document's generation:
  // results carry the generation they were computed for (PreparedPrompt / VariantResult::generation).
  uint64_t set_document(const Document& doc);
  const Document& document() const;

  // Recomputes both variants from scratch (a "Run" button).
  void rerun();
  // Scores every head steered alone on the current prompt (a Scan job); the result lands in Snapshot::scan.
  uint64_t scan_heads();
  // A NIAH sweep on the loaded model (a Sweep job; a new one supersedes a running one). Cells land in
  // Snapshot::niah as they finish; a sweep restarted with the same request skips the cells its journal holds.
  uint64_t start_niah(const NiahSweepRequest& req);
  // A profiling job (needs a store: its units are journalled there). Scores land in Snapshot::profile as units
  // finish; restarted with the same request it resumes, computing no unit twice.
  uint64_t start_profile(const ProfileRequest& req);

  void cancel(uint64_t job_id);
  void cancel_all();

  Snapshot snapshot() const;
  uint64_t version() const;
  bool idle() const;
  // Blocks until no job is queued or running (scripts, tests). Returns false on timeout.
  bool wait_idle(double timeout_s = 600) const;

  // The store (opened lazily on the worker thread; the UI reads through its own read-only connection).
  const std::string& db_path() const;
  std::vector<RunRow> list_runs(int64_t limit = 200) const;  // read-only connection on the calling thread
  // Reopens a recorded run into the document (prompt, spec, sampling); the workbench then recomputes it.
  // Returns false and sets *error (e.g. the run has no prompt) when it cannot.
  bool reopen_run(int64_t run_id, std::string* error = nullptr);
  // The loaded model's retrieval scores from the store (see RetrievalScores). Reads through its own read-only
  // connection on the calling thread, as list_runs does (call it off the frame loop). Never throws: a store that
  // cannot be read is named in RetrievalScores::missing.
  RetrievalScores retrieval_scores() const;
  // Store writes and exports run as jobs on the worker (JobKind::Custom; their JobInfo says how they ended).
  uint64_t delete_run(int64_t run_id);
  // format: csv | json | png (the store's exporters).
  uint64_t export_run(int64_t run_id, const std::string& format, const std::string& out_path);

  // Head-set files in PASTA's format (any of the 201 published configs opens unchanged).
  static HeadSet load_heads(const std::string& path);  // throws hl::Error naming the file
  void save_heads(const HeadSet& set, const std::string& path) const;  // throws hl::Error

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hl::wb
