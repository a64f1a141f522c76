#include "workbench/run_recorder.h"

#include <algorithm>
#include <filesystem>
#include <mutex>
#include <fstream>
#include <sstream>

#include "core/engine/model.h"
#include "core/error.h"
#include "storage/content_hash.h"

namespace hl::wb {
namespace {

struct OpenRun {
  std::string db_path;
  int64_t run_id;
};
std::mutex open_runs_mu;
std::vector<OpenRun>& open_runs() {
  static std::vector<OpenRun> runs;
  return runs;
}

void forget_open_run(const std::string& db, int64_t id) {
  std::lock_guard<std::mutex> lk(open_runs_mu);
  auto& v = open_runs();
  v.erase(std::remove_if(v.begin(), v.end(), [&](const OpenRun& r) { return r.db_path == db && r.run_id == id; }),
          v.end());
}

}  // namespace

int settle_open_runs(const std::string& status, const std::string& error) {
  std::vector<OpenRun> runs;
  {
    std::lock_guard<std::mutex> lk(open_runs_mu);
    runs.swap(open_runs());
  }
  int n = 0;
  for (const auto& r : runs) {
    try {
      store::Store s = store::Store::open(r.db_path);
      s.finish_run(r.run_id, status, error);
      ++n;
    } catch (const std::exception&) {
    }
  }
  return n;
}

RunRecorder::RunRecorder(const std::string& db_path) : store_(store::Store::open(db_path)) {}
RunRecorder::RunRecorder(store::Store s) : store_(std::move(s)) {}

store::ModelRecord model_record(const Model& m) {
  const ModelConfig& c = m.config();
  store::ModelRecord mr;
  mr.path = std::filesystem::weakly_canonical(std::filesystem::absolute(m.source())).string();
  std::string cfg_bytes;
  if (std::filesystem::is_directory(m.source())) {
    std::ifstream f(m.source() / "config.json", std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    cfg_bytes = ss.str();
  } else {
    // llama2.c checkpoint: the shape is the config.
    cfg_bytes = c.model_type + ":" + std::to_string(c.n_layers) + ":" + std::to_string(c.hidden) + ":" +
                std::to_string(std::filesystem::file_size(m.source()));
  }
  mr.config_hash = store::content_hash(cfg_bytes);
  mr.architecture = c.model_type;
  mr.n_layers = c.n_layers;
  mr.n_heads = c.n_heads;
  mr.n_kv_heads = c.n_kv_heads;
  mr.hidden_size = c.hidden;
  mr.vocab_size = c.vocab;
  return mr;
}

int64_t RunRecorder::start(const std::string& kind, const Model& m, const PromptSetup& ps,
                           const store::SamplingSettings& s, int64_t seed, const std::string& note) {
  store::RunRecord run;
  run.model_id = store_.record_model(model_record(m));
  store::PromptRecord pr;
  pr.text = ps.text;
  for (auto id : ps.ids) pr.token_ids.push_back(static_cast<int32_t>(id));
  for (auto [b, e] : ps.offsets) pr.offsets.push_back({static_cast<int32_t>(b), static_cast<int32_t>(e)});
  run.prompt_id = store_.record_prompt(pr);
  if (!ps.spec_json.empty()) run.spec_id = store_.record_spec(ps.spec_json);
  run.kind = kind;
  run.seed = seed;
  run.sampling = s;
  run.note = note;
  run_ = store_.start_run(run);
  std::lock_guard<std::mutex> lk(open_runs_mu);
  open_runs().push_back({store_.path(), run_});
  return run_;
}

void RunRecorder::resume(int64_t run_id) {
  run_ = run_id;
  auto r = store_.get_run(run_id);
  if (!r) throw Error(store_.path() + ": no run " + std::to_string(run_id) + " to resume");
  if (r->status == "done") return;
  store_.finish_run(run_id, "running");
  std::lock_guard<std::mutex> lk(open_runs_mu);
  open_runs().push_back({store_.path(), run_});
}

void RunRecorder::finish(const std::string& status, const std::string& error) {
  if (!run_) return;
  store_.finish_run(run_, status, error);
  forget_open_run(store_.path(), run_);
}

store::FloatMatrix to_matrix(int64_t rows, int64_t cols, std::vector<float> values) {
  store::FloatMatrix m;
  m.rows = rows;
  m.cols = cols;
  m.values = std::move(values);
  return m;
}

void add_head_stats(store::Store& st, int64_t run_id, const HeadStatsTable& t) {
  std::vector<store::HeadStat> hs;
  hs.reserve(t.values.size());
  for (int64_t l = 0; l < t.layers; ++l)
    for (int64_t h = 0; h < t.heads; ++h)
      for (size_t k = 0; k < t.names.size(); ++k)
        hs.push_back({static_cast<int32_t>(l), static_cast<int32_t>(h), t.names[k],
                      static_cast<double>(t.at(l, h, static_cast<int64_t>(k)))});
  st.add_head_stats(run_id, hs);
}

void add_influence_traces(store::Store& st, int64_t run_id, const InfluenceCurves& c, const std::string& suffix) {
  const std::string sp = std::to_string(c.span.begin) + ":" + std::to_string(c.span.end) + suffix;
  st.add_trace(run_id, sp, "influence", std::nullopt, to_matrix(c.layers + 1, c.tokens, c.influence));
  st.add_trace(run_id, sp, "rollout", std::nullopt, to_matrix(c.layers + 1, c.tokens, c.rollout));
}

}  // namespace hl::wb
