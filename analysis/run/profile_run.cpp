#include "analysis/run/profile_run.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <map>

#include "analysis/span_finder.h"
#include "analysis/task_scorers.h"
#include "core/engine/generate.h"
#include "core/engine/head_scan.h"
#include "core/error.h"

namespace hl {
namespace {

using Clock = std::chrono::steady_clock;

int64_t code_points(const std::string& s) {
  int64_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

// The first token of `cont` as it continues `prompt`: tokenised in context, because a tokenizer may spell a
// continuation alone differently (SentencePiece's dummy prefix makes " English" alone "▁" + "▁English").
int64_t first_token(const Tokenizer& tok, const std::string& prompt, const std::string& cont, const std::string& where) {
  const Encoding full = tok.encode(prompt + cont);
  const int64_t pc = code_points(prompt);
  for (size_t i = 0; i < full.ids.size(); ++i)
    if (full.offsets[i].second > pc && full.offsets[i].second > full.offsets[i].first) return full.ids[i];
  const auto ids = tok.encode(cont).ids;
  if (ids.empty()) throw Error(where + " tokenises to nothing");
  return ids.front();
}

// PASTA on `heads` for this example: every head gets the same key-bias row; scan_heads steers them one by one.
AttentionBias candidate_bias(const Model& model, const PreparedExample& ex, const std::vector<HeadRef>& heads,
                             const ProfilePlan& plan) {
  SteeringSpec spec;
  spec.method = SteeringMethod::Pasta;
  for (const auto& h : heads) spec.heads.add(h.layer, h.head);
  spec.alpha = plan.alpha;
  spec.scale_position = plan.scale_position;
  const ModelConfig& c = model.config();
  return compile(spec, c.n_layers, c.n_heads, static_cast<int64_t>(ex.ids.size()), ex.spans);
}

double score_watched(const PreparedTask& t, const PreparedExample& ex, const float* lp) {
  if (t.scorer == SuiteScorer::LabelAccuracy)
    return label_accuracy(std::vector<float>(lp, lp + ex.watch.size()), ex.correct);
  return logprob_margin(lp, ex.has_versus);
}

double score_text(const PreparedTask& t, const PreparedExample& ex, const std::string& text) {
  return t.scorer == SuiteScorer::JsonFormat ? json_format_score(text, ex.target).score()
                                             : pronoun_change_score(text).score();
}

std::string generated_text(const Model& model, std::vector<int64_t> tokens) {
  const auto& eos = model.config().eos_token_ids;
  if (!tokens.empty() && std::find(eos.begin(), eos.end(), tokens.back()) != eos.end()) tokens.pop_back();
  return model.tokenizer()->decode(tokens, true);
}

}  // namespace

PreparedTask prepare_task(const TaskSuite& suite, const Tokenizer& tok, bool add_bos, int64_t max_examples) {
  PreparedTask t;
  t.name = suite.name;
  t.scorer = suite.scorer;
  const size_t n = max_examples > 0 ? std::min<size_t>(static_cast<size_t>(max_examples), suite.examples.size())
                                    : suite.examples.size();
  EncodeOptions eo;
  eo.add_bos = add_bos;
  for (size_t i = 0; i < n; ++i) {
    const SuiteExample& e = suite.examples[i];
    const std::string where = suite.source + ": example " + e.id;
    PreparedExample p;
    Encoding enc = tok.encode(e.prompt, eo);
    if (enc.ids.empty()) throw Error(where + ": the prompt tokenises to nothing");
    p.ids = enc.ids;
    try {
      if (!e.emphasis.empty()) {
        const TokenRange r = find_token_span(e.prompt, enc.offsets, e.emphasis);
        p.spans.push_back({r.begin, r.end, 1.0});
      }
      for (auto [a, b] : e.spans) {
        const TokenRange r = char_range_to_tokens(enc.offsets, {a, b});
        p.spans.push_back({r.begin, r.end, 1.0});
      }
    } catch (const Error& err) {
      throw Error(where + ": " + err.what());
    }
    switch (suite.scorer) {
      case SuiteScorer::LogProb:
        p.watch.push_back(first_token(tok, e.prompt, e.target, where + ": field \"target\""));
        if (!e.versus.empty()) {
          p.watch.push_back(first_token(tok, e.prompt, e.versus, where + ": field \"versus\""));
          p.has_versus = true;
        }
        break;
      case SuiteScorer::LabelAccuracy:
        for (size_t k = 0; k < e.labels.size(); ++k) {
          // A label continues the prompt: score it with its leading space, as BiasBios does for GPT-style BPE.
          const std::string& l = e.labels[k];
          p.watch.push_back(first_token(tok, e.prompt, (l.front() == ' ' ? "" : " ") + l, where + ": field \"labels\""));
          if (l == e.target) p.correct = static_cast<int64_t>(k);
        }
        break;
      case SuiteScorer::JsonFormat:
      case SuiteScorer::PronounChange: p.target = e.target; break;
    }
    t.examples.push_back(std::move(p));
  }
  if (t.examples.empty()) throw Error(suite.source + ": no examples to profile");
  return t;
}

std::vector<ProfileUnit> plan_units(const Model& model, const std::vector<PreparedTask>& tasks, const ProfilePlan& p) {
  const ModelConfig& c = model.config();
  const std::vector<HeadRef> cands = p.heads.expand(c.n_layers, c.n_heads);
  if (cands.empty()) throw Error("profile: no candidate heads");
  // Layer-major order, whatever order the set was written in: units and scores.json list heads the same way.
  std::vector<HeadRef> sorted = cands;
  std::sort(sorted.begin(), sorted.end(),
            [](const HeadRef& a, const HeadRef& b) { return a.layer != b.layer ? a.layer < b.layer : a.head < b.head; });
  const int64_t hb = p.head_block > 0 ? p.head_block : static_cast<int64_t>(sorted.size());
  const int64_t eb = p.example_block > 0 ? p.example_block : 1;
  std::vector<ProfileUnit> units;
  for (size_t t = 0; t < tasks.size(); ++t) {
    const auto n = static_cast<int64_t>(tasks[t].examples.size());
    for (int64_t e0 = 0, ei = 0; e0 < n; e0 += eb, ++ei)
      for (int64_t h0 = 0, hi = 0; h0 < static_cast<int64_t>(sorted.size()); h0 += hb, ++hi) {
        ProfileUnit u;
        u.task = t;
        u.head_block = hi;
        u.example_block = ei;
        u.first_example = e0;
        u.n_examples = std::min(eb, n - e0);
        const int64_t h1 = std::min<int64_t>(h0 + hb, static_cast<int64_t>(sorted.size()));
        u.heads.assign(sorted.begin() + h0, sorted.begin() + h1);
        units.push_back(std::move(u));
      }
  }
  return units;
}

UnitScores compute_unit(const Model& model, const PreparedTask& task, const ProfileUnit& unit, const ProfilePlan& plan,
                        const CancelToken* cancel) {
  const ModelConfig& c = model.config();
  UnitScores out;
  out.heads = unit.heads;
  out.steered.assign(unit.heads.size(), {});
  const bool gen = scorer_generates(task.scorer);
  if (gen && !model.tokenizer()) throw Error("profile: task " + task.name + " generates text and needs a tokenizer");
  for (int64_t k = 0; k < unit.n_examples; ++k) {
    if (cancel && cancel->cancelled()) return out;
    const PreparedExample& ex = task.examples[static_cast<size_t>(unit.first_example + k)];
    const auto T = static_cast<int64_t>(ex.ids.size());
    const AttentionBias cand = candidate_bias(model, ex, unit.heads, plan);
    if (!gen) {
      HeadScanOptions so;
      so.max_rows = plan.scan_rows;
      so.watch_tokens = ex.watch;
      so.cancel = cancel;
      HeadScanResult r = scan_heads(model, ex.ids, cand, so);
      if (r.cancelled) return out;
      const at::Tensor base = r.base.contiguous(), steered = r.steered.contiguous();
      const double b = score_watched(task, ex, base.data_ptr<float>());
      out.base.push_back(b);
      std::map<std::pair<int64_t, int64_t>, int64_t> row;
      for (size_t i = 0; i < r.heads.size(); ++i) row[r.heads[i]] = static_cast<int64_t>(i);
      for (size_t h = 0; h < unit.heads.size(); ++h) {
        auto it = row.find({unit.heads[h].layer, unit.heads[h].head});
        // A head the bias leaves inactive (the span covers the whole prompt) is not steered: its score is the base.
        out.steered[h].push_back(it == row.end() ? b : score_watched(task, ex, steered[it->second].data_ptr<float>()));
      }
      continue;
    }
    GenerateOptions go;
    go.max_new_tokens = plan.max_new_tokens;
    go.cancel = cancel;
    const GenerateResult base = generate(model, ex.ids, go);
    if (base.cancelled) return out;
    out.base.push_back(score_text(task, ex, generated_text(model, base.tokens[0])));
    const int64_t rows = std::max<int64_t>(1, plan.generation_rows);
    for (size_t h0 = 0; h0 < unit.heads.size(); h0 += static_cast<size_t>(rows)) {
      const size_t h1 = std::min(unit.heads.size(), h0 + static_cast<size_t>(rows));
      const auto G = static_cast<int64_t>(h1 - h0);
      AttentionBias bias(G, c.n_layers, c.n_heads, T);
      bias.apply_at = cand.apply_at;
      for (size_t h = h0; h < h1; ++h)
        bias.set(static_cast<int64_t>(h - h0), unit.heads[h].layer, unit.heads[h].head,
                 cand.row(0, unit.heads[h].layer, unit.heads[h].head));
      go.bias = &bias;
      const at::Tensor prompt = at::tensor(ex.ids, at::kLong).unsqueeze(0).expand({G, T}).contiguous();
      const GenerateResult g = generate(model, prompt, go);
      if (g.cancelled) return out;
      for (size_t h = h0; h < h1; ++h)
        out.steered[h].push_back(score_text(task, ex, generated_text(model, g.tokens[h - h0])));
    }
  }
  return out;
}

ProfileRunStats run_profile(const Model& model, const std::vector<PreparedTask>& tasks, const ProfilePlan& plan,
                            ProfileJournal& journal, const CancelToken* cancel, const ProgressFn& progress) {
  const auto start = Clock::now();
  const std::vector<ProfileUnit> units = plan_units(model, tasks, plan);
  ProfileRunStats st;
  st.units = static_cast<int64_t>(units.size());
  std::vector<const ProfileUnit*> todo;
  for (const auto& u : units) {
    if (journal.has(u)) ++st.skipped;
    else todo.push_back(&u);
  }
  // The ETA counts head x example evaluations, not units: units differ in size at the ends of blocks.
  int64_t total_work = 0, done_work = 0;
  for (const ProfileUnit* u : todo) total_work += u->n_examples * static_cast<int64_t>(u->heads.size());
  for (const ProfileUnit* u : todo) {
    if (cancel && cancel->cancelled()) {
      st.cancelled = true;
      break;
    }
    const auto t0 = Clock::now();
    UnitScores s = compute_unit(model, tasks[u->task], *u, plan, cancel);
    if (static_cast<int64_t>(s.base.size()) != u->n_examples) {  // cancelled mid-unit: nothing is recorded
      st.cancelled = true;
      break;
    }
    journal.record(*u, s, std::chrono::duration<double>(Clock::now() - t0).count());
    ++st.computed;
    const int64_t work = u->n_examples * static_cast<int64_t>(u->heads.size());
    st.head_examples += work;
    done_work += work;
    if (progress) {
      Progress p;
      p.done = st.skipped + st.computed;
      p.total = st.units;
      p.elapsed_s = std::chrono::duration<double>(Clock::now() - start).count();
      p.eta_s = p.elapsed_s / static_cast<double>(done_work) * static_cast<double>(total_work - done_work);
      p.what = tasks[u->task].name + " examples " + std::to_string(u->first_example) + "-" +
               std::to_string(u->first_example + u->n_examples - 1) + ", head block " + std::to_string(u->head_block);
      progress(p);
    }
  }
  st.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return st;
}

}  // namespace hl
