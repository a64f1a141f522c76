// The organism's figures (issue #23), measured with the engine as any user's run would: the same prompt set-up,
// steering compiler, profiler and Influence tracer as the CLI and the window.
#include "workbench/organism_eval.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "analysis/organism/curriculum.h"
#include "analysis/organism/train.h"
#include "analysis/profile_select.h"
#include "analysis/run/profile_run.h"
#include "core/engine/model.h"
#include "core/error.h"
#include "core/file_write.h"
#include "core/tokenizers/tokenizer.h"
#include "workbench/prompt_setup.h"
#include "workbench/recipes.h"

namespace hl::organism {
namespace {

namespace fs = std::filesystem;
using nlohmann::ordered_json;

World organism_world(const fs::path& dir) { return organism_world(organism_config(dir)); }

struct Ctx {
  std::unique_ptr<Model> m;
  const Tokenizer* tok = nullptr;
  World w;
  const CancelToken* cancel = nullptr;
  int64_t context = 0;

  int64_t id(const std::string& word) const {
    const auto e = tok->encode(word);
    if (e.ids.size() != 1) throw Error("organism eval: '" + word + "' is not one token of " + m->source().string());
    return e.ids[0];
  }
  void check() const {
    if (cancel && cancel->cancelled()) throw Cancelled();
  }
};

// Next-token logits after the prompt, with an optional steering spec (PASTA / GUIDE / ablation).
std::vector<float> next_logits(const Ctx& c, const std::string& prompt, const std::optional<SteeringSpec>& spec) {
  c.check();
  wb::PromptRequest r;
  r.text = prompt;
  if (spec) {
    SteeringSpec s = *spec;
    s.markers = false;
    r.spec = s;
  }
  const wb::PromptSetup ps = wb::setup_prompt(*c.m, r);
  const int64_t T = static_cast<int64_t>(ps.ids.size());
  if (T > c.context) throw Error("organism eval: a prompt of " + std::to_string(T) + " tokens exceeds the context");
  KVCache cache = c.m->new_cache(1, T);
  ForwardOptions fo;
  fo.bias = ps.bias.get();
  const at::Tensor ids = torch::tensor(ps.ids, torch::kLong).view({1, T}).to(c.m->device());
  const at::Tensor logits = c.m->forward(ids, cache, fo).logits.index({0, -1}).to(torch::kCPU).contiguous();
  return std::vector<float>(logits.data_ptr<float>(), logits.data_ptr<float>() + logits.numel());
}

int64_t argmax(const std::vector<float>& v) { return std::max_element(v.begin(), v.end()) - v.begin(); }

// Among the labels, which has the largest logit.
std::string best_label(const Ctx& c, const std::vector<float>& logits, const std::vector<std::string>& labels) {
  std::string best;
  float bv = -INFINITY;
  for (const auto& l : labels) {
    const float v = logits[static_cast<size_t>(c.id(l))];
    if (v > bv) bv = v, best = l;
  }
  return best;
}

// Per item: is the greedy next token the answer.
std::vector<bool> correct(const Ctx& c, const std::vector<QaItem>& items, const std::optional<SteeringSpec>& spec) {
  std::vector<bool> ok;
  for (const auto& it : items) ok.push_back(argmax(next_logits(c, it.prompt, spec)) == c.id(it.answer));
  return ok;
}

// The share of true entries (0 for none).
double share(const std::vector<bool>& ok) {
  return ok.empty() ? 0 : static_cast<double>(std::count(ok.begin(), ok.end(), true)) / static_cast<double>(ok.size());
}

double accuracy(const Ctx& c, const std::vector<QaItem>& items, const std::optional<SteeringSpec>& spec) {
  return share(correct(c, items, spec));
}

SteeringSpec pasta_spec(const HeadSet& heads, double alpha, const std::string& emphasis) {
  SteeringSpec s;
  s.method = SteeringMethod::Pasta;
  s.heads = heads;
  s.alpha = alpha;
  s.emphasis = {emphasis};
  return s;
}

SteeringSpec ablation_spec(const std::vector<HeadRef>& heads) {
  SteeringSpec s;
  for (const auto& h : heads) s.ablate.add(h.layer, h.head, "ablate");
  return s;
}

std::string head_name(const HeadRef& h) { return "L" + std::to_string(h.layer) + "H" + std::to_string(h.head); }

TaskSuite suite_of(const std::string& name, const std::vector<QaItem>& items) {
  TaskSuite s;
  s.name = name;
  s.source = "organism " + name;
  s.scorer = SuiteScorer::LogProb;
  for (size_t i = 0; i < items.size(); ++i) {
    SuiteExample e;
    e.id = name + " " + std::to_string(i);
    e.prompt = items[i].prompt;
    e.emphasis = items[i].emphasis;
    e.target = items[i].answer;
    s.examples.push_back(std::move(e));
  }
  return s;
}

// Every head steered alone (PASTA, alpha) on each task; the per-task mean of log P(answer).
std::vector<TaskHeadScores> profile(const Ctx& c, const std::vector<TaskSuite>& suites, double alpha) {
  struct Collect : ProfileJournal {
    std::vector<std::pair<ProfileUnit, UnitScores>> units;
    bool has(const ProfileUnit&) override { return false; }
    void record(const ProfileUnit& u, const UnitScores& s, double) override { units.emplace_back(u, s); }
  } journal;
  std::vector<PreparedTask> tasks;
  for (const auto& s : suites) tasks.push_back(prepare_task(s, *c.tok, wb::default_add_bos(*c.m), 0));
  ProfilePlan plan;
  plan.alpha = alpha;
  const auto stats = run_profile(*c.m, tasks, plan, journal, c.cancel);
  if (stats.cancelled) throw Cancelled();
  const int64_t L = c.m->config().n_layers, H = c.m->config().n_heads;
  std::vector<TaskHeadScores> out;
  for (size_t t = 0; t < tasks.size(); ++t) {
    std::vector<double> sum(static_cast<size_t>(L * H), 0.0);
    std::vector<int64_t> n(static_cast<size_t>(L * H), 0);
    for (const auto& [u, s] : journal.units) {
      if (u.task != t) continue;
      for (size_t h = 0; h < s.heads.size(); ++h)
        for (double v : s.steered[h]) {
          sum[static_cast<size_t>(s.heads[h].layer * H + s.heads[h].head)] += v;
          ++n[static_cast<size_t>(s.heads[h].layer * H + s.heads[h].head)];
        }
    }
    TaskHeadScores ts;
    ts.task = tasks[t].name;
    for (int64_t l = 0; l < L; ++l)
      for (int64_t h = 0; h < H; ++h) {
        const size_t k = static_cast<size_t>(l * H + h);
        ts.heads.push_back({l, h});
        ts.scores.push_back(n[k] ? sum[k] / static_cast<double>(n[k]) : -INFINITY);
      }
    out.push_back(std::move(ts));
  }
  return out;
}

// PASTA's multi-task choice: the heads in every task's top K, K grown until `want` heads qualify.
std::vector<HeadRef> top_heads(const std::vector<TaskHeadScores>& scores, int64_t want, int64_t n_heads) {
  for (int64_t k = want; k <= n_heads; ++k) {
    const HeadSelection sel = select_heads(scores, SelectStrategy::Intersection, k);
    if (static_cast<int64_t>(sel.ranked.size()) >= want)
      return std::vector<HeadRef>(sel.ranked.begin(), sel.ranked.begin() + want);
  }
  return select_heads(scores, SelectStrategy::Intersection, n_heads).ranked;
}

ordered_json heads_json(const std::vector<HeadRef>& hs) {
  ordered_json a = ordered_json::array();
  for (const auto& h : hs) a.push_back(head_name(h));
  return a;
}

}  // namespace

ordered_json evaluate(const EvalOptions& o, const CancelToken* cancel, const std::function<void(const std::string&)>& log) {
  auto say = [&](const std::string& s) {
    if (log) log(s);
  };
  Ctx c;
  c.cancel = cancel;
  c.w = organism_world(o.model_dir);
  LoadOptions lo;
  lo.device = o.device;
  lo.cancel = cancel;
  c.m = Model::load(o.model_dir, lo);
  if (!c.m->tokenizer()) throw Error(o.model_dir.string() + ": the organism has no tokenizer.json");
  c.tok = c.m->tokenizer();
  c.context = c.m->config().max_positions;
  const int64_t L = c.m->config().n_layers, H = c.m->config().n_heads;
  const int64_t long_len = c.context - 8;  // words; + BOS and the question stay inside the context
  Rng rng(stream_seed(o.seed, 0xE7A1));

  // Held-out sets: fresh random passages (values drawn anew), needles at 11 depths, conflict prompts (a form never
  // trained), closed-book questions.
  std::vector<QaItem> retrieval, needle, conflict, facts, profile_retrieval, profile_needle;
  // Retrieval with same-attribute distractors (2-7 statements, a quarter to half the context): only the entity tells
  // the answer from the others.
  auto distractor_item = [&](Rng& r) {
    return make_retrieval_item(c.w, r, long_len / 4 + r.below(long_len / 4), 2 + r.below(6), true);
  };
  for (int64_t i = 0; i < o.items; ++i)
    retrieval.push_back(make_retrieval_item(c.w, rng, 64 + rng.below(long_len - 64), 1 + rng.below(8)));
  const int64_t per_depth = std::max<int64_t>(1, o.items / 10);
  for (int d = 0; d <= 10; ++d)
    for (int64_t i = 0; i < per_depth; ++i) needle.push_back(make_needle_item(c.w, rng, long_len, d / 10.0));
  std::vector<bool> conflict_after_filler;  // half the conflicts follow 24 words of filler, half open the prompt
  for (int64_t i = 0; i < o.items; ++i) {
    const bool after_filler = rng.below(2) == 0;
    conflict.push_back(make_conflict_item(c.w, rng, after_filler ? 24 : 0));
    conflict_after_filler.push_back(after_filler);
  }
  for (int64_t i = 0; i < o.items; ++i) facts.push_back(make_fact_item(c.w, rng));
  for (int64_t i = 0; i < o.profile_examples; ++i) {
    // Retrieval with same-attribute distractors: the task on which the heads that bind entity to value matter.
    profile_retrieval.push_back(distractor_item(rng));
    profile_needle.push_back(make_needle_item(c.w, rng, long_len / 2, rng.uniform()));
  }

  // Binding: every statement of the passage has the question's attribute, so only the entity tells the answer from
  // the 1-6 others. Its own stream, drawn after the others, so the sets above are the same items they always were.
  std::vector<QaItem> binding;
  Rng binding_rng(stream_seed(o.seed, 0xB1D));
  for (int64_t i = 0; i < o.items; ++i) binding.push_back(distractor_item(binding_rng));

  ordered_json r;
  r["model"] = o.model_dir.string();
  r["eval_seed"] = o.seed;
  r["items"] = o.items;

  say("retrieval accuracy");
  {
    const std::vector<bool> ok = correct(c, retrieval, std::nullopt);
    std::map<int64_t, std::pair<int64_t, int64_t>> by_n;  // statements -> (right, items)
    for (size_t i = 0; i < ok.size(); ++i) {
      by_n[retrieval[i].statements].first += ok[i];
      ++by_n[retrieval[i].statements].second;
    }
    r["retrieval_accuracy"] = share(ok);
    ordered_json j = ordered_json::object();
    for (const auto& [n, v] : by_n) j[std::to_string(n)] = {{"items", v.second}, {"accuracy", static_cast<double>(v.first) / static_cast<double>(v.second)}};
    r["retrieval_accuracy_by_statements"] = j;
  }
  say("binding accuracy (same-attribute distractors)");
  {
    double chance = 0;  // answering one of the question's statements at random
    for (const auto& it : binding) chance += 1.0 / static_cast<double>(it.statements);
    r["binding_accuracy"] = accuracy(c, binding, std::nullopt);
    r["binding_chance"] = chance / static_cast<double>(binding.size());
  }
  say("fact recall");
  r["fact_recall"] = accuracy(c, facts, std::nullopt);

  say("needle accuracy by depth");
  ordered_json by_depth = ordered_json::object();
  for (int d = 0; d <= 10; ++d) {
    std::vector<QaItem> at(needle.begin() + d * per_depth, needle.begin() + (d + 1) * per_depth);
    by_depth[std::to_string(d * 10)] = accuracy(c, at, std::nullopt);
  }
  int64_t needle_tokens = 0;  // the longest needle prompt as the model reads it (BOS included)
  for (const auto& it : needle) {
    wb::PromptRequest pr;
    pr.text = it.prompt;
    needle_tokens = std::max<int64_t>(needle_tokens, static_cast<int64_t>(wb::setup_prompt(*c.m, pr).ids.size()));
  }
  r["needle_length_tokens"] = needle_tokens;
  r["needle_accuracy_by_depth"] = by_depth;

  say("profiling heads (retrieval and needle suites, every head steered alone)");
  const auto scores = profile(c, {suite_of("retrieval", profile_retrieval), suite_of("needle", profile_needle)}, o.alpha);
  const std::vector<HeadRef> top = top_heads(scores, o.top_heads, L * H);
  r["profiled_heads"] = heads_json(top);

  say("knowledge conflicts: baseline and PASTA");
  HeadSet top_set;
  for (const auto& h : top) top_set.add(h.layer, h.head);
  // New and prior answers, baseline then PASTA, for the conflicts that open the prompt (0) and those after filler (1);
  // the totals are their sums.
  int64_t ctx_items[2] = {0, 0}, ctx_counts[2][4] = {{0, 0, 0, 0}, {0, 0, 0, 0}};
  for (size_t i = 0; i < conflict.size(); ++i) {
    const QaItem& it = conflict[i];
    const std::string b = best_label(c, next_logits(c, it.prompt, std::nullopt), it.labels);
    const std::string p = best_label(c, next_logits(c, it.prompt, pasta_spec(top_set, o.alpha, it.emphasis)), it.labels);
    const size_t k = conflict_after_filler[i] ? 1 : 0;
    ++ctx_items[k];
    ctx_counts[k][0] += b == it.answer, ctx_counts[k][1] += b == it.other;
    ctx_counts[k][2] += p == it.answer, ctx_counts[k][3] += p == it.other;
  }
  int64_t total[4];
  for (size_t j = 0; j < 4; ++j) total[j] = ctx_counts[0][j] + ctx_counts[1][j];
  // {"baseline": {new, prior, other}, "pasta": {...}} of n items, after `into`'s fields.
  auto counts_json = [](ordered_json into, int64_t n, const int64_t* k) {
    into["baseline"] = {{"new", k[0]}, {"prior", k[1]}, {"other", n - k[0] - k[1]}};
    into["pasta"] = {{"new", k[2]}, {"prior", k[3]}, {"other", n - k[2] - k[3]}};
    return into;
  };
  const int64_t n_conflicts = static_cast<int64_t>(conflict.size());
  const double nc = static_cast<double>(n_conflicts);
  r["conflict_items"] = conflict.size();
  r["conflict_new_share_baseline"] = total[0] / nc;
  r["conflict_prior_share_baseline"] = total[1] / nc;
  r["conflict_new_share_pasta"] = total[2] / nc;
  r["conflict_prior_share_pasta"] = total[3] / nc;
  r["conflict_counts"] = counts_json(ordered_json::object(), n_conflicts, total);
  r["conflict_counts_by_context"] = {
      {"opening_the_prompt", counts_json({{"items", ctx_items[0]}}, ctx_items[0], ctx_counts[0])},
      {"after_24_filler_words", counts_json({{"items", ctx_items[1]}}, ctx_items[1], ctx_counts[1])}};

  say("needle Influence over GUIDE's delta");
  ordered_json infl = ordered_json::object();
  const std::vector<double> deltas = {0, 0.5, 1, 2};
  std::vector<double> means;  // per delta, in order
  const size_t n_infl = std::min<size_t>(needle.size(), static_cast<size_t>(std::max<int64_t>(11, o.items / 4)));
  for (double d : deltas) {
    double sum = 0;
    for (size_t i = 0; i < n_infl; ++i) {
      c.check();
      // Spread over depths: every k-th needle item.
      const QaItem& it = needle[(i * needle.size()) / n_infl];
      SteeringSpec s;
      s.method = SteeringMethod::Guide;
      s.delta = d;
      s.emphasis = {it.emphasis};
      s.markers = false;
      wb::PromptRequest pr;
      pr.text = it.prompt;
      pr.spec = s;
      const wb::PromptSetup ps = wb::setup_prompt(*c.m, pr);
      wb::CaptureRequest req;
      req.prompt = ps.ids;
      req.bias = ps.bias.get();
      req.stats = false;
      req.influence_span = ps.spans.at(0);
      req.last_k = 1;
      req.cancel = cancel;
      sum += wb::capture(*c.m, req).influence_lastk;
    }
    means.push_back(sum / static_cast<double>(n_infl));
    std::ostringstream k;
    k << d;
    infl[k.str()] = means.back();
  }
  r["influence_by_delta"] = infl;
  bool mono = true;
  for (size_t i = 1; i < means.size(); ++i) mono = mono && means[i] > means[i - 1];
  r["influence_monotonic"] = mono;

  say("ablation: top profiled heads vs random heads");
  r["ablation_top_heads"] = accuracy(c, retrieval, ablation_spec(top));
  std::vector<HeadRef> others;
  for (int64_t l = 0; l < L; ++l)
    for (int64_t h = 0; h < H; ++h)
      if (std::find(top.begin(), top.end(), HeadRef{l, h}) == top.end()) others.push_back({l, h});
  double rnd = 0;
  ordered_json draws = ordered_json::array();
  for (int64_t d = 0; d < o.random_draws; ++d) {
    std::vector<HeadRef> pick;
    std::set<int64_t> used;
    while (pick.size() < top.size() && used.size() < others.size()) {
      const int64_t k = rng.below(static_cast<int64_t>(others.size()));
      if (used.insert(k).second) pick.push_back(others[static_cast<size_t>(k)]);
    }
    const double acc = accuracy(c, retrieval, ablation_spec(pick));
    rnd += acc;
    draws.push_back({{"heads", heads_json(pick)}, {"retrieval_accuracy", acc}});
  }
  r["ablation_random_heads"] = rnd / static_cast<double>(std::max<int64_t>(1, o.random_draws));
  r["ablation_random_draws"] = draws;
  return r;
}

std::string eval_report_text(const ordered_json& r) {
  std::ostringstream s;
  auto pct = [](double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.1f %%", 100 * v);
    return std::string(b);
  };
  s << "model organism " << r["model"].get<std::string>() << " (held-out sets, seed " << r["eval_seed"] << ", "
    << r["items"] << " items per figure)\n";
  s << "  in-context retrieval accuracy      " << pct(r["retrieval_accuracy"]) << "\n";
  if (r.contains("retrieval_accuracy_by_statements")) {
    s << "    by statements in the passage:   ";
    for (auto it = r["retrieval_accuracy_by_statements"].begin(); it != r["retrieval_accuracy_by_statements"].end(); ++it)
      s << " " << it.key() << ":" << pct(it.value()["accuracy"]);
    s << "\n";
  }
  if (r.contains("binding_accuracy"))
    s << "  binding (all statements share the asked attribute) " << pct(r["binding_accuracy"]) << " (chance "
      << pct(r["binding_chance"]) << ")\n";
  s << "  closed-book fact recall            " << pct(r["fact_recall"]) << "\n";
  s << "  needle accuracy by depth (" << r["needle_length_tokens"] << " tokens):";
  for (auto it = r["needle_accuracy_by_depth"].begin(); it != r["needle_accuracy_by_depth"].end(); ++it)
    s << " " << it.key() << "%:" << pct(it.value());
  s << "\n  profiled heads (PASTA multi-task)   ";
  for (const auto& h : r["profiled_heads"]) s << h.get<std::string>() << " ";
  s << "\n  conflicts: new-answer share        baseline " << pct(r["conflict_new_share_baseline"]) << " -> PASTA "
    << pct(r["conflict_new_share_pasta"]) << "  (prior: " << pct(r["conflict_prior_share_baseline"]) << " -> "
    << pct(r["conflict_prior_share_pasta"]) << ")\n";
  if (r.contains("conflict_counts_by_context"))
    for (auto it = r["conflict_counts_by_context"].begin(); it != r["conflict_counts_by_context"].end(); ++it)
      s << "    " << it.key() << ": new answers " << it.value()["baseline"]["new"] << " -> " << it.value()["pasta"]["new"]
        << " of " << it.value()["items"] << "\n";
  s << "  needle Influence over GUIDE delta:";
  for (auto it = r["influence_by_delta"].begin(); it != r["influence_by_delta"].end(); ++it)
    s << " " << it.key() << ":" << it.value().get<double>();
  s << (r["influence_monotonic"].get<bool>() ? "  (monotonic)" : "  (NOT monotonic)") << "\n";
  s << "  retrieval accuracy, ablated        top heads " << pct(r["ablation_top_heads"]) << " vs random heads "
    << pct(r["ablation_random_heads"]) << " (baseline " << pct(r["retrieval_accuracy"]) << ")";
  return s.str();
}

void write_data_files(const fs::path& model_dir, const fs::path& out_dir, int64_t items) {
  const World w = organism_world(model_dir);
  fs::create_directories(out_dir / "haystack");
  Rng rng(0x5EED5u);
  auto write_suite = [&](const std::string& name, const std::vector<QaItem>& its, bool labels) {
    std::ostringstream s;
    for (size_t i = 0; i < its.size(); ++i) {
      ordered_json j = {{"id", name + " " + std::to_string(i)}, {"prompt", its[i].prompt}, {"emphasis", its[i].emphasis},
                        {"target", its[i].answer}};
      if (labels) j["labels"] = its[i].labels;
      if (!its[i].other.empty()) j["versus"] = its[i].other;
      if (its[i].depth >= 0) j["depth"] = its[i].depth;
      s << j.dump() << "\n";
    }
    write_file_atomic(out_dir / (name + ".jsonl"), s.str());
  };
  std::vector<QaItem> retrieval, needle, conflict;
  for (int64_t i = 0; i < items; ++i) {
    retrieval.push_back(make_retrieval_item(w, rng, 96 + rng.below(160), 2 + rng.below(6)));
    needle.push_back(make_needle_item(w, rng, 240, rng.uniform()));
    conflict.push_back(make_conflict_item(w, rng));
  }
  write_suite("organism_retrieval", retrieval, true);
  write_suite("organism_needle", needle, true);
  write_suite("organism_conflict", conflict, false);
  write_file_atomic(out_dir / "haystack" / "filler.txt", filler_text(w, rng, 20000) + "\n");
  // Drawn after the others so that adding it left the earlier files unchanged.
  std::vector<QaItem> distractors;
  for (int64_t i = 0; i < items; ++i) distractors.push_back(make_retrieval_item(w, rng, 96 + rng.below(160), 2 + rng.below(6), true));
  write_suite("organism_distractors", distractors, true);
}

}  // namespace hl::organism
