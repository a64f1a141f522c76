// `headlight-cli runs`: list, show, export and delete what the run store holds. The work lives in
// storage/ (store.h, run_export.h); this file only maps flags to it and prints JSON.
#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include <regex>

#include "app/cli/commands.h"
#include "core/error.h"
#include "storage/run_export.h"
#include "storage/store.h"

namespace hl::cli {
namespace {

using store::Store;

int64_t run_id_arg(const std::vector<std::string>& pos, const std::string& sub) {
  if (pos.size() < 2) throw Error("runs " + sub + ": missing run ID");
  if (pos.size() > 2) throw Error("runs " + sub + ": unexpected argument \"" + pos[2] + "\"");
  const std::string& s = pos[1];
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end || errno || v <= 0) throw Error("runs " + sub + ": \"" + s + "\" is not a run ID");
  return v;
}

void print(const nlohmann::json& j) { std::cout << j.dump(2) << "\n"; }

int list(const Args& args, const std::string& db_path, bool explicit_db) {
  // Dates compare as ISO-8601 text prefixes: anything else ("yesterday") would silently match nothing or everything.
  static const std::regex iso(R"(\d{4}(-\d{2}(-\d{2}([T ]\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?)?Z?)?)?)");
  for (const char* flag : {"since", "until"})
    if (args.has(flag) && !std::regex_match(args.get(flag), iso))
      throw Error(std::string("--") + flag + ": \"" + args.get(flag) + "\" is not an ISO-8601 date (e.g. 2026-12-01 or 2026-12-01T10:00)");
  struct stat st {};
  if (!explicit_db && ::stat(db_path.c_str(), &st) != 0) {
    print(nlohmann::json::array());  // nothing recorded yet on this machine
    return 0;
  }
  Store s = Store::open(db_path, Store::Access::ReadOnly);
  store::RunFilter f;
  if (args.has("model")) f.model_id = args.get_int("model", 0);
  f.kind = args.get("kind", "");
  f.since = args.get("since", "");
  f.until = args.get("until", "");
  f.limit = args.get_int("limit", 0);
  if (f.limit < 0) throw Error("--limit must be >= 0");
  print(store::run_list_to_json(s.list_runs(f)));
  return 0;
}

int export_run(const Args& args, int64_t id, const std::string& db_path) {
  const std::string format = args.get("format");
  const std::string out = args.get("out");
  if (out.empty()) throw Error("--out: empty path");
  Store s = Store::open(db_path, Store::Access::ReadOnly);
  nlohmann::json report = {{"run", id}, {"format", format}, {"out", out}};
  if (format == "json") {
    store::write_text_file(out, store::run_to_json(s, id).dump(2) + "\n");
  } else if (format == "csv") {
    const std::string table = args.get("table", store::default_csv_table(s, id));
    store::write_text_file(out, store::run_to_csv(s, id, table));
    report["table"] = table;
  } else if (format == "png") {
    store::PngChoice choice;
    if (args.has("map")) choice.map_id = args.get_int("map", 0);
    if (args.has("strength")) choice.strength = args.get_double("strength", 0);
    choice.influence = args.has("influence");
    choice.log_scale = args.has("log");
    choice.head_stat = args.get("head-stat", "");
    choice.head_score = args.get("head-score", "");
    choice.retrieval = args.has("retrieval");
    store::export_run_png(s, id, choice, out);
  } else {
    throw Error("--format: \"" + format + "\" is not csv, json or png");
  }
  print(report);
  return 0;
}

int runs(const Args& args) {
  const auto& pos = args.positional();
  if (pos.empty()) throw Error("runs: missing subcommand (list, show ID, export ID, delete ID)");
  const bool explicit_db = args.has("db");
  const std::string db_path = explicit_db ? args.get("db") : store::default_db_path();
  const std::string& sub = pos[0];
  if (sub == "list") {
    if (pos.size() > 1) throw Error("runs list: unexpected argument \"" + pos[1] + "\"");
    return list(args, db_path, explicit_db);
  }
  if (sub == "show") {
    const int64_t id = run_id_arg(pos, sub);
    Store s = Store::open(db_path, Store::Access::ReadOnly);
    print(store::run_to_json(s, id));
    return 0;
  }
  if (sub == "export") return export_run(args, run_id_arg(pos, sub), db_path);
  if (sub == "delete") {
    const int64_t id = run_id_arg(pos, sub);
    Store s = Store::open(db_path);
    if (!s.delete_run(id)) throw Error(db_path + ": no run " + std::to_string(id));
    print({{"deleted", id}});
    return 0;
  }
  throw Error("runs: unknown subcommand \"" + sub + "\" (list, show ID, export ID, delete ID)");
}

}  // namespace

static RegisterCommand reg(
    "runs", "browse the store: list, show ID, export ID, delete ID",
    {text("db", "FILE", "the store (default ~/.local/share/headlight/headlight.db)"),
     text("model", "ID", "list: runs of this model id"), text("kind", "KIND", "list: runs of this kind"),
     text("since", "DATE", "list: created at or after (ISO-8601, e.g. 2026-12-01 or 2026-12-01T10:00)"),
     text("until", "DATE", "list: created before (ISO-8601)"), integer("limit", "N", "list: at most N runs", 0),
     text("format", "csv|json|png", "export: the format"), text("out", "PATH", "export: output file"),
     text("table", "NAME", "export csv: head_stats, generations, head_scores, niah_cells, retrieval_scores"),
     integer("map", "ID", "export png: which attention map", 0), real("strength", "X", "export png: NIAH panel"),
     flag("influence", "export png: NIAH mean Influence instead of score"), flag("log", "export png: log colour scale"),
     text("head-stat", "NAME", "export png: a layer x head grid of this head statistic (e.g. attn_distance)"),
     text("head-score", "METRIC", "export png: a layer x head grid of this scan/profile score"),
     flag("retrieval", "export png: the NIAH sweep's retrieval-head scores as a layer x head grid")},
    runs, {"ACTION", "ID"});

}  // namespace hl::cli
