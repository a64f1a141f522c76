#include "storage/schema.h"

#include <algorithm>

#include <string>

#include "core/error.h"
#include "storage/sqlite_db.h"

namespace hl::store {
namespace {

// Times are ISO-8601 UTC text with milliseconds ("2024-05-01T12:00:00.000Z"): readable in the sqlite3
// shell and ordered correctly as strings. Token ids, offsets and per-step probabilities are JSON arrays so
// the shell (and json_each) can read them; only the large float matrices are binary.
const char* const kMigrationV1 = R"sql(
CREATE TABLE models (
  id           INTEGER PRIMARY KEY,
  path         TEXT    NOT NULL,
  config_hash  TEXT    NOT NULL,
  architecture TEXT    NOT NULL,
  n_layers     INTEGER NOT NULL CHECK (n_layers >= 0),
  n_heads      INTEGER NOT NULL CHECK (n_heads >= 0),
  n_kv_heads   INTEGER NOT NULL CHECK (n_kv_heads >= 0),
  hidden_size  INTEGER NOT NULL CHECK (hidden_size >= 0),
  vocab_size   INTEGER NOT NULL CHECK (vocab_size >= 0),
  created_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  UNIQUE (path, config_hash)
);

CREATE TABLE prompts (
  id         INTEGER PRIMARY KEY,
  text       TEXT    NOT NULL,
  text_hash  TEXT    NOT NULL,
  token_ids  TEXT    NOT NULL CHECK (json_valid(token_ids)),
  offsets    TEXT    NOT NULL CHECK (json_valid(offsets)),
  n_tokens   INTEGER NOT NULL CHECK (n_tokens >= 0),
  created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
);
CREATE INDEX prompts_by_hash ON prompts (text_hash);

CREATE TABLE steering_specs (
  id         INTEGER PRIMARY KEY,
  hash       TEXT NOT NULL UNIQUE,
  json       TEXT NOT NULL CHECK (json_valid(json)),
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
);

CREATE TABLE runs (
  id             INTEGER PRIMARY KEY,
  model_id       INTEGER NOT NULL REFERENCES models (id) ON DELETE RESTRICT,
  prompt_id      INTEGER REFERENCES prompts (id) ON DELETE RESTRICT,
  spec_id        INTEGER REFERENCES steering_specs (id) ON DELETE RESTRICT,
  kind           TEXT    NOT NULL CHECK (kind <> ''),
  status         TEXT    NOT NULL CHECK (status IN ('running', 'done', 'failed', 'cancelled')),
  seed           INTEGER NOT NULL DEFAULT 0,
  temperature    REAL    NOT NULL DEFAULT 0,
  top_p          REAL    NOT NULL DEFAULT 1,
  top_k          INTEGER NOT NULL DEFAULT 0,
  max_new_tokens INTEGER NOT NULL DEFAULT 0,
  created_at     TEXT    NOT NULL,
  finished_at    TEXT,
  note           TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX runs_by_model_date ON runs (model_id, created_at);
CREATE INDEX runs_by_date ON runs (created_at);
CREATE INDEX runs_by_kind_date ON runs (kind, created_at);

CREATE TABLE generations (
  run_id     INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  variant    TEXT    NOT NULL CHECK (variant IN ('baseline', 'steered')),
  token_ids  TEXT    NOT NULL CHECK (json_valid(token_ids)),
  text       TEXT    NOT NULL,
  step_probs TEXT    NOT NULL CHECK (json_valid(step_probs)),
  PRIMARY KEY (run_id, variant)
) WITHOUT ROWID;

CREATE TABLE head_stats (
  run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  layer  INTEGER NOT NULL CHECK (layer >= 0),
  head   INTEGER NOT NULL CHECK (head >= 0),
  stat   TEXT    NOT NULL CHECK (stat <> ''),
  value  REAL,
  PRIMARY KEY (run_id, layer, head, stat)
) WITHOUT ROWID;

CREATE TABLE attention_maps (
  id     INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  layer  INTEGER NOT NULL CHECK (layer >= 0),
  head   INTEGER NOT NULL CHECK (head >= -1),
  phase  TEXT    NOT NULL CHECK (phase <> ''),
  rows   INTEGER NOT NULL CHECK (rows >= 0),
  cols   INTEGER NOT NULL CHECK (cols >= 0),
  dtype  TEXT    NOT NULL CHECK (dtype IN ('f16', 'f32')),
  data   BLOB    NOT NULL,
  UNIQUE (run_id, layer, head, phase)
);

CREATE TABLE traces (
  id      INTEGER PRIMARY KEY,
  run_id  INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  span    TEXT    NOT NULL,
  variant TEXT    NOT NULL CHECK (variant IN ('influence', 'rollout')),
  layer   INTEGER CHECK (layer IS NULL OR layer >= 0),
  rows    INTEGER NOT NULL CHECK (rows >= 0),
  cols    INTEGER NOT NULL CHECK (cols >= 0),
  dtype   TEXT    NOT NULL CHECK (dtype IN ('f16', 'f32')),
  data    BLOB    NOT NULL
);
CREATE INDEX traces_by_run ON traces (run_id, span, variant, layer);

CREATE TABLE profiling_jobs (
  id          INTEGER PRIMARY KEY,
  run_id      INTEGER NOT NULL UNIQUE REFERENCES runs (id) ON DELETE CASCADE,
  tasks_json  TEXT    NOT NULL CHECK (json_valid(tasks_json)),
  total_units INTEGER NOT NULL CHECK (total_units >= 0),
  status      TEXT    NOT NULL CHECK (status IN ('running', 'done', 'failed', 'cancelled'))
);

CREATE TABLE profiling_units (
  id          INTEGER PRIMARY KEY,
  job_id      INTEGER NOT NULL REFERENCES profiling_jobs (id) ON DELETE CASCADE,
  task        TEXT    NOT NULL,
  layer       INTEGER NOT NULL CHECK (layer >= 0),
  head        INTEGER NOT NULL CHECK (head >= 0),
  n_examples  INTEGER NOT NULL CHECK (n_examples >= 0),
  elapsed_s   REAL    NOT NULL,
  recorded_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  UNIQUE (job_id, task, layer, head)
);

CREATE TABLE head_scores (
  unit_id INTEGER NOT NULL REFERENCES profiling_units (id) ON DELETE CASCADE,
  metric  TEXT    NOT NULL CHECK (metric <> ''),
  value   REAL,
  PRIMARY KEY (unit_id, metric)
) WITHOUT ROWID;

CREATE TABLE niah_sweeps (
  id          INTEGER PRIMARY KEY,
  run_id      INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  method      TEXT    NOT NULL,
  config_json TEXT    NOT NULL CHECK (json_valid(config_json))
);
CREATE INDEX niah_sweeps_by_run ON niah_sweeps (run_id);

CREATE TABLE niah_cells (
  sweep_id       INTEGER NOT NULL REFERENCES niah_sweeps (id) ON DELETE CASCADE,
  strength       REAL    NOT NULL,
  context_length INTEGER NOT NULL CHECK (context_length > 0),
  depth_percent  REAL    NOT NULL CHECK (depth_percent >= 0 AND depth_percent <= 100),
  n_samples      INTEGER NOT NULL CHECK (n_samples >= 0),
  mean_score     REAL,
  mean_influence REAL,
  recorded_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  PRIMARY KEY (sweep_id, strength, context_length, depth_percent)
) WITHOUT ROWID;

CREATE TABLE exported_profiles (
  id         INTEGER PRIMARY KEY,
  job_id     INTEGER NOT NULL REFERENCES profiling_jobs (id) ON DELETE CASCADE,
  strategy   TEXT    NOT NULL,
  k          INTEGER NOT NULL CHECK (k >= 0),
  json       TEXT    NOT NULL CHECK (json_valid(json)),
  created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
);
CREATE INDEX exported_profiles_by_job ON exported_profiles (job_id);
)sql";

// v2: what a NIAH cell's answer was, where the needle really went, rollout next to Influence, and the
// per-layer Influence curve (mean over the last K prompt tokens, layers -1..L-1) as a JSON array.
const char* const kMigrationV2 = R"sql(
ALTER TABLE niah_cells ADD COLUMN realised_depth REAL;
ALTER TABLE niah_cells ADD COLUMN mean_rollout REAL;
ALTER TABLE niah_cells ADD COLUMN answer TEXT;
ALTER TABLE niah_cells ADD COLUMN influence_by_layer TEXT CHECK (influence_by_layer IS NULL OR json_valid(influence_by_layer));
)sql";

// v3: honest run status. A run records the process that owns it (pid, host), a failed run its error, and a run whose
// process ended without finishing it becomes 'interrupted' (Store::open marks them). SQLite cannot alter a CHECK
// constraint, so runs is rebuilt (the documented 12-step procedure; migrate() turns foreign keys off around it).
const char* const kMigrationV3 = R"sql(
CREATE TABLE runs_v3 (
  id             INTEGER PRIMARY KEY,
  model_id       INTEGER NOT NULL REFERENCES models (id) ON DELETE RESTRICT,
  prompt_id      INTEGER REFERENCES prompts (id) ON DELETE RESTRICT,
  spec_id        INTEGER REFERENCES steering_specs (id) ON DELETE RESTRICT,
  kind           TEXT    NOT NULL CHECK (kind <> ''),
  status         TEXT    NOT NULL CHECK (status IN ('running', 'done', 'failed', 'cancelled', 'interrupted')),
  seed           INTEGER NOT NULL DEFAULT 0,
  temperature    REAL    NOT NULL DEFAULT 0,
  top_p          REAL    NOT NULL DEFAULT 1,
  top_k          INTEGER NOT NULL DEFAULT 0,
  max_new_tokens INTEGER NOT NULL DEFAULT 0,
  created_at     TEXT    NOT NULL,
  finished_at    TEXT,
  note           TEXT    NOT NULL DEFAULT '',
  owner_pid      INTEGER,
  owner_host     TEXT,
  error          TEXT    NOT NULL DEFAULT ''
);
INSERT INTO runs_v3 (id, model_id, prompt_id, spec_id, kind, status, seed, temperature, top_p, top_k, max_new_tokens,
                     created_at, finished_at, note)
  SELECT id, model_id, prompt_id, spec_id, kind, status, seed, temperature, top_p, top_k, max_new_tokens,
         created_at, finished_at, note FROM runs;
DROP TABLE runs;
ALTER TABLE runs_v3 RENAME TO runs;
CREATE INDEX runs_by_model_date ON runs (model_id, created_at);
CREATE INDEX runs_by_date ON runs (created_at);
CREATE INDEX runs_by_kind_date ON runs (kind, created_at);
CREATE INDEX runs_by_status ON runs (status);
)sql";

