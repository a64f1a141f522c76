#include "core/engine/synth.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "core/model_config.h"
#include "core/safetensors.h"

namespace hl {
namespace fs = std::filesystem;

namespace {

struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;
  enum Init { Normal, Ones, Zeros } init = Normal;
};

// HF tensor names and shapes of an architecture (the inverse of load_hf.cpp).
std::vector<TensorSpec> hf_layout(const ModelConfig& c) {
  std::vector<TensorSpec> t;
  const int64_t D = c.hidden, Q = c.q_dim(), KV = c.kv_dim(), I = c.intermediate, V = c.vocab;
  if (c.model_type == "llama" || c.model_type == "mistral" || c.model_type == "qwen2") {
    t.push_back({"model.embed_tokens.weight", {V, D}});
    for (int64_t i = 0; i < c.n_layers; ++i) {
      const std::string p = "model.layers." + std::to_string(i) + ".";
      t.push_back({p + "input_layernorm.weight", {D}, TensorSpec::Ones});
      for (auto [n, rows] : {std::pair<const char*, int64_t>{"q_proj", Q}, {"k_proj", KV}, {"v_proj", KV}}) {
        t.push_back({p + "self_attn." + n + ".weight", {rows, D}});
        if (c.qkv_bias) t.push_back({p + "self_attn." + n + ".bias", {rows}, TensorSpec::Zeros});
      }
      t.push_back({p + "self_attn.o_proj.weight", {D, Q}});
      if (c.o_bias) t.push_back({p + "self_attn.o_proj.bias", {D}, TensorSpec::Zeros});
      t.push_back({p + "post_attention_layernorm.weight", {D}, TensorSpec::Ones});
      t.push_back({p + "mlp.gate_proj.weight", {I, D}});
      t.push_back({p + "mlp.up_proj.weight", {I, D}});
      t.push_back({p + "mlp.down_proj.weight", {D, I}});
    }
    t.push_back({"model.norm.weight", {D}, TensorSpec::Ones});
    if (!c.tie_word_embeddings) t.push_back({"lm_head.weight", {V, D}});
  } else if (c.model_type == "gpt2") {
    t.push_back({"transformer.wte.weight", {V, D}});
    t.push_back({"transformer.wpe.weight", {c.max_positions, D}});
    for (int64_t i = 0; i < c.n_layers; ++i) {
      const std::string p = "transformer.h." + std::to_string(i) + ".";
      t.push_back({p + "ln_1.weight", {D}, TensorSpec::Ones});
      t.push_back({p + "ln_1.bias", {D}, TensorSpec::Zeros});
      t.push_back({p + "attn.c_attn.weight", {D, 3 * D}});
      t.push_back({p + "attn.c_attn.bias", {3 * D}, TensorSpec::Zeros});
      t.push_back({p + "attn.c_proj.weight", {D, D}});
      t.push_back({p + "attn.c_proj.bias", {D}, TensorSpec::Zeros});
      t.push_back({p + "ln_2.weight", {D}, TensorSpec::Ones});
      t.push_back({p + "ln_2.bias", {D}, TensorSpec::Zeros});
      t.push_back({p + "mlp.c_fc.weight", {D, I}});
      t.push_back({p + "mlp.c_fc.bias", {I}, TensorSpec::Zeros});
      t.push_back({p + "mlp.c_proj.weight", {I, D}});
      t.push_back({p + "mlp.c_proj.bias", {D}, TensorSpec::Zeros});
    }
    t.push_back({"transformer.ln_f.weight", {D}, TensorSpec::Ones});
    t.push_back({"transformer.ln_f.bias", {D}, TensorSpec::Zeros});
  } else {
    throw Error("synth: no layout for model_type \"" + c.model_type + "\" (supported: llama, mistral, qwen2, gpt2)");
  }
  return t;
}

std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) throw Error(p.string() + ": cannot open");
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace

std::vector<std::string> synth_shapes() { return {"smollm2-135m", "qwen2.5-0.5b", "llama-3.2-1b", "gpt2"}; }

fs::path synth_config_path(const std::string& like) {
  if (like.find('/') != std::string::npos || (like.size() > 5 && like.substr(like.size() - 5) == ".json")) return like;
  for (const auto& s : synth_shapes())
    if (s == like) return fs::path(HEADLIGHT_ASSETS_DIR) / "configs" / (like + ".json");
  std::string list;
  for (const auto& s : synth_shapes()) list += (list.empty() ? "" : ", ") + s;
  throw Error("--like " + like + ": unknown shape (known: " + list + ", or a path to a config.json)");
}

