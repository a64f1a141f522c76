#include "workbench/run_recorder.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/engine/model.h"
#include "storage/content_hash.h"

namespace hl::wb {

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
                           const store::SamplingSettings& s, int64_t seed) {
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
  run_ = store_.start_run(run);
  return run_;
}

void RunRecorder::finish(const std::string& status) {
  if (run_) store_.finish_run(run_, status);
}

store::FloatMatrix to_matrix(int64_t rows, int64_t cols, std::vector<float> values) {
  store::FloatMatrix m;
  m.rows = rows;
  m.cols = cols;
  m.values = std::move(values);
  return m;
}

}  // namespace hl::wb
