#include "core/formats/model_config.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "core/json_limits.h"

namespace hl {

using nlohmann::json;

const std::vector<std::string>& supported_model_types() {
  static const std::vector<std::string> t = {"llama", "mistral", "qwen2", "gpt2", "gptj", "gpt_neox"};
  return t;
}

namespace {

struct Reader {
  const json& j;
  const std::string& where;

  bool has(const char* k) const { return j.contains(k) && !j[k].is_null(); }

  int64_t integer(const char* k) const {
    if (!has(k)) throw Error(where + ": missing field \"" + k + "\"");
    if (!j[k].is_number_integer()) throw Error(where + ": field \"" + k + "\" must be an integer");
    int64_t v = j[k].get<int64_t>();
    if (v < 0 || v > (int64_t(1) << 31)) throw Error(where + ": field \"" + k + "\" is out of range");
    return v;
  }
  int64_t integer(const char* k, int64_t dflt) const { return has(k) ? integer(k) : dflt; }
  double number(const char* k, double dflt) const {
    if (!has(k)) return dflt;
    if (!j[k].is_number()) throw Error(where + ": field \"" + k + "\" must be a number");
    return j[k].get<double>();
  }
  bool boolean(const char* k, bool dflt) const {
    if (!has(k)) return dflt;
    if (!j[k].is_boolean()) throw Error(where + ": field \"" + k + "\" must be true or false");
    return j[k].get<bool>();
  }
  std::string string(const char* k, const std::string& dflt) const {
    if (!has(k)) return dflt;
    if (!j[k].is_string()) throw Error(where + ": field \"" + k + "\" must be a string");
    return j[k].get<std::string>();
  }
};

Activation parse_act(const std::string& s, const std::string& where) {
  if (s == "silu" || s == "swish") return Activation::SiLU;
  if (s == "gelu_new" || s == "gelu_pytorch_tanh" || s == "gelu_fast") return Activation::GeluTanh;
  if (s == "gelu") return Activation::GeluErf;
  if (s == "relu") return Activation::ReLU;
  throw Error(where + ": unsupported activation \"" + s + "\" (supported: silu, gelu, gelu_new, gelu_pytorch_tanh, relu)");
}

void parse_rope_scaling(const Reader& r, ModelConfig& c) {
  if (!r.has("rope_scaling")) return;
  const json& s = r.j["rope_scaling"];
  const std::string w = r.where + ": field \"rope_scaling\"";
  if (!s.is_object()) throw Error(w + " must be an object or null");
  const char* type_key = s.contains("rope_type") ? "rope_type" : s.contains("type") ? "type" : nullptr;
  if (type_key && !s[type_key].is_string()) throw Error(w + ": \"" + type_key + "\" must be a string");
  const std::string type = type_key ? s[type_key].get<std::string>() : "";
  if (type == "default" || type.empty()) return;
  Reader sr{s, w};
  c.rope_scaling.type = type;
  c.rope_scaling.factor = sr.number("factor", 1);
  if (c.rope_scaling.factor <= 0) throw Error(w + ": factor must be > 0");
  if (type == "llama3") {
    c.rope_scaling.low_freq_factor = sr.number("low_freq_factor", 1);
    c.rope_scaling.high_freq_factor = sr.number("high_freq_factor", 4);
    c.rope_scaling.original_max_position_embeddings = sr.integer("original_max_position_embeddings", 8192);
    if (c.rope_scaling.high_freq_factor <= c.rope_scaling.low_freq_factor)
      throw Error(w + ": high_freq_factor must exceed low_freq_factor");
  } else if (type != "linear") {
    throw Error(w + ": unsupported rope type \"" + type + "\" (supported: default, linear, llama3)");
  }
}

void parse_eos(const Reader& r, ModelConfig& c) {
  c.bos_token_id = r.has("bos_token_id") && r.j["bos_token_id"].is_number_integer() ? r.j["bos_token_id"].get<int64_t>() : -1;
  if (!r.has("eos_token_id")) return;
  const json& e = r.j["eos_token_id"];
  if (e.is_number_integer()) c.eos_token_ids.push_back(e.get<int64_t>());
  else if (e.is_array())
    for (const auto& x : e) {
      if (!x.is_number_integer()) throw Error(r.where + ": field \"eos_token_id\" must hold integers");
      c.eos_token_ids.push_back(x.get<int64_t>());
    }
  else throw Error(r.where + ": field \"eos_token_id\" must be an integer or a list");
}

// GPT-2 and GPT-J share their config vocabulary (n_embd, n_layer, n_head, n_inner, n_positions, ...).
void read_gpt_family(const Reader& r, ModelConfig& c) {
  c.hidden = r.integer("n_embd");
  c.n_layers = r.integer("n_layer");
  c.n_heads = r.integer("n_head");
  c.n_kv_heads = c.n_heads;
  c.head_dim = c.n_heads ? c.hidden / c.n_heads : 0;
  c.intermediate = r.integer("n_inner", 4 * c.hidden);
  c.vocab = r.integer("vocab_size");
  c.max_positions = r.integer("n_positions");
  c.norm = NormKind::LayerNorm;
  c.norm_eps = r.number("layer_norm_epsilon", 1e-5);
  c.act = parse_act(r.string("activation_function", "gelu_new"), r.where);
  c.mlp = MlpKind::Plain;
}

}  // namespace

ModelConfig parse_model_config(const std::string& text, const std::string& where) {
  check_json_depth(text, where);
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw Error(where + ": not valid JSON (" + std::string(e.what()) + ")");
  }
  if (!j.is_object()) throw Error(where + ": not a JSON object");
  Reader r{j, where};
  ModelConfig c;
  c.model_type = r.string("model_type", "");
  if (c.model_type.empty()) throw Error(where + ": missing field \"model_type\"");
  c.torch_dtype = r.string("torch_dtype", "");
  parse_eos(r, c);