int64_t write_synthetic_model(const SynthOptions& opt, const fs::path& out) {
  const fs::path cfg_path = synth_config_path(opt.like);
  nlohmann::json cfg = nlohmann::json::parse(read_file(cfg_path));
  if (opt.layers > 0) cfg[cfg["model_type"] == "gpt2" ? "n_layer" : "num_hidden_layers"] = opt.layers;
  DType dt;
  at::ScalarType st;
  if (opt.dtype == "f32") dt = DType::F32, st = at::kFloat, cfg["torch_dtype"] = "float32";
  else if (opt.dtype == "bf16") dt = DType::BF16, st = at::kBFloat16, cfg["torch_dtype"] = "bfloat16";
  else if (opt.dtype == "f16") dt = DType::F16, st = at::kHalf, cfg["torch_dtype"] = "float16";
  else throw Error("--dtype " + opt.dtype + ": expected f32, bf16 or f16");
  const ModelConfig c = parse_model_config(cfg.dump(), cfg_path.string());
  const std::vector<TensorSpec> layout = hf_layout(c);

  // Assign tensors to shards in order.
  std::vector<std::vector<const TensorSpec*>> shards(1);
  uint64_t cur = 0, total = 0;
  int64_t params = 0;
  for (const auto& t : layout) {
    int64_t n = 1;
    for (auto d : t.shape) n *= d;
    params += n;
    const uint64_t bytes = static_cast<uint64_t>(n) * dtype_size(dt);
    if (cur > 0 && cur + bytes > opt.shard_bytes) {
      shards.emplace_back();
      cur = 0;
    }
    shards.back().push_back(&t);
    cur += bytes;
    total += bytes;
  }
  fs::create_directories(out);
  {
    std::ofstream f(out / "config.json");
    f << cfg.dump(2) << "\n";
  }
  auto gen = at::detail::createCPUGenerator(opt.seed);
  nlohmann::json weight_map = nlohmann::json::object();
  for (size_t s = 0; s < shards.size(); ++s) {
    const std::string name = shards.size() == 1 ? "model.safetensors"
                                                : "model-" + std::string(5 - std::to_string(s + 1).size(), '0') +
                                                      std::to_string(s + 1) + "-of-" +
                                                      std::string(5 - std::to_string(shards.size()).size(), '0') +
                                                      std::to_string(shards.size()) + ".safetensors";
    nlohmann::json header = nlohmann::json::object();
    header["__metadata__"] = {{"format", "pt"}, {"headlight_synth", opt.like}, {"seed", std::to_string(opt.seed)}};
    uint64_t off = 0;
    for (const TensorSpec* t : shards[s]) {
      int64_t n = 1;
      for (auto d : t->shape) n *= d;
      const uint64_t bytes = static_cast<uint64_t>(n) * dtype_size(dt);
      header[t->name] = {{"dtype", dtype_name(dt)}, {"shape", t->shape}, {"data_offsets", {off, off + bytes}}};
      off += bytes;
      weight_map[t->name] = name;
    }
    std::string h = header.dump();
    while (h.size() % 8) h.push_back(' ');
    const fs::path tmp = out / (name + ".tmp");
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    uint64_t hn = h.size();
    for (int i = 0; i < 8; ++i) f.put(static_cast<char>(hn >> (8 * i)));
    f.write(h.data(), static_cast<std::streamsize>(h.size()));
    for (const TensorSpec* t : shards[s]) {
      at::Tensor v;
      if (t->init == TensorSpec::Ones) v = at::ones(t->shape, at::kFloat);
      else if (t->init == TensorSpec::Zeros) v = at::zeros(t->shape, at::kFloat);
      else v = at::normal(0.0, 0.02, t->shape, gen);
      v = v.to(st).contiguous();
      f.write(static_cast<const char*>(v.data_ptr()), static_cast<std::streamsize>(v.numel() * v.element_size()));
    }
    f.close();
    if (!f) throw Error((out / name).string() + ": write failed (disk full?)");
    fs::rename(tmp, out / name);
  }
  if (shards.size() > 1) {
    nlohmann::json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
    std::ofstream f(out / "model.safetensors.index.json");
    f << index.dump(2) << "\n";
  }
  return params;
}

}  // namespace hl
