#include "analysis/niah.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include "analysis/fingerprint.h"
#include "core/error.h"

namespace hl {

namespace {

std::string number(double v) {
  if (std::isnan(v)) return "";
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, res.ptr);
}

bool parse_double(const std::string& s, double* out) {
  if (s.empty()) return false;
  const auto res = std::from_chars(s.data(), s.data() + s.size(), *out);
  return res.ec == std::errc() && res.ptr == s.data() + s.size();
}

// Splits CSV text into records. Each record carries the byte offset just past its terminating newline;
// a final record with no newline (a torn write) is reported through *torn.
struct CsvRecord {
  std::vector<std::string> fields;
  size_t end = 0;
  int64_t line = 0;  // 1-based line of its first character
};

std::vector<CsvRecord> split_csv(const std::string& text, bool* torn) {
  std::vector<CsvRecord> records;
  CsvRecord cur;
  std::string field;
  bool quoted = false, field_started = false;
  int64_t line = 1;
  cur.line = 1;
  *torn = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        if (c == '\n') ++line;
        field += c;
      }
      continue;
    }
    if (c == '"' && !field_started) {
      quoted = field_started = true;
    } else if (c == ',') {
      cur.fields.push_back(std::move(field));
      field.clear();
      field_started = false;
    } else if (c == '\n') {
      if (!field.empty() && field.back() == '\r' ) field.pop_back();
      cur.fields.push_back(std::move(field));
      field.clear();
      field_started = false;
      cur.end = i + 1;
      records.push_back(std::move(cur));
      cur = CsvRecord();
      cur.line = ++line;
    } else {
      field += c;
      field_started = true;
    }
  }
  *torn = field_started || !cur.fields.empty() || quoted;
  return records;
}

bool parse_result(const std::vector<std::string>& f, NiahResult* r) {
  if (f.size() != 8) return false;
  double length = 0;
  // Bounded before the cast: converting a double past int64's range (e.g. "1e106") is undefined behaviour.
  if (!parse_double(f[0], &length) || length != std::floor(length) || std::fabs(length) > 9007199254740992.0)
    return false;
  r->length = static_cast<int64_t>(length);
  if (!parse_double(f[1], &r->depth) || !parse_double(f[2], &r->realised_depth) || !parse_double(f[3], &r->delta) ||
      !parse_double(f[4], &r->score))
    return false;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  r->influence_lastk = nan;
  r->rollout_lastk = nan;
  if (!f[5].empty() && !parse_double(f[5], &r->influence_lastk)) return false;
  if (!f[6].empty() && !parse_double(f[6], &r->rollout_lastk)) return false;
  r->answer = f[7];
  return true;
}

void write_all(int fd, const std::string& data, const std::filesystem::path& path) {
  size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error("cannot write NIAH journal " + path.string() + ": " + std::strerror(errno));
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) throw Error("cannot sync NIAH journal " + path.string() + ": " + std::strerror(errno));
}

}  // namespace

std::string NiahCell::key() const { return "L" + std::to_string(length) + "/D" + number(depth) + "/delta" + number(delta); }

std::vector<NiahCell> NiahGrid::cells() const {
  if (lengths.empty() || depths.empty() || deltas.empty()) throw Error("NIAH grid: lengths, depths and deltas must be non-empty");
  for (int64_t l : lengths)
    if (l <= 0) throw Error("NIAH grid: context length " + std::to_string(l) + " is not positive");
  for (double d : depths)
    if (!(d >= 0 && d <= 100)) throw Error("NIAH grid: depth " + number(d) + " is not in [0, 100]");
  for (double d : deltas)
    if (!std::isfinite(d)) throw Error("NIAH grid: delta must be finite");
  std::vector<NiahCell> out;
  std::set<std::string> keys;
  for (double delta : deltas)
    for (int64_t length : lengths)
      for (double depth : depths) {
        NiahCell c{length, depth, delta};
        if (!keys.insert(c.key()).second) throw Error("NIAH grid: duplicate cell " + c.key());
        out.push_back(c);
      }
  return out;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string niah_csv_row(const NiahResult& r) {
  return std::to_string(r.length) + "," + number(r.depth) + "," + number(r.realised_depth) + "," + number(r.delta) +
         "," + number(r.score) + "," + number(r.influence_lastk) + "," + number(r.rollout_lastk) + "," +
         csv_field(r.answer);
}

NiahJournal::NiahJournal(std::filesystem::path path, const std::string& fingerprint_json) : path_(std::move(path)) {
  // Locked first: two processes appending to one journal would interleave their records.
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) throw Error("cannot open NIAH journal " + path_.string() + ": " + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(fd_);
    fd_ = -1;
    if (err == EWOULDBLOCK)
      throw Error("NIAH journal " + path_.string() + " is in use by another headlight process; wait for it or choose "
                  "another output file");
    throw Error("cannot lock NIAH journal " + path_.string() + ": " + std::strerror(err));
  }
  try {
    load(fingerprint_json);
  } catch (...) {
    ::close(fd_);
    fd_ = -1;
    throw;
  }
}