  const std::string& t = c.model_type;
  if (t == "llama" || t == "mistral" || t == "qwen2") {
    c.hidden = r.integer("hidden_size");
    c.n_layers = r.integer("num_hidden_layers");
    c.n_heads = r.integer("num_attention_heads");
    c.n_kv_heads = r.integer("num_key_value_heads", c.n_heads);
    c.head_dim = r.integer("head_dim", c.n_heads ? c.hidden / c.n_heads : 0);
    c.intermediate = r.integer("intermediate_size");
    c.vocab = r.integer("vocab_size");
    c.max_positions = r.integer("max_position_embeddings", 2048);
    c.norm = NormKind::RMSNorm;
    c.norm_eps = r.number("rms_norm_eps", 1e-6);
    c.act = parse_act(r.string("hidden_act", "silu"), where);
    c.mlp = MlpKind::Gated;
    c.block = BlockKind::Sequential;
    c.rope = RopeStyle::Half;
    c.rotary_dim = c.head_dim;
    c.rope_theta = r.number("rope_theta", 10000);
    parse_rope_scaling(r, c);
    c.tie_word_embeddings = r.boolean("tie_word_embeddings", false);
    if (t == "qwen2") {
      c.qkv_bias = true;
      if (r.boolean("use_sliding_window", false)) c.sliding_window = r.integer("sliding_window", 0);
    } else if (t == "mistral") {
      c.sliding_window = r.integer("sliding_window", 0);
    } else {
      c.qkv_bias = c.o_bias = r.boolean("attention_bias", false);
      c.mlp_bias = r.boolean("mlp_bias", false);
    }
  } else if (t == "gpt2") {
    read_gpt_family(r, c);
    c.block = BlockKind::Sequential;
    c.rope = RopeStyle::None;
    c.learned_positions = true;
    c.qkv_bias = c.o_bias = c.mlp_bias = true;
    c.tie_word_embeddings = r.boolean("tie_word_embeddings", true);
    if (r.boolean("scale_attn_by_inverse_layer_idx", false) || r.boolean("reorder_and_upcast_attn", false))
      throw Error(where + ": gpt2 options scale_attn_by_inverse_layer_idx / reorder_and_upcast_attn are not supported");
    if (!r.boolean("scale_attn_weights", true))
      throw Error(where + ": gpt2 option scale_attn_weights=false is not supported");
  } else if (t == "gptj") {
    read_gpt_family(r, c);
    c.block = BlockKind::ParallelSharedNorm;
    c.rope = RopeStyle::Interleaved;
    c.rotary_dim = r.integer("rotary_dim", c.head_dim);
    c.rope_theta = 10000;
    c.mlp_bias = true;
    c.lm_head_bias = true;
    c.tie_word_embeddings = r.boolean("tie_word_embeddings", false);
  } else if (t == "gpt_neox") {
    c.hidden = r.integer("hidden_size");
    c.n_layers = r.integer("num_hidden_layers");
    c.n_heads = r.integer("num_attention_heads");
    c.n_kv_heads = c.n_heads;
    c.head_dim = c.n_heads ? c.hidden / c.n_heads : 0;
    c.intermediate = r.integer("intermediate_size");
    c.vocab = r.integer("vocab_size");
    c.max_positions = r.integer("max_position_embeddings", 2048);
    c.norm = NormKind::LayerNorm;
    c.norm_eps = r.number("layer_norm_eps", 1e-5);
    c.act = parse_act(r.string("hidden_act", "gelu"), where);
    c.mlp = MlpKind::Plain;
    c.block = r.boolean("use_parallel_residual", true) ? BlockKind::Parallel : BlockKind::Sequential;
    c.rope = RopeStyle::Half;
    double pct = r.number("rotary_pct", 1.0);
    if (pct <= 0 || pct > 1) throw Error(where + ": field \"rotary_pct\" must be in (0, 1]");
    c.rotary_dim = static_cast<int64_t>(c.head_dim * pct);
    c.rope_theta = r.number("rotary_emb_base", r.number("rope_theta", 10000));
    parse_rope_scaling(r, c);
    c.qkv_bias = c.o_bias = r.boolean("attention_bias", true);
    c.mlp_bias = true;
    c.tie_word_embeddings = r.boolean("tie_word_embeddings", false);
  } else {
    std::string list;
    for (const auto& s : supported_model_types()) list += (list.empty() ? "" : ", ") + s;
    throw Error(where + ": unsupported model_type \"" + t + "\" (supported: " + list + ")");
  }

