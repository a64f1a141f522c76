#include "core/engine/synth.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "core/formats/model_config.h"
#include "core/formats/safetensors.h"

namespace hl {
namespace fs = std::filesystem;

namespace {

using TensorSpec = SynthTensor;

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

std::vector<std::string> synth_shapes() {
  return {"smollm2-135m", "qwen2.5-0.5b", "llama-3.2-1b", "gpt2", "llama-2-7b", "mistral-7b", "llama-3-8b"};
}

fs::path synth_config_path(const std::string& like) {
  if (like.find('/') != std::string::npos || (like.size() > 5 && like.substr(like.size() - 5) == ".json")) return like;
  for (const auto& s : synth_shapes())
    if (s == like) return fs::path(HEADLIGHT_ASSETS_DIR) / "configs" / (like + ".json");
  std::string list;
  for (const auto& s : synth_shapes()) list += (list.empty() ? "" : ", ") + s;
  throw Error("--like " + like + ": unknown shape (known: " + list + ", or a path to a config.json)");
}

namespace {

// The width_divisor of SynthOptions applied to a Llama-family config.
void divide_widths(nlohmann::json& cfg, int64_t d, const std::string& where) {
  if (d <= 1) return;
  if (cfg.value("model_type", "") == "gpt2") throw Error(where + ": width_divisor applies to Llama-family shapes");
  if (!cfg.contains("head_dim") && cfg.contains("hidden_size") && cfg.contains("num_attention_heads"))
    cfg["head_dim"] = cfg["hidden_size"].get<int64_t>() / cfg["num_attention_heads"].get<int64_t>();
  for (const char* k : {"hidden_size", "intermediate_size", "vocab_size", "num_attention_heads", "num_key_value_heads"}) {
    if (!cfg.contains(k)) continue;
    const int64_t v = cfg[k].get<int64_t>();
    if (v % d != 0 || v / d < 1)
      throw Error(where + ": " + k + " = " + std::to_string(v) + " is not divisible by " + std::to_string(d));
    cfg[k] = v / d;
  }
}

std::string shard_name(size_t i, size_t n) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "model-%05zu-of-%05zu.safetensors", i + 1, n);
  return buf;
}

}  // namespace

SynthPlan plan_synthetic_model(const SynthOptions& opt) {
  const fs::path cfg_path = synth_config_path(opt.like);
  nlohmann::json cfg = nlohmann::json::parse(read_file(cfg_path));
  if (opt.layers > 0) cfg[cfg["model_type"] == "gpt2" ? "n_layer" : "num_hidden_layers"] = opt.layers;
  divide_widths(cfg, opt.width_divisor, cfg_path.string());
  DType dt;
  if (opt.dtype == "f32") dt = DType::F32, cfg["torch_dtype"] = "float32";
  else if (opt.dtype == "bf16") dt = DType::BF16, cfg["torch_dtype"] = "bfloat16";
  else if (opt.dtype == "f16") dt = DType::F16, cfg["torch_dtype"] = "float16";
  else throw Error("--dtype " + opt.dtype + ": expected f32, bf16 or f16");
  const ModelConfig c = parse_model_config(cfg.dump(), cfg_path.string());
  SynthPlan plan;
  plan.config_json = cfg.dump(2) + "\n";
  plan.dtype_name = dtype_name(dt);
  plan.tensors = hf_layout(c);
  // Tensors go to shards in order, a new shard when the next tensor would pass the limit.
  uint64_t cur = 0;
  size_t shards = 1;
  for (auto& t : plan.tensors) {
    int64_t n = 1;
    for (auto d : t.shape) n *= d;
    plan.params += n;
    const uint64_t bytes = static_cast<uint64_t>(n) * dtype_size(dt);
    if (cur > 0 && cur + bytes > opt.shard_bytes) {
      ++shards;
      cur = 0;
    }
    t.shard = shards - 1;
    cur += bytes;
    plan.total_bytes += bytes;
  }
  for (size_t i = 0; i < shards; ++i) plan.shard_files.push_back(shards == 1 ? "model.safetensors" : shard_name(i, shards));
  return plan;
}

int64_t write_synthetic_model(const SynthOptions& opt, const fs::path& out) {
  const SynthPlan plan = plan_synthetic_model(opt);
  const DType dt = parse_dtype(plan.dtype_name, "synth");
  const at::ScalarType st = dt == DType::F32 ? at::kFloat : dt == DType::BF16 ? at::kBFloat16 : at::kHalf;
  fs::create_directories(out);
  {
    std::ofstream f(out / "config.json");
    f << plan.config_json;
  }
  auto gen = at::detail::createCPUGenerator(opt.seed);
  nlohmann::json weight_map = nlohmann::json::object();
  for (size_t s = 0; s < plan.shard_files.size(); ++s) {
    const std::string& name = plan.shard_files[s];
    nlohmann::json header = nlohmann::json::object();
    header["__metadata__"] = {{"format", "pt"}, {"headlight_synth", opt.like}, {"seed", std::to_string(opt.seed)}};
    uint64_t off = 0;
    std::vector<const TensorSpec*> in_shard;
    for (const auto& t : plan.tensors) {
      if (t.shard != s) continue;
      in_shard.push_back(&t);
      int64_t n = 1;
      for (auto d : t.shape) n *= d;
      const uint64_t bytes = static_cast<uint64_t>(n) * dtype_size(dt);
      header[t.name] = {{"dtype", plan.dtype_name}, {"shape", t.shape}, {"data_offsets", {off, off + bytes}}};
      off += bytes;
      weight_map[t.name] = name;
    }
    std::string h = header.dump();
    while (h.size() % 8) h.push_back(' ');
    const fs::path tmp = out / (name + ".tmp");
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    uint64_t hn = h.size();
    for (int i = 0; i < 8; ++i) f.put(static_cast<char>(hn >> (8 * i)));
    f.write(h.data(), static_cast<std::streamsize>(h.size()));
    for (const TensorSpec* t : in_shard) {
      // Blocks of rows of up to 16M values: a 128k-row embedding table is not held whole as float32.
      const int64_t rows = t->shape[0], row_len = t->shape.size() > 1 ? t->shape[1] : 1;
      const int64_t block = std::max<int64_t>(1, (16 << 20) / row_len);
      for (int64_t r = 0; r < rows; r += block) {
        std::vector<int64_t> shape = t->shape;
        shape[0] = std::min(block, rows - r);
        at::Tensor v;
        if (t->init == TensorSpec::Ones) v = at::ones(shape, at::kFloat);
        else if (t->init == TensorSpec::Zeros) v = at::zeros(shape, at::kFloat);
        else v = at::normal(0.0, 0.02, shape, gen);
        v = v.to(st).contiguous();
        f.write(static_cast<const char*>(v.data_ptr()), static_cast<std::streamsize>(v.numel() * v.element_size()));
      }
    }
    f.close();
    if (!f) throw Error((out / name).string() + ": write failed (disk full?)");
    fs::rename(tmp, out / name);
  }
  if (plan.shard_files.size() > 1) {
    nlohmann::json index = {{"metadata", {{"total_size", plan.total_bytes}}}, {"weight_map", weight_map}};
    std::ofstream f(out / "model.safetensors.index.json");
    f << index.dump(2) << "\n";
  }
  return plan.params;
}

}  // namespace hl
