// Random-weight models of real shapes, written as HF directories (config.json + safetensors, sharded as HF's
// save_pretrained does: model-0000k-of-0000n.safetensors of up to 5 GB and model.safetensors.index.json), for speed
// work: speed does not depend on the weight values. Deterministic for a seed. Written tensor by tensor in blocks of
// rows: the whole model is never in memory (a 7B shape is 13.5 GB in bf16).
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace hl {

struct SynthOptions {
  std::string like = "smollm2-135m";  // a config name under assets/configs, or a path to a config.json
  uint64_t seed = 0;
  std::string dtype = "f32";          // f32 | bf16 | f16 (stored dtype)
  int64_t layers = 0;                 // > 0: override the depth (keeps every width)
  // > 1 (tests): divides hidden, intermediate, vocab and the head counts of a Llama-family shape (head size kept),
  // so that a test writes a small model with the real one's structure.
  int64_t width_divisor = 1;
  uint64_t shard_bytes = 5'000'000'000ull;  // files are split above this size (HF's default max_shard_size, 5GB)
};

struct SynthTensor {
  std::string name;
  std::vector<int64_t> shape;
  enum Init { Normal, Ones, Zeros } init = Normal;
  size_t shard = 0;  // index into SynthPlan::shard_files
};

// What write_synthetic_model writes, without writing it.
struct SynthPlan {
  std::string config_json;  // config.json as written
  std::string dtype_name;   // the safetensors dtype ("BF16", ...)
  std::vector<SynthTensor> tensors;
  std::vector<std::string> shard_files;  // "model.safetensors", or model-00001-of-0000n.safetensors ...
  uint64_t total_bytes = 0;
  int64_t params = 0;
};
SynthPlan plan_synthetic_model(const SynthOptions& opt);

// The shape names synth knows, and where their configs live.
std::vector<std::string> synth_shapes();
std::filesystem::path synth_config_path(const std::string& like);

// Writes config.json and the weights into out_dir (created). Returns the parameter count.
int64_t write_synthetic_model(const SynthOptions& opt, const std::filesystem::path& out_dir);

}  // namespace hl
