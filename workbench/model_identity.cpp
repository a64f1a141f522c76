#include "workbench/model_identity.h"

#include <algorithm>
#include <filesystem>

#include "analysis/fingerprint.h"
#include "core/engine/model.h"
#include "workbench/run_recorder.h"

namespace hl::wb {

nlohmann::json model_identity(const Model& m) {
  namespace fs = std::filesystem;
  const fs::path src = m.source();
  const fs::path dir = fs::is_directory(src) ? src : src.parent_path();
  std::vector<fs::path> weights, tokenizer;
  if (fs::is_directory(src)) {
    for (const auto& e : fs::directory_iterator(src))
      if (e.path().extension() == ".safetensors") weights.push_back(e.path());
  } else {
    weights.push_back(src);
  }
  for (const char* name : {"tokenizer.json", "tokenizer.model", "tokenizer.bin", "tok512.bin", "tok512.model",
                           "vocab.json", "merges.txt", "tokenizer_config.json"})
    if (fs::exists(dir / name)) tokenizer.push_back(dir / name);
  std::sort(weights.begin(), weights.end());
  auto hashes = [](const std::vector<fs::path>& files) {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& f : files) j[f.filename().string()] = file_fingerprint(f);
    return j;
  };
  return {{"config_hash", model_record(m).config_hash},
          {"architecture", m.config().model_type},
          {"weights", hashes(weights)},
          {"tokenizer", hashes(tokenizer)}};
}

}  // namespace hl::wb