// v4: retrieval-head scores of a NIAH cell (copy steps, and per-head hits as a layer-major JSON array).
const char* const kMigrationV4 = R"sql(
ALTER TABLE niah_cells ADD COLUMN retrieval_copy_steps INTEGER CHECK (retrieval_copy_steps IS NULL OR retrieval_copy_steps >= 0);
ALTER TABLE niah_cells ADD COLUMN retrieval_hits TEXT CHECK (retrieval_hits IS NULL OR json_valid(retrieval_hits));
)sql";

// Index i holds the step from version i to i + 1. Append new steps; never edit a shipped one.
const char* const kMigrations[] = {kMigrationV1, kMigrationV2, kMigrationV3, kMigrationV4};

}  // namespace

int schema_version() { return static_cast<int>(sizeof kMigrations / sizeof kMigrations[0]); }

void migrate(Db& db, int up_to) {
  const int target = up_to > 0 ? std::min(up_to, schema_version()) : schema_version();
  // Table rebuilds (v3) drop a parent table: foreign keys must be off, and that pragma is a no-op inside a
  // transaction. Each step checks the keys before it commits.
  db.exec("PRAGMA foreign_keys = OFF");
  struct KeysBackOn {
    Db& db;
    ~KeysBackOn() {
      try {
        db.exec("PRAGMA foreign_keys = ON");
      } catch (...) {
      }
    }
  } keys_back_on{db};
  for (;;) {
    Transaction tx(db, Transaction::Write);
    int v = 0;
    {
      Stmt st(db, "PRAGMA user_version");
      v = st.step() ? static_cast<int>(st.col_int(0)) : 0;
    }
    if (v >= target) return;
    db.exec(kMigrations[v]);
    {
      Stmt fk(db, "PRAGMA foreign_key_check");
      if (fk.step()) throw Error(db.path() + ": migration to schema " + std::to_string(v + 1) + " broke a foreign key");
    }
    // PRAGMA takes no bound parameters; the values are program constants, never user text.
    std::string set = "PRAGMA user_version = " + std::to_string(v + 1) + ";";
    if (v == 0) set += "PRAGMA application_id = " + std::to_string(kApplicationId) + ";";
    db.exec(set.c_str());
    tx.commit();
  }
}

}  // namespace hl::store
