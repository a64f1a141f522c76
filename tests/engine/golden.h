// Helpers for golden-parity tests: paths into ../shared, loading golden tensors, max |diff|.
#pragma once
#include <ATen/ATen.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "core/engine/model.h"
#include "core/engine/tensor_io.h"

namespace hl::test {

inline std::filesystem::path shared_dir() { return HEADLIGHT_SHARED_DIR; }
inline std::filesystem::path fixture(const std::string& name) { return shared_dir() / "fixtures" / name; }
inline std::filesystem::path binary_dir() { return HEADLIGHT_BINARY_DIR; }

inline double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  if (a.sizes() != b.sizes()) return 1e30;
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

inline std::vector<int64_t> to_ids(const at::Tensor& t) {
  at::Tensor c = t.to(at::kLong).contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

// Loaded once per process: the fixtures are small, libtorch start-up is not.
inline const std::map<std::string, at::Tensor>& golden(const std::filesystem::path& file) {
  static std::map<std::string, std::map<std::string, at::Tensor>> cache;
  auto it = cache.find(file.string());
  if (it == cache.end()) it = cache.emplace(file.string(), load_tensors(file)).first;
  return it->second;
}

inline const Model& fixture_model(const std::string& name) {
  static std::map<std::string, std::unique_ptr<Model>> cache;
  auto& m = cache[name];
  if (!m) m = Model::load(fixture(name));
  return *m;
}

}  // namespace hl::test

#include <nlohmann/json.hpp>

#include "core/engine/generate.h"
#include "core/steering/steering_spec.h"

namespace hl::test {

// Greedy 16-token generation under `bias`, as the fixtures record it (EOS stopping off, step logits kept).
inline GenerateResult greedy16(const Model& m, const std::vector<int64_t>& ids, const AttentionBias* bias) {
  GenerateOptions go;
  go.max_new_tokens = 16;
  go.stop_at_eos = false;
  go.bias = bias;
  go.keep_step_logits = true;
  return generate(m, ids, go);
}

// A case of a PASTA golden.json (the official code's head config, alpha, scale position and token ranges) as the
// steering spec a user would write, compiled for a prompt of T tokens.
inline AttentionBias pasta_golden_bias(const nlohmann::json& cs, const std::string& key, const ModelConfig& c, int64_t T) {
  const nlohmann::json spec_json = {{"method", "pasta"},
                                    {"heads", cs["head_config"]},
                                    {"alpha", cs["alpha"]},
                                    {"scale_position", cs["scale_position"]},
                                    {"spans", cs["token_ranges_end_exclusive"]},
                                    {"apply_at", "all"}};
  const SteeringSpec spec = parse_steering_spec(spec_json.dump(), key);
  return compile(spec, c.n_layers, c.n_heads, T, spec.spans);
}

}  // namespace hl::test
