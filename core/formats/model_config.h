// Model architecture description, read from an HF config.json (or a llama2.c header). Torch-free.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace hl {

enum class NormKind { RMSNorm, LayerNorm };
enum class Activation { SiLU, GeluTanh, GeluErf, ReLU };
enum class RopeStyle { None, Half, Interleaved };  // Half = rotate_half (Llama/NeoX); Interleaved = GPT-J / llama2.c
enum class BlockKind { Sequential, Parallel, ParallelSharedNorm };  // Parallel: NeoX; ParallelSharedNorm: GPT-J
enum class MlpKind { Gated, Plain };

struct RopeScaling {
  std::string type;  // "" none, "linear", "llama3"
  double factor = 1;
  double low_freq_factor = 1, high_freq_factor = 4;
  int64_t original_max_position_embeddings = 8192;
};

struct ModelConfig {
  std::string model_type;  // llama, mistral, qwen2, gpt2, gptj, gpt_neox, llama2c
  int64_t n_layers = 0, n_heads = 0, n_kv_heads = 0, head_dim = 0, hidden = 0, intermediate = 0, vocab = 0;
  int64_t max_positions = 0;
  NormKind norm = NormKind::RMSNorm;
  double norm_eps = 1e-5;
  Activation act = Activation::SiLU;
  MlpKind mlp = MlpKind::Gated;
  BlockKind block = BlockKind::Sequential;
  RopeStyle rope = RopeStyle::Half;
  int64_t rotary_dim = 0;  // dims of each head that rotate (<= head_dim)
  double rope_theta = 10000;
  RopeScaling rope_scaling;
  bool learned_positions = false;  // GPT-2 wpe
  bool qkv_bias = false, o_bias = false, mlp_bias = false, lm_head_bias = false;
  bool tie_word_embeddings = false;
  int64_t sliding_window = 0;  // 0 = none
  int64_t bos_token_id = -1;
  std::vector<int64_t> eos_token_ids;
  std::string torch_dtype;  // as written in config.json ("float32", "bfloat16", ...), informative

  int64_t q_dim() const { return n_heads * head_dim; }
  int64_t kv_dim() const { return n_kv_heads * head_dim; }
};

const std::vector<std::string>& supported_model_types();

// Parses config.json text; `where` names the file in errors. Throws hl::Error for an unknown model_type
// (listing the supported ones) or a missing / ill-typed field.
ModelConfig parse_model_config(const std::string& json_text, const std::string& where);
ModelConfig load_model_config(const std::filesystem::path& config_json);

}  // namespace hl
