// Needle-in-a-haystack sweeps (methods.md §5.3): a grid of independent cells (length × depth × steering
// strength), a CSV of results, and an append-only journal so that a killed sweep resumes where it stopped.
// The model-running part is a callback (the engine layer provides it).
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "analysis/retrieval_score.h"
#include "core/job.h"

namespace hl {

struct NiahCell {
  int64_t length = 0;  // context length, tokens
  double depth = 0;    // percent
  double delta = 0;    // steering strength of this cell's setting (GUIDE Δ on the needle; 0 = unsteered)
  // Stable identity across runs: "L<length>/D<depth>/delta<delta>" with shortest round-trip numbers.
  std::string key() const;
};

struct NiahGrid {
  std::vector<int64_t> lengths = {500, 1000, 1500, 2000, 2500, 3000, 3500, 4000};
  std::vector<double> depths = {0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100};
  std::vector<double> deltas = {0};

  // Cells ordered setting-major, then length, then depth. Throws hl::Error on an empty axis, a non-positive
  // length, a depth outside [0, 100] or a duplicate value.
  std::vector<NiahCell> cells() const;
};

struct NiahResult {
  int64_t length = 0;
  double depth = 0;
  double realised_depth = 0;
  double delta = 0;
  double score = 0;
  double influence_lastk = 0;  // NaN = not computed (written as an empty field)
  double rollout_lastk = 0;
  std::string answer;          // the model's response
  // Not in the CSV (its columns are fixed): mean Influence over the last K prompt tokens per layer -1..L-1.
  std::vector<double> influence_by_layer;
  // Not in the CSV either: this cell's retrieval-head tally (copy steps and per-head hits; layers 0 when the sweep
  // does not compute retrieval scores).
  RetrievalTally retrieval;

  NiahCell cell() const { return NiahCell{length, depth, delta}; }
};

constexpr const char* kNiahCsvHeader = "length,depth,realised_depth,delta,score,influence_lastk,rollout_lastk,answer";

// RFC 4180 quoting: fields with a comma, quote, CR or LF are quoted and quotes doubled.
std::string csv_field(const std::string& s);
// One CSV record (no trailing newline). Numbers use the shortest representation that reads back exactly.
std::string niah_csv_row(const NiahResult& r);

// Append-only results file: kNiahCsvHeader, then one record per finished cell, fsync'ed one by one. Opening an
// existing file reads its records (a torn last record left by a killed process is dropped and cut from the file);
// a bad header or a malformed record before the last one is an hl::Error naming the file and line.
// The file is locked while open (a second process gets an hl::Error). With a fingerprint (analysis/fingerprint.h:
// everything that determines the results), a journal holding results of another fingerprint is refused with the
// fields that differ, never merged; the fingerprint is kept next to the journal. A journal that was created by this
// object and holds no result when it closes is removed (with its fingerprint).
class NiahJournal {
 public:
  explicit NiahJournal(std::filesystem::path path, const std::string& fingerprint_json = "");
  ~NiahJournal();
  NiahJournal(const NiahJournal&) = delete;
  NiahJournal& operator=(const NiahJournal&) = delete;

  bool done(const NiahCell& cell) const { return done_.count(cell.key()) != 0; }
  void append(const NiahResult& r);
  const std::vector<NiahResult>& results() const { return results_; }
  const std::filesystem::path& path() const { return path_; }
  bool dropped_torn_record() const { return dropped_torn_; }

 private:
  void load(const std::string& fingerprint_json);

  std::filesystem::path path_;
  int fd_ = -1;
  std::vector<NiahResult> results_;
  std::set<std::string> done_;
  bool dropped_torn_ = false;
  bool created_ = false;  // the file was absent or empty when opened
};

using NiahCellRunner = std::function<NiahResult(const NiahCell&)>;

struct NiahSweepSummary {
  int64_t total = 0;    // cells in the grid
  int64_t skipped = 0;  // already in the journal
  int64_t ran = 0;      // run by this call
};

// Runs every grid cell not yet in the journal, appending each result as soon as it is known (the cell's
// length/depth/delta are written from the cell, whatever the runner returned). Reports progress after every
// cell; checks `cancel` between cells and then throws hl::Cancelled (finished cells stay in the journal).
// journal may be null (results are then only returned through the runner's side effects and the summary).
NiahSweepSummary run_niah_sweep(const NiahGrid& grid, const NiahCellRunner& runner, NiahJournal* journal,
                                const ProgressFn& progress = {}, const CancelToken* cancel = nullptr);

}  // namespace hl
