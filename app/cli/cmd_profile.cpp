// profile: PASTA multi-task head profiling (methods.md §3). Every candidate head steered alone on every example of
// every suite (analysis/run/profile_run.h), units recorded in the store as they finish, so a killed profile
// rerun with the same arguments computes only what is missing; then scores.json.
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "app/cli/commands.h"
#include "app/cli/model_args.h"
#include "core/steering/head_config.h"
#include "storage/store.h"
#include "workbench/profiling.h"

namespace hl::cli {
namespace {

ScalePosition parse_scale_position(const std::string& s) {
  if (s == "exclude") return ScalePosition::Exclude;
  if (s == "include") return ScalePosition::Include;
  if (s == "generation") return ScalePosition::Generation;
  throw Error("--scale-position " + s + ": expected exclude, include or generation");
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  size_t p = 0;
  while (p <= s.size()) {
    const size_t q = std::min(s.find(',', p), s.size());
    if (q > p) out.push_back(s.substr(p, q - p));
    p = q + 1;
  }
  return out;
}

int cmd_profile(const Args& a) {
  wb::ProfileRequest req;
  req.out_path = a.get("out");
  req.suites = split_list(a.get("suite"));
  if (req.suites.empty()) throw Error("--suite: give at least one suite name or file");
  auto m = load_model(a);
  req.alpha = a.get_double("alpha", 0.01);
  if (!(req.alpha > 0) || !std::isfinite(req.alpha)) throw Error("--alpha must be a finite number > 0");
  req.scale_position = parse_scale_position(a.get("scale-position", "exclude"));
  const std::string heads_arg = a.get("heads", "all");
  req.heads = heads_arg.size() > 5 && heads_arg.substr(heads_arg.size() - 5) == ".json"
                  ? load_head_config(heads_arg)
                  : parse_head_set_text(heads_arg, "--heads");
  req.head_block = a.get_int("head-block", 0);
  req.example_block = a.get_int("example-block", 4);
  req.rows = a.get_int("rows", 0);
  req.max_new_tokens = a.get_int("max-new", 24);
  // The authors found 100 examples per task rank heads close to 1000 (PASTA issue #1); 0 takes every example.
  req.examples = a.get_int("examples", 100);

  store::Store st = store::Store::open(a.get("db", store::default_db_path()));
  const bool quiet = a.has("quiet");
  Progress last;
  int64_t job = 0;
  wb::ProfileOutcome out;
  try {
    out = wb::run_profiling(
        *m, req, st, &interrupted(),
        [&](const Progress& p) {
          last = p;
          if (!quiet)
            std::fprintf(stderr, "profile: %lld/%lld units, %.1f s, eta %.1f s (%s)\n", static_cast<long long>(p.done),
                         static_cast<long long>(p.total), p.elapsed_s, p.eta_s, p.what.c_str());
        },
        [&](const wb::ProfileScores& s) { job = s.job_id; });
  } catch (const Cancelled&) {
    // Ctrl-C / SIGTERM (main's handler): the job and its run say cancelled; the units recorded so far stay.
    std::fprintf(stderr, "profile: cancelled after %lld of %lld units; rerun with the same arguments to resume (job %lld)\n",
                 static_cast<long long>(last.done), static_cast<long long>(last.total), static_cast<long long>(job));
    throw;
  }
  const wb::ProfileScores& s = out.scores;
  const nlohmann::json summary = {{"out", s.out_path},
                                  {"db", st.path()},
                                  {"job", s.job_id},
                                  {"resumed", s.resumed},
                                  {"units", s.units},
                                  {"computed", s.computed},
                                  {"skipped", s.skipped},
                                  {"head_examples", out.head_examples},
                                  {"seconds", out.seconds},
                                  {"head_examples_per_s", out.seconds > 0 ? out.head_examples / out.seconds : 0.0}};
  std::printf("%s\n", summary.dump().c_str());
  return 0;
}

RegisterCommand reg(
    "profile", "multi-task head profiling: every head steered alone on every example of every suite (resumable)",
    model_options() +
        std::vector<OptionSpec>{
            text("suite", "NAME|FILE[,..]", "task suites: built-in names (counterfact, pair_qa, bios, json_format, "
                                            "pronoun_change) or suite JSONL files (required)"),
            integer("examples", "N", "examples per suite (default 100; 0 = all)", 0),
            real("alpha", "A", "PASTA's alpha for the steered head (default 0.01)", 1e-30, 1e30),
            text("scale-position", "MODE", "exclude (default), include, generation"),
            text("heads", "all|SPEC|FILE.json", "candidate heads (default all)"),
            integer("head-block", "N", "heads per recorded unit (default 0 = one layer's)", 0),
            integer("example-block", "N", "examples per recorded unit (default 4)", 1),
            integer("rows", "N", "heads per batched forward (default 0 = one layer's)", 0),
            integer("max-new", "N", "tokens generation scorers generate (default 24)", 1, 1 << 16),
            flag("quiet", "no progress line"),
            text("db", "FILE", "the store holding the job and its units (default ~/.local/share/headlight/headlight.db)"),
            text("out", "scores.json", "the scores file (required)")},
    cmd_profile);

}  // namespace
}  // namespace hl::cli
