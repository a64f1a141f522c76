// Plain records the run store reads and writes. They mirror the tables in storage/SCHEMA.md one to one,
// carry no SQLite or torch types, and are filled by the engine/analysis code that produces the data.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hl::store {

// A dense row-major float matrix (a vector is rows = 1). The store keeps it as fp16 or f32 bytes.
struct FloatMatrix {
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<float> values;  // rows * cols
};

enum class BlobDtype { F16, F32 };
const char* dtype_name(BlobDtype d);  // "f16" / "f32", as stored in the dtype column

struct ModelRecord {
  int64_t id = 0;  // set by the store
  std::string path;
  std::string config_hash;  // content_hash() of config.json, so a re-saved model at the same path is new
  std::string architecture;
  int64_t n_layers = 0, n_heads = 0, n_kv_heads = 0, hidden_size = 0, vocab_size = 0;
};

struct PromptRecord {
  int64_t id = 0;
  std::string text;
  std::vector<int32_t> token_ids;
  std::vector<std::pair<int32_t, int32_t>> offsets;  // [char_start, char_end) per token
};

struct SamplingSettings {
  double temperature = 0;  // 0 = greedy
  double top_p = 1;
  int64_t top_k = 0;  // 0 = off
  int64_t max_new_tokens = 0;
};

struct RunRecord {
  int64_t id = 0;
  int64_t model_id = 0;
  std::optional<int64_t> prompt_id;
  std::optional<int64_t> spec_id;
  std::string kind;  // "generate", "capture", "influence", "niah", "profile", ...
  // running | done | failed (error says why) | cancelled | interrupted (its process ended without finishing it)
  std::string status = "running";
  int64_t seed = 0;
  SamplingSettings sampling;
  std::string created_at;   // ISO-8601 UTC; empty = now (set by the store)
  std::string finished_at;  // empty while running
  std::string note;
  // The process that owns a running run (set by start_run); a run whose owner is gone is marked interrupted.
  std::optional<int64_t> owner_pid;
  std::string owner_host;
  std::string error;  // failed / interrupted: what happened
};

// One decoded sequence of a run: the unsteered baseline or the steered continuation.
struct GenerationRecord {
  std::string variant;  // "baseline" | "steered"
  std::vector<int32_t> token_ids;
  std::string text;
  std::vector<float> step_probs;  // probability of the chosen token at each step
};

struct HeadStat {
  int32_t layer = 0;
  int32_t head = 0;
  std::string stat;  // "span_mass", "entropy", "max", ...
  double value = 0;
};

struct AttentionMapInfo {
  int64_t id = 0;
  int64_t run_id = 0;
  int32_t layer = 0;
  int32_t head = 0;  // -1 = mean over heads
  std::string phase;  // "prefill", "decode", ...
  int64_t rows = 0, cols = 0;
  BlobDtype dtype = BlobDtype::F16;
};

struct TraceInfo {
  int64_t id = 0;
  int64_t run_id = 0;
  std::string span;     // the traced span, e.g. "12:20" (token range) or its label
  std::string variant;  // "influence" | "rollout"
  std::optional<int32_t> layer;  // empty = the whole stack (rows = layers)
  int64_t rows = 0, cols = 0;
  BlobDtype dtype = BlobDtype::F32;
};

struct ProfilingJob {
  int64_t id = 0;
  int64_t run_id = 0;  // the run of kind "profile" that owns the job
  std::string tasks_json;  // the task list and settings, as given
  int64_t total_units = 0;
  std::string status = "running";
};

// One steered evaluation of one head on one task; its scores are recorded with it, once.
struct ProfilingUnit {
  std::string task;
  int32_t layer = 0;
  int32_t head = 0;
  int64_t n_examples = 0;
  double elapsed_s = 0;
  std::vector<std::pair<std::string, double>> scores;  // metric -> value
};

struct HeadScore {
  std::string task;
  int32_t layer = 0;
  int32_t head = 0;
  std::string metric;
  double value = 0;
};

struct NiahSweep {
  int64_t id = 0;
  int64_t run_id = 0;
  std::string method;  // "none", "pasta", "guide", ...
  std::string config_json;
};

struct NiahCell {
  double strength = 0;  // alpha or delta of the panel
  int64_t context_length = 0;  // tokens
  double depth_percent = 0;
  int64_t n_samples = 0;
  double mean_score = 0;
  std::optional<double> mean_influence;
  // Schema v2:
  std::optional<double> realised_depth;     // percent of the haystack before the needle
  std::optional<double> mean_rollout;       // rollout of the needle on the last K prompt tokens
  std::string answer;                       // the generated answer (of the sample, when n_samples = 1)
  std::vector<double> influence_by_layer;   // mean Influence over the last K prompt tokens, layers -1..L-1
  // Schema v3: the cell's retrieval-head tally (Wu et al.), when the sweep computed it: answer tokens that were
  // needle tokens, and per head (layer-major, the run's model's layers x heads) how many of them it retrieved.
  std::optional<int64_t> retrieval_copy_steps;
  std::vector<int32_t> retrieval_hits;
};

// A head's retrieval score over the cells of a NIAH sweep: hits / copy_steps (0 when there was no copy step).
struct RetrievalScore {
  int32_t layer = 0;
  int32_t head = 0;
  int64_t hits = 0;
  int64_t copy_steps = 0;
  double score = 0;
};

struct ExportedProfile {
  int64_t id = 0;
  int64_t job_id = 0;
  std::string strategy;  // intersection | union | task_specific | task_agnostic
  int64_t k = 0;
  std::string json;  // PASTA head-config JSON
  std::string created_at;
};

struct RunFilter {
  std::optional<int64_t> model_id;
  std::string kind;    // empty = any
  std::string since;   // ISO-8601 prefix compare, inclusive; empty = unbounded
  std::string until;   // exclusive
  int64_t limit = 0;   // 0 = no limit
};

}  // namespace hl::store
