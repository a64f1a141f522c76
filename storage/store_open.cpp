// Opening the run store: default location, validation of an existing file (all read-only checks, done
// before anything could write to it), creation and migration. Also vacuum and integrity checks.
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "storage/schema.h"
#include "storage/store.h"

namespace hl::store {
namespace {

constexpr int kBusyTimeoutMs = 10000;

std::string parent_dir(const std::string& path) {
  std::filesystem::path p(path);
  std::filesystem::path dir = p.parent_path();
  return dir.empty() ? std::string(".") : dir.string();
}

uint32_t be32(const unsigned char* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

// Checks the 100-byte SQLite header ourselves so a non-SQLite or truncated file is refused before SQLite
// sees it. Returns false for an empty file (a fresh database).
bool check_header(const std::string& path, uint64_t file_size) {
  if (file_size == 0) return false;
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(path + ": cannot read: " + std::strerror(errno));
  unsigned char h[100] = {};
  f.read(reinterpret_cast<char*>(h), sizeof h);
  static const char kMagic[16] = {'S', 'Q', 'L', 'i', 't', 'e', ' ', 'f', 'o', 'r', 'm', 'a', 't', ' ', '3', 0};
  if (f.gcount() < 16 || std::memcmp(h, kMagic, 16) != 0)
    throw Error(path + ": not an SQLite database (no SQLite header); refusing to touch it");
  if (f.gcount() < 100) throw Error(path + ": truncated SQLite database (" + std::to_string(file_size) + " bytes)");
  uint32_t page_size = (uint32_t(h[16]) << 8) | h[17];
  if (page_size == 1) page_size = 65536;
  const uint32_t change_counter = be32(h + 24), n_pages = be32(h + 28), valid_for = be32(h + 92);
  // The in-header page count is trusted only when written by a version that maintains it (valid_for).
  // With a non-empty -wal file the main file may legitimately lag; SQLite's own checks cover that case.
  std::error_code ec;
  auto wal_size = std::filesystem::file_size(path + "-wal", ec);
  const bool wal_pending = !ec && wal_size > 0;
  if (!wal_pending && n_pages != 0 && valid_for == change_counter &&
      uint64_t(n_pages) * page_size > file_size)
    throw Error(path + ": truncated SQLite database: header declares " + std::to_string(uint64_t(n_pages) * page_size) +
                " bytes, the file has " + std::to_string(file_size) + "; refusing to open it");
  return true;
}

int64_t pragma_int(Db& db, const char* sql) {
  Stmt st(db, sql);
  return st.step() ? st.col_int(0) : 0;
}

void make_parent_dirs(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(parent_dir(path), ec);
  if (ec) throw Error(path + ": cannot create directory " + parent_dir(path) + ": " + ec.message());
}

bool writable(const std::string& p) { return ::access(p.c_str(), W_OK) == 0; }

bool wal_has_frames(const std::string& path) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path + "-wal", ec);
  return !ec && size > 0;
}

// SQLite URI filenames percent-decode the path; escape everything but unreserved characters and '/'.
std::string uri_escape(const std::string& path) {
  std::string out;
  char buf[4];
  for (unsigned char c : path) {
    if (std::isalnum(c) || c == '/' || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

// Returns the file's schema version; throws if the file is not a healthy headlight database this build
// can read. An empty SQLite database (no tables, no ids) passes as version 0 when we may write.
int64_t validate(Db& db, const std::string& path, bool want_write) {
  sqlite3_busy_timeout(db.handle(), kBusyTimeoutMs);
  int64_t app_id = 0, version = 0, n_objects = 0;
  try {
    app_id = pragma_int(db, "PRAGMA application_id");
    version = pragma_int(db, "PRAGMA user_version");
    n_objects = pragma_int(db, "SELECT count(*) FROM sqlite_schema");
  } catch (const Error& e) {
    const int code = sqlite3_errcode(db.handle());
    if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB)
      throw Error(path + ": corrupt database (" + sqlite3_errmsg(db.handle()) + "); refusing to open it");
    throw;
  }
  if (app_id == 0 && version == 0 && n_objects == 0) {
    if (!want_write) throw Error(path + ": not a headlight database (empty SQLite file)");
    return 0;
  }
  if (app_id != kApplicationId) {
    char buf[160];
    std::snprintf(buf, sizeof buf, ": not a headlight database (application_id 0x%08llx, expected 0x%08x); refusing to touch it",
                  static_cast<unsigned long long>(static_cast<uint32_t>(app_id)), static_cast<unsigned>(kApplicationId));
    throw Error(path + buf);
  }
  if (version > schema_version())
    throw Error(path + ": written by a newer headlight (schema version " + std::to_string(version) +
                ", this build reads up to " + std::to_string(schema_version()) + "); refusing to open it");
  std::string check;
  try {
    Stmt qc(db, "PRAGMA quick_check");
    check = qc.step() ? qc.col_text(0) : std::string("no result");
  } catch (const Error& e) {
    check = e.what();
  }
  if (check != "ok") throw Error(path + ": corrupt database (quick_check: " + check + "); refusing to open it");
  return version;
}

}  // namespace

const char* dtype_name(BlobDtype d) { return d == BlobDtype::F16 ? "f16" : "f32"; }

std::string default_db_path() {
  const char* xdg = std::getenv("XDG_DATA_HOME");
  if (xdg && *xdg && xdg[0] == '/') return std::string(xdg) + "/headlight/headlight.db";
  const char* home = std::getenv("HOME");
  if (!home || !*home) throw Error("cannot find a place for the run store: neither XDG_DATA_HOME nor HOME is set");
  return std::string(home) + "/.local/share/headlight/headlight.db";
}

Store Store::open(const std::string& path, Access access) {
  if (path.empty()) throw Error("run store: empty database path");
  const bool want_write = access == Access::ReadWrite;
  struct stat st {};
  const bool exists = ::stat(path.c_str(), &st) == 0;
  bool has_content = false;
  if (exists) {
    if (!S_ISREG(st.st_mode)) throw Error(path + ": not a regular file");
    has_content = check_header(path, static_cast<uint64_t>(st.st_size));
    if (want_write && (!writable(path) || !writable(parent_dir(path))))
      throw Error(path + ": read-only location (" + (writable(path) ? "directory " + parent_dir(path) : std::string("file")) +
                  " is not writable); open it read-only to browse it");
  } else {
    if (!want_write) throw Error(path + ": no such database");
    make_parent_dirs(path);
    if (!writable(parent_dir(path)))
      throw Error(path + ": read-only location: cannot create a database in " + parent_dir(path));
  }
  if (!has_content && !want_write) throw Error(path + ": empty file, not a headlight database");

  // Validation: reads only, before anything could write. Without a pending -wal file the checks run on an
  // immutable read-only connection, which creates no -wal/-shm files next to a file we may refuse.
  const bool wal_pending = has_content && wal_has_frames(path);
  Db db;
  int64_t version = 0;
  if (has_content) {
    Db check = wal_pending ? Db(path, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX)
                           : Db(path, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX,
                                "file:" + uri_escape(path) + "?immutable=1");
    try {
      version = validate(check, path, want_write);
    } catch (const Error&) {
      // An immutable connection does not lock: if a writer started (and checkpointed) meanwhile, what we
      // read may be torn. Judge again with a locking connection before refusing a file that is in use.
      if (wal_pending || !wal_has_frames(path)) throw;
      check = Db(path, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX);
      version = validate(check, path, want_write);
    }
    // A read-only location cannot change under us: keep the immutable connection (a normal read-only
    // connection to a WAL database would need to create a -shm file there).
    if (!want_write && !wal_has_frames(path) && !writable(parent_dir(path))) db = std::move(check);
  }
  if (!db.handle()) {
    const int flags =
        SQLITE_OPEN_NOMUTEX | (want_write ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY);
    db = Db(path, flags);
  }
  sqlite3_busy_timeout(db.handle(), kBusyTimeoutMs);
  // Caps every string/blob SQLite will hand us; matrix reads are also bounded by shape (store_blobs.cpp).
  sqlite3_limit(db.handle(), SQLITE_LIMIT_LENGTH, static_cast<int>(kMaxJsonArrayBytes * 4));

  if (want_write) {
    // WAL lets the GUI read while a worker writes; NORMAL sync in WAL mode survives a process crash (the
    // case we test) and only risks the last commits, never corruption, on power loss.
    {
      Stmt wal(db, "PRAGMA journal_mode = WAL");
      if (!wal.step() || wal.col_text(0) != "wal") throw Error(path + ": cannot switch the database to WAL mode");
    }
    db.exec("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;");
    if (version < schema_version()) migrate(db);
  } else {
    db.exec("PRAGMA foreign_keys = ON; PRAGMA query_only = ON;");
  }
  Store store(std::move(db), !want_write);
  if (want_write) store.mark_interrupted_runs();
  return store;
}

int Store::user_version() const { return static_cast<int>(pragma_int(db_, "PRAGMA user_version")); }

void Store::require_writable(const char* what) const {
  if (read_only_) throw Error(db_.path() + ": cannot " + std::string(what) + ": the store was opened read-only");
}

void Store::vacuum() {
  require_writable("vacuum");
  db_.exec("PRAGMA wal_checkpoint(TRUNCATE); VACUUM;");
}

std::string Store::integrity_check() const {
  Stmt st(db_, "PRAGMA integrity_check");
  return st.step() ? st.col_text(0) : std::string("no result");
}

}  // namespace hl::store