  auto positive = [&](int64_t v, const char* field) {
    if (v <= 0) throw Error(where + ": field \"" + std::string(field) + "\" must be > 0");
  };
  positive(c.hidden, "hidden size");
  positive(c.n_layers, "number of layers");
  positive(c.n_heads, "number of attention heads");
  positive(c.n_kv_heads, "num_key_value_heads");
  positive(c.head_dim, "head_dim");
  positive(c.vocab, "vocab_size");
  positive(c.intermediate, "intermediate size");
  positive(c.max_positions, "max positions");
  if (c.n_heads % c.n_kv_heads)
    throw Error(where + ": num_attention_heads (" + std::to_string(c.n_heads) +
                ") is not a multiple of num_key_value_heads (" + std::to_string(c.n_kv_heads) + ")");
  if (c.rope != RopeStyle::None && (c.rotary_dim <= 0 || c.rotary_dim > c.head_dim || c.rotary_dim % 2))
    throw Error(where + ": rotary dimension " + std::to_string(c.rotary_dim) + " must be even and in (0, head_dim]");
  if (c.rope_theta <= 0) throw Error(where + ": rope theta must be > 0");
  if (c.norm_eps <= 0) throw Error(where + ": norm epsilon must be > 0");
  return c;
}

ModelConfig load_model_config(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) throw Error(p.string() + ": cannot open (missing config.json?)");
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_model_config(ss.str(), p.string());
}

}  // namespace hl
