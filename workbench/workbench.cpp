// [SECTION] index: Impl state · publishing · set_document and the stage chain · Load · Prepare · Baseline and
// Steered · Capture (focus change) · Scan · Sweep and Profile · store jobs · runs and head files.
//
// The worker owns the model, the SteeringSession and the store connection; the UI thread owns the Document. Stage
// jobs carry the document generation they were made for and end as superseded when a newer one exists, so a job
// never publishes results of a stale document.
#include "workbench/workbench.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <mutex>

#include "core/engine/generate.h"
#include "core/engine/model.h"
#include "core/engine/session.h"
#include "core/error.h"
#include "core/steering/head_config.h"
#include "core/tokenizers/tokenizer.h"
#include "storage/run_export.h"
#include "storage/store.h"
#include "workbench/head_scan_table.h"
#include "workbench/job_queue.h"
#include "workbench/niah_sweep.h"
#include "workbench/profiling.h"
#include "workbench/prompt_setup.h"
#include "workbench/recipes.h"
#include "workbench/run_recorder.h"

namespace hl::wb {
namespace {

const std::vector<JobKind> kDocumentJobs = {JobKind::Prepare, JobKind::Baseline, JobKind::Steered,
                                            JobKind::Capture, JobKind::Influence, JobKind::Scan};

bool same_sampling(const SamplingSettings& a, const SamplingSettings& b) {
  return a.temperature == b.temperature && a.top_k == b.top_k && a.top_p == b.top_p && a.seed == b.seed &&
         a.max_new_tokens == b.max_new_tokens && a.stop_at_eos == b.stop_at_eos;
}

// The document field an error is about, so the UI can show it next to that field. Errors name their field first
// ("heads: entry L9: ...", "sampling: ..."); the span finder names the substring it could not find.
FieldIssue issue_from(const std::string& msg) {
  static const char* fields[] = {"heads", "ablate", "ablation", "alpha", "delta", "multiplier", "layers", "spans", "emphasis",
                                 "influence_span", "occurrence", "scale_position", "apply_at", "head_index",
                                 "multispan", "span_match", "method", "sampling", "prompt", "ids", "model"};
  if (msg.rfind("span finder:", 0) == 0) return {"emphasis", msg};
  size_t best = std::string::npos;
  std::string field = "prompt";
  for (const char* f : fields) {
    const size_t at = msg.find(f);
    if (at != std::string::npos && at < best && at < 40) {
      best = at;
      field = f;
    }
  }
  return {field, msg};
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// The streamed continuation made whole from the generation's result (a cancelled one is superseded: thrown).
void finish(Continuation& cont, const GenerateResult& r, std::chrono::steady_clock::time_point t0) {
  if (r.cancelled) throw Cancelled();
  cont.ids = r.tokens[0];
  cont.probs = r.chosen_probs[0];
  cont.finished = true;
  cont.seconds = seconds_since(t0);
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// [SECTION] Impl state

struct Workbench::Impl {
  WorkbenchOptions opt;
  std::atomic<uint64_t> version{1};
  std::atomic<uint64_t> doc_gen{0};  // bumped by set_document; stage jobs of older generations are superseded

  // Published (guarded by mu).
  mutable std::mutex mu;
  Snapshot snap;

  // UI thread.
  Document doc;
  bool have_doc = false;

  // Worker thread only.
  std::unique_ptr<Model> model;
  std::unique_ptr<SteeringSession> session;
  std::vector<int64_t> session_ids;
  SamplingSettings session_sampling;
  bool baseline_done = false;
  std::shared_ptr<const PromptSetup> setup;  // of setup_gen
  uint64_t setup_gen = 0;
  std::optional<Document> latest_doc;  // the UI's document (guarded by mu): focus and reload read it
  std::optional<store::Store> store;
  bool store_failed = false;

  std::unique_ptr<JobQueue> queue;  // last member: destroyed (joined) first

  void bump() { version.fetch_add(1, std::memory_order_relaxed); }
  template <class F>
  void publish(F&& f) {
    {
      std::lock_guard<std::mutex> lk(mu);
      f(snap);
    }
    bump();
  }

  // Superseded: a newer document exists.
  void check_gen(JobScope& js, uint64_t gen) const {
    js.check();
    if (gen != doc_gen.load()) throw Cancelled();
  }

  store::Store* open_store() {
    if (opt.db_path.empty() || store_failed) return nullptr;
    if (!store) {
      try {
        store.emplace(store::Store::open(opt.db_path));
      } catch (const std::exception& e) {
        store_failed = true;
        publish([&](Snapshot& s) { s.store_error = e.what(); });
        return nullptr;
      }
    }
    return &*store;
  }

  // Runs f with the open store lent to a RunRecorder (null without a store); the store comes back afterwards.
  template <class F>
  void with_recorder(F&& f) {
    store::Store* st = open_store();
    if (!st) {
      f(static_cast<RunRecorder*>(nullptr));
      return;
    }
    RunRecorder rec(std::move(*st));
    store.reset();
    struct Restore {
      Impl* im;
      RunRecorder& rec;
      ~Restore() { im->store.emplace(std::move(rec.store())); }
    } restore{this, rec};
    f(&rec);
  }

  void enqueue_stages(uint64_t gen, const Document& d);
  std::optional<ModelInfo> snapshot_model() const {
    std::lock_guard<std::mutex> lk(mu);
    return snap.model;
  }
  std::optional<Document> latest_document() const {
    std::lock_guard<std::mutex> lk(mu);
    return latest_doc;
  }
  // Prepares and runs the UI's latest document (if any) as a new generation.
  void run_latest_document() {
    if (auto d = latest_document()) enqueue_stages(++doc_gen, *d);
  }
  void prepare(JobScope& js, uint64_t gen, const Document& d);
  void run_baseline(JobScope& js, uint64_t gen);
  void run_steered(JobScope& js, uint64_t gen);
  void run_capture(JobScope& js, uint64_t gen);
  void run_scan(JobScope& js, uint64_t gen);
  std::shared_ptr<VariantResult> analyse(JobScope& js, const Continuation& cont, const AttentionBias* bias);
  void record(JobScope& js, const VariantResult& base, const VariantResult* steered);
  void record_variants(JobScope& js, RunRecorder& rec, const VariantResult& base, const VariantResult* steered);
  GenerateOptions generate_options(JobScope& js, Continuation& cont, bool steered, uint64_t gen,
                                   std::chrono::steady_clock::time_point t0);
};

Workbench::Workbench(WorkbenchOptions opt) : impl_(std::make_unique<Impl>()) {
  impl_->opt = std::move(opt);
  impl_->snap.store_path = impl_->opt.db_path;
  set_compute_threads(impl_->opt.threads);
  Impl* im = impl_.get();
  impl_->queue = std::make_unique<JobQueue>([im] { im->bump(); }, impl_->opt.max_finished_jobs);
}

Workbench::~Workbench() {
  impl_->queue.reset();  // cancels and joins before the model goes
}

// ---------------------------------------------------------------------------------------------------------------
// [SECTION] publishing

Snapshot Workbench::snapshot() const {
  Snapshot s;
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    s = impl_->snap;
  }
  s.jobs = impl_->queue->jobs();
  s.version = impl_->version.load();
  return s;
}

uint64_t Workbench::version() const { return impl_->version.load(); }
bool Workbench::idle() const { return impl_->queue->idle(); }
bool Workbench::wait_idle(double timeout_s) const { return impl_->queue->wait_idle(timeout_s); }
const std::string& Workbench::db_path() const { return impl_->opt.db_path; }
const Document& Workbench::document() const { return impl_->doc; }
void Workbench::cancel(uint64_t job_id) { impl_->queue->cancel(job_id); }
void Workbench::cancel_all() { impl_->queue->cancel_kinds({}); }

// ---------------------------------------------------------------------------------------------------------------
// [SECTION] Load

uint64_t Workbench::load_model(const std::string& path, const std::string& device, const std::string& dtype) {
  Impl* im = impl_.get();
  im->queue->cancel_kinds({});
  ++im->doc_gen;
  return im->queue->submit(JobKind::Load, "load " + path, [im, path, device, dtype](JobScope& js) {
    LoadOptions lo;
    lo.device = device;
    lo.dtype = dtype;
    lo.cancel = &js.cancel();
    lo.progress = [&js](const Progress& p) { js.progress(p.done, p.total, p.what); };
    const auto t0 = std::chrono::steady_clock::now();
    std::unique_ptr<Model> m;
    try {
      m = Model::load(path, lo);
    } catch (const std::exception& e) {
      if (!dynamic_cast<const Cancelled*>(&e)) im->publish([&](Snapshot& s) { s.model_error = e.what(); });
      // A failed or cancelled load leaves the previous model (if any): its document runs again (load_model
      // cancelled its jobs).
      if (im->model) im->run_latest_document();
      throw;
    }
    ModelInfo info;
    const ModelConfig& c = m->config();
    info.path = path;
    info.model_type = c.model_type;
    info.n_layers = c.n_layers;
    info.n_heads = c.n_heads;
    info.n_kv_heads = c.n_kv_heads;
    info.head_dim = c.head_dim;
    info.hidden = c.hidden;
    info.vocab = c.vocab;
    info.max_positions = c.max_positions;
    info.params = m->param_count();
    info.device = device;
    info.dtype = dtype;
    info.packed = m->weights_packed();
    info.has_tokenizer = m->tokenizer() != nullptr;
    info.load_seconds = seconds_since(t0);
    const store::ModelRecord mr = model_record(*m);
    info.record_path = mr.path;
    info.config_hash = mr.config_hash;
    im->session.reset();
    im->model = std::move(m);
    im->baseline_done = false;
    im->setup.reset();
    im->publish([&](Snapshot& s) {
      s.model = info;
      s.model_error.clear();
      s.prompt.reset();
      s.baseline.reset();
      s.steered.reset();
      s.scan.reset();
    });
    im->run_latest_document();  // the document of the moment, on the new model
  });
}

// ---------------------------------------------------------------------------------------------------------------
// [SECTION] set_document and the stage chain

uint64_t Workbench::set_document(const Document& d) {
  Impl* im = impl_.get();
  const bool had = im->have_doc;
  const Document old = im->doc;
  im->doc = d;
  im->have_doc = true;
  {
    std::lock_guard<std::mutex> lk(im->mu);
    im->latest_doc = d;
  }
  const bool content_changed = !had || old.prompt != d.prompt || old.spec != d.spec ||
                               !same_sampling(old.sampling, d.sampling);
  if (!content_changed) {
    if (old.focus_layer != d.focus_layer || old.focus_head != d.focus_head) {
      const uint64_t gen = im->doc_gen.load();
      im->queue->submit(JobKind::Capture, "attention of " + (d.focus_head < 0 ? "L" + std::to_string(d.focus_layer)
                                                                               : head_name(d.focus_layer, d.focus_head)),
                        [im, gen](JobScope& js) { im->run_capture(js, gen); }, {JobKind::Capture});
    }
    return im->doc_gen.load();
  }
  const uint64_t gen = ++im->doc_gen;
  // A steering-only change keeps a running baseline (same prompt, same sampling: still the baseline wanted).
  std::vector<JobKind> stale = kDocumentJobs;
  if (had && old.prompt == d.prompt && same_sampling(old.sampling, d.sampling))
    stale.erase(std::remove(stale.begin(), stale.end(), JobKind::Baseline), stale.end());
  im->queue->cancel_kinds(stale);
  im->enqueue_stages(gen, d);
  return gen;
}

void Workbench::rerun() {
  Impl* im = impl_.get();
  if (!im->have_doc) return;
  const uint64_t gen = ++im->doc_gen;
  im->queue->cancel_kinds(kDocumentJobs);
  im->queue->submit(JobKind::Custom, "reset", [im](JobScope&) {
    im->session.reset();
    im->baseline_done = false;
  });
  im->enqueue_stages(gen, im->doc);
}

void Workbench::Impl::enqueue_stages(uint64_t gen, const Document& d) {
  queue->submit(JobKind::Prepare, "prepare prompt", [this, gen, d](JobScope& js) { prepare(js, gen, d); });
}

// ---------------------------------------------------------------------------------------------------------------
// [SECTION] Prepare: tokenise, resolve the steering, decide what must run

void Workbench::Impl::prepare(JobScope& js, uint64_t gen, const Document& d) {
  check_gen(js, gen);
  auto prepared = std::make_shared<PreparedPrompt>();
  prepared->generation = gen;
  prepared->spec_json = steering_spec_to_json(d.spec, -1);
  if (!model) {
    prepared->issues.push_back({"model", "no model is loaded"});
    publish([&](Snapshot& s) { s.prompt = prepared; });
    return;
  }
  std::shared_ptr<PromptSetup> ps;
  try {
    PromptRequest req;
    req.text = d.prompt;
    req.spec = d.spec;
    ps = std::make_shared<PromptSetup>(setup_prompt(*model, req));
    GenerateOptions go;
    go.max_new_tokens = d.sampling.max_new_tokens;
    if (d.sampling.max_new_tokens < 1) throw Error("sampling: max new tokens must be at least 1");
    if (!(d.sampling.temperature >= 0) || !std::isfinite(d.sampling.temperature))
      throw Error("sampling: temperature must be a finite number >= 0");
    if (!(d.sampling.top_p > 0 && d.sampling.top_p <= 1)) throw Error("sampling: top-p must be in (0, 1]");
    check_generation_fits(*model, static_cast<int64_t>(ps->ids.size()), go);
  } catch (const Error& e) {
    prepared->issues.push_back(issue_from(e.what()));
    publish([&](Snapshot& s) {
      s.prompt = prepared;
      s.steered.reset();
    });
    setup.reset();
    return;
  }
  prepared->clean_text = ps->text;
  prepared->ids = ps->ids;
  prepared->token_texts = token_labels(*model, ps->ids);
  prepared->offsets = ps->offsets;
  prepared->spans = ps->steering_spans;
  if (ps->influence_span) prepared->influence_span = TokenRange{ps->influence_span->first, ps->influence_span->second};
  const auto T = static_cast<int64_t>(ps->ids.size());
  if (ps->spec.method != SteeringMethod::None) prepared->key_bias = key_bias(ps->spec, T, ps->steering_spans);
  setup = ps;
  setup_gen = gen;

  const bool same_session = session && session_ids == ps->ids && same_sampling(session_sampling, d.sampling);
  if (!same_session) {
    session = std::make_unique<SteeringSession>(*model, ps->ids, d.sampling.max_new_tokens);
    session_ids = ps->ids;
    session_sampling = d.sampling;
    baseline_done = false;
  }
  publish([&](Snapshot& s) {
    s.prompt = prepared;
    if (!same_session) {
      s.baseline.reset();
      s.scan.reset();
    }
  });
  check_gen(js, gen);
  if (!baseline_done)
    queue->submit(JobKind::Baseline, "baseline", [this, gen](JobScope& j) { run_baseline(j, gen); });
  queue->submit(JobKind::Steered, "steered", [this, gen](JobScope& j) { run_steered(j, gen); });
}

// ---------------------------------------------------------------------------------------------------------------
// [SECTION] Baseline and Steered

GenerateOptions Workbench::Impl::generate_options(JobScope& js, Continuation& cont, bool steered, uint64_t gen,
                                                  std::chrono::steady_clock::time_point t0) {
  const SamplingSettings& s = session_sampling;
  GenerateOptions go;
  go.max_new_tokens = s.max_new_tokens;
  go.sampling.temperature = s.temperature;
  go.sampling.top_k = s.top_k;
  go.sampling.top_p = s.top_p;
  go.sampling.seed = s.seed;
  go.stop_at_eos = s.stop_at_eos;
  go.cancel = &js.cancel();
  go.on_token = [this, &js, &cont, steered, gen, t0](int64_t, int64_t tok) {
    cont.ids.push_back(tok);
    cont.token_texts.push_back(token_labels(*model, {tok}).front());
    cont.text += model->tokenizer() ? model->tokenizer()->token_text(tok) : std::to_string(tok) + " ";
    cont.seconds = seconds_since(t0);
    if (cont.first_token_seconds < 0) cont.first_token_seconds = cont.seconds;
    auto v = std::make_shared<VariantResult>();
    v->generation = gen;
    v->continuation = cont;
    publish([&](Snapshot& s) { (steered ? s.steered : s.baseline) = v; });
    js.progress(static_cast<int64_t>(cont.ids.size()), session_sampling.max_new_tokens, "token");
    return true;
  };
  return go;
}

std::shared_ptr<VariantResult> Workbench::Impl::analyse(JobScope& js, const Continuation& cont,
                                                        const AttentionBias* bias) {
  const Document d = latest_document().value_or(Document{});
  CaptureRequest req;
  req.prompt = setup->ids;
  req.continuation = cont.ids;
  req.bias = bias;
  req.spans = setup->spans;
  const int64_t L = model->config().n_layers, H = model->config().n_heads;
  if (d.focus_layer >= 0 && d.focus_layer < L && d.focus_head >= -1 && d.focus_head < H)
    req.maps.push_back({d.focus_layer, d.focus_head});
  if (setup->influence_span) req.influence_span = setup->influence_span;
  else if (!setup->spans.empty()) req.influence_span = setup->spans.front();
  req.cancel = &js.cancel();
  js.progress(0, 1, "capture");
  CaptureOutput out = capture(*model, req);
  auto v = std::make_shared<VariantResult>();
  v->continuation = cont;
  if (out.stats) v->stats = std::make_shared<const HeadStatsTable>(std::move(*out.stats));
  if (!out.maps.empty()) v->map = std::make_shared<const AttentionMap>(std::move(out.maps.front()));
  if (out.influence) v->influence = std::make_shared<const InfluenceCurves>(std::move(*out.influence));
  return v;
}

void Workbench::Impl::run_baseline(JobScope& js, uint64_t gen) {
  check_gen(js, gen);  // once started it finishes even if the steering changes: the prompt is what it depends on
  if (!session || !setup) throw Error("baseline: no prepared prompt");
  const auto t0 = std::chrono::steady_clock::now();
  Continuation cont;
  GenerateOptions go = generate_options(js, cont, false, gen, t0);
  finish(cont, session->baseline(go), t0);
  auto v = analyse(js, cont, nullptr);
  v->generation = gen;
  baseline_done = true;
  publish([&](Snapshot& s) { s.baseline = v; });
}

void Workbench::Impl::run_steered(JobScope& js, uint64_t gen) {
  check_gen(js, gen);
  if (!session || !setup || setup_gen != gen) throw Cancelled();
  if (!baseline_done) throw Error("steered: the baseline did not finish");
  std::shared_ptr<const VariantResult> base;
  {
    std::lock_guard<std::mutex> lk(mu);
    base = snap.baseline;
  }
  const AttentionBias* bias = setup->bias && setup->bias->any_active() ? setup->bias.get() : nullptr;
  if (!bias) {
    // Nothing is steered (no method, alpha = 1, delta = 0, no heads or no span): the steered run is the baseline.
    auto same = std::make_shared<VariantResult>(*base);  // the baseline's arrays, shared; this document's generation
    same->generation = gen;
    publish([&](Snapshot& s) { s.steered = same; });
    record(js, *base, nullptr);
    return;
  }
  const auto t0 = std::chrono::steady_clock::now();
  Continuation cont;
  GenerateOptions go = generate_options(js, cont, true, gen, t0);
  go.bias = bias;
  finish(cont, session->steered(go), t0);
  auto v = analyse(js, cont, bias);
  v->generation = gen;
  check_gen(js, gen);
  publish([&](Snapshot& s) { s.steered = v; });
  record(js, *base, v.get());
}

void Workbench::Impl::record(JobScope& js, const VariantResult& base, const VariantResult* steered) {
  if (!open_store()) return;
  with_recorder([&](RunRecorder* r) { record_variants(js, *r, base, steered); });
  publish([&](Snapshot& s) { ++s.runs_recorded; });
}

void Workbench::Impl::record_variants(JobScope& js, RunRecorder& rec, const VariantResult& base,
                                      const VariantResult* steered) {
  const SamplingSettings& s = session_sampling;
  rec.start("generate", *model, *setup, {s.temperature, s.top_p, s.top_k, s.max_new_tokens},
            static_cast<int64_t>(s.seed));
  js.set_run_id(rec.run_id());
  try {
    auto gen_record = [&](const char* variant, const Continuation& c) {
      store::GenerationRecord g;
      g.variant = variant;
      for (auto t : c.ids) g.token_ids.push_back(static_cast<int32_t>(t));
      g.text = model->tokenizer() ? model->tokenizer()->decode(c.ids, true) : std::string();
      g.step_probs = c.probs;
      return g;
    };
    std::vector<store::GenerationRecord> gens = {gen_record("baseline", base.continuation)};
    if (steered) gens.push_back(gen_record("steered", steered->continuation));
    rec.store().add_generations(rec.run_id(), gens);
    const VariantResult& main = steered ? *steered : base;
    if (main.stats) add_head_stats(rec.store(), rec.run_id(), *main.stats);
    auto add_map = [&](const VariantResult& v, const char* phase) {
      if (!v.map) return;
      const AttentionMap& m = *v.map;
      rec.store().add_attention_map(rec.run_id(), static_cast<int32_t>(m.layer), static_cast<int32_t>(m.head), phase,
                                    to_matrix(m.rows, m.cols, m.values));
    };
    add_map(main, steered ? "steered" : "baseline");
    if (steered) add_map(base, "baseline");
    if (main.influence) add_influence_traces(rec.store(), rec.run_id(), *main.influence);
    // The span column names the variant: "12:20 baseline".
    if (steered && base.influence) add_influence_traces(rec.store(), rec.run_id(), *base.influence, " baseline");
    rec.finish("done");
  } catch (const std::exception& e) {
    rec.finish("failed");
    throw;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// [SECTION] Capture (the focused head changed)

void Workbench::Impl::run_capture(JobScope& js, uint64_t gen) {
  check_gen(js, gen);
  if (!model || !setup) return;
  std::shared_ptr<const VariantResult> base, steer;
  {
    std::lock_guard<std::mutex> lk(mu);
    base = snap.baseline;
    steer = snap.steered;
  }
  const AttentionBias* bias = setup->bias && setup->bias->any_active() ? setup->bias.get() : nullptr;
  auto redo = [&](const std::shared_ptr<const VariantResult>& v, const AttentionBias* b) {
    if (!v || !v->continuation.finished) return v;
    auto fresh = analyse(js, v->continuation, b);
    fresh->generation = v->generation;
    return std::shared_ptr<const VariantResult>(fresh);
  };
  auto nb = redo(base, nullptr);
  std::shared_ptr<const VariantResult> ns = steer;
  if (bias) {
    ns = redo(steer, bias);
  } else if (steer && nb) {  // unsteered: the steered result is the baseline's, under its own generation
    auto same = std::make_shared<VariantResult>(*nb);
    same->generation = steer->generation;
    ns = same;
  }
  check_gen(js, gen);
  publish([&](Snapshot& s) {
    s.baseline = nb;
    s.steered = ns;
  });
}

// ---------------------------------------------------------------------------------------------------------------
// [SECTION] Scan: every head steered alone

uint64_t Workbench::scan_heads() {
  Impl* im = impl_.get();
  const uint64_t gen = im->doc_gen.load();
  return im->queue->submit(JobKind::Scan, "scan every head", [im, gen](JobScope& js) { im->run_scan(js, gen); },
                           {JobKind::Scan});
}

void Workbench::Impl::run_scan(JobScope& js, uint64_t gen) {
  check_gen(js, gen);
  if (!model || !setup) throw Error("scan: no prepared prompt");
  if (setup->steering_spans.empty()) throw Error("spans: mark a span in the prompt to scan heads");
  const ModelConfig& c = model->config();
  SteeringSpec spec;
  spec.method = SteeringMethod::Pasta;
  spec.heads = HeadSet::all();
  spec.alpha = setup->spec.method == SteeringMethod::Pasta ? setup->spec.alpha : 0.01;
  spec.scale_position = setup->spec.scale_position;
  const auto T = static_cast<int64_t>(setup->ids.size());
  AttentionBias candidates = compile(spec, c.n_layers, c.n_heads, T, setup->steering_spans);
  HeadScanRequest req;
  req.prompt = setup->ids;
  req.candidates = &candidates;
  req.cancel = &js.cancel();
  req.progress = [&js](const Progress& p) { js.progress(p.done, p.total, "heads"); };
  const HeadScanTable t = scan_head_table(*model, req);
  auto out = std::make_shared<HeadScanScores>();
  out->layers = c.n_layers;
  out->heads = c.n_heads;
  out->alpha = spec.alpha;
  out->kl.assign(static_cast<size_t>(c.n_layers * c.n_heads), 0.0f);
  out->top_token.assign(out->kl.size(), -1);
  for (size_t i = 0; i < t.heads.size(); ++i) {
    const size_t k = static_cast<size_t>(t.heads[i].first * c.n_heads + t.heads[i].second);
    out->kl[k] = static_cast<float>(t.score[i]);
    out->top_token[k] = t.argmax[i];
  }
  check_gen(js, gen);
  publish([&](Snapshot& s) { s.scan = out; });
}

// ---------------------------------------------------------------------------------------------------------------
// [SECTION] Sweep and Profile: long experiments on the loaded model, resumable through their journals

uint64_t Workbench::start_niah(const NiahSweepRequest& req) {
  Impl* im = impl_.get();
  return im->queue->submit(JobKind::Sweep, "NIAH sweep", [im, req](JobScope& js) {
    if (!im->model) throw Error("model: no model is loaded");
    NiahSweepRequest r = req;
    if (std::optional<ModelInfo> info = im->snapshot_model()) r.dtype = info->dtype;
    auto cells = std::make_shared<NiahSweepCells>();
    cells->layers = im->model->config().n_layers;
    cells->heads = im->model->config().n_heads;
    cells->total = static_cast<int64_t>(r.grid.cells().size());
    auto publish_cells = [&] { im->publish([&](Snapshot& s) { s.niah = std::make_shared<NiahSweepCells>(*cells); }); };
    publish_cells();
    im->with_recorder([&](RunRecorder* rec) {
      NiahSweepOutcome out = run_niah(
          *im->model, r, rec, &js.cancel(), [&js](const Progress& p) { js.progress(p); },
          [&](const NiahResult& cell, bool resumed) {
            cells->cells.push_back(cell);
            ++(resumed ? cells->skipped : cells->ran);
            if (rec) cells->run_id = rec->run_id();
            if (rec) js.set_run_id(rec->run_id());
            if (!resumed) publish_cells();
          });
      cells->finished = true;
      cells->run_id = out.run_id;
      cells->retrieval_copy_steps = out.retrieval.copy_steps;
      if (r.retrieval_scores) cells->retrieval = out.retrieval.scores();
      if (rec) js.set_run_id(out.run_id);
    });
    im->publish([&](Snapshot& s) {
      s.niah = cells;
      if (cells->run_id) ++s.runs_recorded;
    });
  }, {JobKind::Sweep});
}

uint64_t Workbench::start_profile(const ProfileRequest& req) {
  Impl* im = impl_.get();
  return im->queue->submit(JobKind::Profile, "profile heads", [im, req](JobScope& js) {
    if (!im->model) throw Error("model: no model is loaded");
    store::Store* st = im->open_store();
    if (!st) throw Error("store: a profiling job journals its units in the store; open one (--db)");
    auto publish_scores = [im](const ProfileScores& v) {
      auto p = std::make_shared<const ProfileScores>(v);
      im->publish([&](Snapshot& s) { s.profile = p; });
    };
    run_profiling(*im->model, req, *st, &js.cancel(), [&js](const Progress& p) { js.progress(p); },
                  [&](const ProfileScores& v) {
                    js.set_run_id(v.run_id);
                    publish_scores(v);
                  });
    im->publish([](Snapshot& s) { ++s.runs_recorded; });
  }, {JobKind::Profile});
}

// ---------------------------------------------------------------------------------------------------------------
// [SECTION] store jobs, runs and head files

std::vector<RunRow> Workbench::list_runs(int64_t limit) const {
  std::vector<RunRow> rows;
  if (impl_->opt.db_path.empty() || !std::filesystem::exists(impl_->opt.db_path)) return rows;
  store::Store st = store::Store::open(impl_->opt.db_path, store::Store::Access::ReadOnly);
  store::RunFilter f;
  f.limit = limit;
  for (const auto& r : st.list_runs(f)) {
    RunRow row;
    row.id = r.run.id;
    row.kind = r.run.kind;
    row.status = r.run.status;
    row.created_at = r.run.created_at;
    row.model_path = r.model_path;
    row.n_generations = r.n_generations;
    if (r.run.prompt_id)
      if (auto p = st.get_prompt(*r.run.prompt_id)) row.prompt_text = p->text;
    rows.push_back(std::move(row));
  }
  return rows;
}

RetrievalScores Workbench::retrieval_scores() const {
  RetrievalScores out;
  std::optional<ModelInfo> info;
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    info = impl_->snap.model;
  }
  if (!info) {
    out.missing = "no model is loaded";
    return out;
  }
  if (impl_->opt.db_path.empty()) {
    out.missing = "no store is open (start with --db FILE)";
    return out;
  }
  const std::string none_yet = "no NIAH run of this model with retrieval scores in " + impl_->opt.db_path +
                               " (run: headlight-cli niah --model " + info->path + " --retrieval-scores --db " +
                               impl_->opt.db_path + ")";
  if (!std::filesystem::exists(impl_->opt.db_path)) {
    out.missing = none_yet;
    return out;
  }
  try {
    store::Store st = store::Store::open(impl_->opt.db_path, store::Store::Access::ReadOnly);
    store::ReadSnapshot consistent(st);
    store::RunFilter f;
    f.kind = "niah";
    for (const auto& r : st.list_runs(f)) {  // newest first
      if (r.model_path != info->record_path) continue;
      const auto m = st.get_model(r.run.model_id);
      if (!m || m->config_hash != info->config_hash) continue;
      const auto sweeps = st.list_niah_sweeps(r.run.id);
      for (auto sw = sweeps.rbegin(); sw != sweeps.rend(); ++sw) {
        const auto scores = st.get_retrieval_scores(sw->id);
        if (scores.empty()) continue;
        const int64_t L = info->n_layers, H = info->n_heads;
        if (static_cast<int64_t>(scores.size()) != L * H)
          throw Error("NIAH sweep " + std::to_string(sw->id) + " has " + std::to_string(scores.size()) +
                      " retrieval scores, the model " + std::to_string(L * H) + " heads");
        out.layers = L;
        out.heads = H;
        out.score.assign(static_cast<size_t>(L * H), 0.0f);
        out.hits.assign(static_cast<size_t>(L * H), 0);
        for (const auto& sc : scores) {
          if (sc.layer < 0 || sc.layer >= L || sc.head < 0 || sc.head >= H)
            throw Error("NIAH sweep " + std::to_string(sw->id) + ": retrieval score of L" + std::to_string(sc.layer) +
                        "H" + std::to_string(sc.head) + " is outside the model");
          const auto k = static_cast<size_t>(sc.layer * H + sc.head);
          out.score[k] = static_cast<float>(sc.score);
          out.hits[k] = sc.hits;
          out.copy_steps = sc.copy_steps;
        }
        for (const auto& c : st.get_niah_cells(sw->id)) out.cells += c.retrieval_copy_steps ? 1 : 0;
        out.run_id = r.run.id;
        out.sweep_id = sw->id;
        out.run_created_at = r.run.created_at;
        out.method = sw->method;
        return out;
      }
    }
    out.missing = none_yet;
  } catch (const std::exception& e) {
    out = RetrievalScores{};
    out.missing = std::string("retrieval scores: ") + e.what();
  }
  return out;
}

bool Workbench::reopen_run(int64_t run_id, std::string* error) {
  try {
    if (impl_->opt.db_path.empty()) throw Error("no store is open");
    store::Store st = store::Store::open(impl_->opt.db_path, store::Store::Access::ReadOnly);
    auto run = st.get_run(run_id);
    if (!run) throw Error("run " + std::to_string(run_id) + " does not exist");
    if (!run->prompt_id) throw Error("run " + std::to_string(run_id) + " has no prompt");
    auto p = st.get_prompt(*run->prompt_id);
    if (!p || p->text.empty()) throw Error("run " + std::to_string(run_id) + " was given token ids, not text");
    Document d = impl_->doc;
    d.prompt = p->text;
    d.spec = run->spec_id ? parse_steering_spec(st.get_spec(*run->spec_id).value_or("{\"method\": \"none\"}"),
                                                "run " + std::to_string(run_id) + " steering spec")
                          : SteeringSpec{};
    // The stored prompt is the clean text: its spans come from the spec (markers were already resolved).
    d.sampling.temperature = run->sampling.temperature;
    d.sampling.top_p = run->sampling.top_p;
    d.sampling.top_k = run->sampling.top_k;
    if (run->sampling.max_new_tokens > 0) d.sampling.max_new_tokens = run->sampling.max_new_tokens;
    d.sampling.seed = static_cast<uint64_t>(run->seed);
    set_document(d);
    return true;
  } catch (const std::exception& e) {
    if (error) *error = e.what();
    return false;
  }
}

uint64_t Workbench::delete_run(int64_t run_id) {
  Impl* im = impl_.get();
  return im->queue->submit(JobKind::Custom, "delete run " + std::to_string(run_id), [im, run_id](JobScope&) {
    store::Store* st = im->open_store();
    if (!st) throw Error("no store is open");
    if (!st->delete_run(run_id)) throw Error("run " + std::to_string(run_id) + " does not exist");
  });
}

uint64_t Workbench::export_run(int64_t run_id, const std::string& format, const std::string& out_path) {
  Impl* im = impl_.get();
  return im->queue->submit(JobKind::Custom, "export run " + std::to_string(run_id) + " as " + format,
                           [im, run_id, format, out_path](JobScope&) {
                             store::Store* st = im->open_store();
                             if (!st) throw Error("no store is open");
                             if (format == "json")
                               store::write_text_file(out_path, store::run_to_json(*st, run_id).dump(2) + "\n");
                             else if (format == "csv")
                               store::write_text_file(
                                   out_path, store::run_to_csv(*st, run_id, store::default_csv_table(*st, run_id)));
                             else if (format == "png")
                               store::export_run_png(*st, run_id, {}, out_path);
                             else
                               throw Error("export: unknown format \"" + format + "\" (csv, json or png)");
                           });
}

HeadSet Workbench::load_heads(const std::string& path) { return load_head_config(path); }

void Workbench::save_heads(const HeadSet& set, const std::string& path) const {
  std::lock_guard<std::mutex> lk(impl_->mu);
  const int64_t L = impl_->snap.model ? impl_->snap.model->n_layers : 0;
  const int64_t H = impl_->snap.model ? impl_->snap.model->n_heads : 0;
  save_head_config(set, path, set.is_all() ? L : 0, set.is_all() ? H : 0);
}

}  // namespace hl::wb