void NiahJournal::load(const std::string& fingerprint_json) {
  std::string text;
  std::error_code ec;
  const bool existed = std::filesystem::file_size(path_, ec) > 0 && !ec;
  created_ = !existed;
  if (existed) {
    std::ifstream in(path_, std::ios::binary);
    if (!in) throw Error("cannot read NIAH journal " + path_.string());
    std::ostringstream buf;
    buf << in.rdbuf();
    text = buf.str();
  }
  bool torn = false;
  std::vector<CsvRecord> records = split_csv(text, &torn);
  size_t keep = 0;  // bytes of the file that are complete, valid records
  bool need_header = true;
  if (!records.empty()) {
    std::string header;
    for (size_t i = 0; i < records[0].fields.size(); ++i) header += (i ? "," : "") + records[0].fields[i];
    if (header != kNiahCsvHeader) {
      throw Error("NIAH journal " + path_.string() + ": line 1 is not the header \"" + kNiahCsvHeader + "\"");
    }
    need_header = false;
    keep = records[0].end;
    for (size_t i = 1; i < records.size(); ++i) {
      NiahResult r;
      if (!parse_result(records[i].fields, &r)) {
        if (i + 1 == records.size() && !torn) {  // a damaged final record is a torn write too
          dropped_torn_ = true;
          break;
        }
        throw Error("NIAH journal " + path_.string() + ": line " + std::to_string(records[i].line) +
                    " is not a valid record");
      }
      keep = records[i].end;
      done_.insert(r.cell().key());
      results_.push_back(std::move(r));
    }
  }
  if (torn) dropped_torn_ = true;
  if (!fingerprint_json.empty())
    bind_fingerprint(path_, nlohmann::json::parse(fingerprint_json), !results_.empty());

  if (keep < text.size() && ::ftruncate(fd_, static_cast<off_t>(keep)) != 0)
    throw Error("cannot cut the torn record from NIAH journal " + path_.string() + ": " + std::strerror(errno));
  if (need_header) write_all(fd_, std::string(kNiahCsvHeader) + "\n", path_);
}

NiahJournal::~NiahJournal() {
  if (fd_ < 0) return;
  // A journal this object created and never wrote a result to (the sweep failed or was cancelled before its first
  // cell) is removed with its fingerprint: a failed command leaves nothing behind. Unlinked while still locked.
  if (created_ && results_.empty()) {
    std::error_code ec;
    std::filesystem::remove(path_, ec);
    std::filesystem::remove(fingerprint_path(path_), ec);
  }
  ::close(fd_);
}

void NiahJournal::append(const NiahResult& r) {
  write_all(fd_, niah_csv_row(r) + "\n", path_);
  done_.insert(r.cell().key());
  results_.push_back(r);
}

NiahSweepSummary run_niah_sweep(const NiahGrid& grid, const NiahCellRunner& runner, NiahJournal* journal,
                                const ProgressFn& progress, const CancelToken* cancel) {
  if (!runner) throw Error("NIAH sweep: no cell runner");
  const std::vector<NiahCell> cells = grid.cells();
  NiahSweepSummary summary;
  summary.total = static_cast<int64_t>(cells.size());
  std::vector<const NiahCell*> todo;
  for (const NiahCell& c : cells) {
    if (journal && journal->done(c)) {
      ++summary.skipped;
    } else {
      todo.push_back(&c);
    }
  }
  const auto start = std::chrono::steady_clock::now();
  auto report = [&](const std::string& what) {
    if (!progress) return;
    Progress p;
    p.done = summary.skipped + summary.ran;
    p.total = summary.total;
    p.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    // Only cells run in this call say how long a cell takes; skipped ones cost nothing.
    p.eta_s = summary.ran > 0 ? p.elapsed_s / summary.ran * static_cast<double>(todo.size() - summary.ran) : -1;
    p.what = what;
    progress(p);
  };
  report("");
  for (const NiahCell* cell : todo) {
    if (cancel && cancel->cancelled()) throw Cancelled();
    NiahResult r = runner(*cell);
    r.length = cell->length;
    r.depth = cell->depth;
    r.delta = cell->delta;
    if (journal) journal->append(r);
    ++summary.ran;
    report(cell->key());
  }
  return summary;
}

}  // namespace hl
