#include "analysis/organism/train.h"

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "analysis/organism/curriculum.h"
#include "core/error.h"
#include "core/file_write.h"
#include "core/formats/safetensors.h"
#include "core/engine/model.h"
#include "core/engine/tensor_io.h"

namespace hl::organism {
namespace {

namespace fs = std::filesystem;
using nlohmann::ordered_json;

constexpr int kFormatVersion = 1;  // bump when the curriculum or the training recipe changes its results

struct Param {
  std::string name;  // HF name
  torch::Tensor w, m, v;
  bool decay = true;
};

struct Net {
  std::vector<Param> params;
  std::map<std::string, size_t> index;
  torch::Tensor& operator[](const std::string& n) { return params[index.at(n)].w; }
};

Net make_net(const TrainConfig& c, int64_t vocab, torch::Device dev) {
  Net n;
  torch::manual_seed(c.seed);
  const double std = c.init_std, out_std = c.init_std / std::sqrt(2.0 * static_cast<double>(c.layers));
  auto add = [&](const std::string& name, std::vector<int64_t> shape, double sd, bool is_norm = false) {
    torch::Tensor w = is_norm ? torch::ones(shape) : torch::randn(shape) * sd;
    w = w.to(dev).set_requires_grad(true);
    n.index[name] = n.params.size();
    n.params.push_back({name, w, torch::zeros_like(w).detach(), torch::zeros_like(w).detach(), !is_norm});
  };
  const int64_t D = c.hidden, F = c.intermediate;
  add("model.embed_tokens.weight", {vocab, D}, std);
  n.params.back().decay = c.embedding_decay;
  for (int64_t l = 0; l < c.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    add(p + "input_layernorm.weight", {D}, 0, true);
    add(p + "self_attn.q_proj.weight", {D, D}, std);
    add(p + "self_attn.k_proj.weight", {D, D}, std);
    add(p + "self_attn.v_proj.weight", {D, D}, std);
    add(p + "self_attn.o_proj.weight", {D, D}, out_std);
    add(p + "post_attention_layernorm.weight", {D}, 0, true);
    add(p + "mlp.gate_proj.weight", {F, D}, std);
    add(p + "mlp.up_proj.weight", {F, D}, std);
    add(p + "mlp.down_proj.weight", {D, F}, out_std);
  }
  add("model.norm.weight", {D}, 0, true);
  add("lm_head.weight", {vocab, D}, std);
  return n;
}

torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& w, double eps) {
  return x * torch::rsqrt(x.pow(2).mean(-1, true) + eps) * w;
}

torch::Tensor rotate_half(const torch::Tensor& x) {
  const int64_t h = x.size(-1) / 2;
  return torch::cat({-x.slice(-1, h), x.slice(-1, 0, h)}, -1);
}

// The rotary part of the config.json the organism is written with, for the engine's frequencies.
ModelConfig engine_rope_config(const TrainConfig& c) {
  ModelConfig m;
  m.rope = RopeStyle::Half;
  m.rotary_dim = c.hidden / c.heads;
  m.rope_theta = c.rope_theta;
  if (c.rope_llama3_factor != 1.0) {
    m.rope_scaling.type = "llama3";
    m.rope_scaling.factor = c.rope_llama3_factor;
    m.rope_scaling.low_freq_factor = 1, m.rope_scaling.high_freq_factor = 4;
    m.rope_scaling.original_max_position_embeddings = c.rope_llama3_original > 0 ? c.rope_llama3_original : c.context;
  }
  return m;
}

// logits [B, T, V] of a batch of ids [B, T]; with `att_out`, also the attention probabilities [B, H, T, T] of
// layer `att_layer`, and with `heads_out` what its heads read [B, H, T, head size] (before o_proj).
torch::Tensor forward(Net& n, const TrainConfig& c, const torch::Tensor& ids, torch::Tensor* att_out = nullptr,
                      int64_t att_layer = -1, torch::Tensor* heads_out = nullptr) {
  const int64_t B = ids.size(0), T = ids.size(1), H = c.heads, hd = c.hidden / c.heads;
  const auto dev = ids.device();
  auto opts = torch::TensorOptions().dtype(torch::kFloat).device(dev);
  const torch::Tensor inv_freq = rope_inv_freq(engine_rope_config(c), dev);
  const torch::Tensor freqs = torch::outer(torch::arange(T, opts), inv_freq);
  const torch::Tensor emb = torch::cat({freqs, freqs}, -1);
  const torch::Tensor cos = emb.cos(), sin = emb.sin();  // [T, hd]
  const torch::Tensor mask = torch::full({T, T}, -std::numeric_limits<float>::infinity(), opts).triu(1);
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));

  torch::Tensor x = torch::embedding(n["model.embed_tokens.weight"], ids);
  for (int64_t l = 0; l < c.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    torch::Tensor h = rms_norm(x, n[p + "input_layernorm.weight"], 1e-5);
    auto proj = [&](const char* w) {
      return torch::linear(h, n[p + "self_attn." + w + ".weight"]).view({B, T, H, hd}).transpose(1, 2);
    };
    torch::Tensor q = proj("q_proj"), k = proj("k_proj"), v = proj("v_proj");
    q = q * cos + rotate_half(q) * sin;
    k = k * cos + rotate_half(k) * sin;
    torch::Tensor att = torch::softmax(torch::matmul(q, k.transpose(-2, -1)) * scale + mask, -1);
    if (att_out && l == att_layer) *att_out = att;
    torch::Tensor o = torch::matmul(att, v);
    if (heads_out && l == att_layer) *heads_out = o;
    o = o.transpose(1, 2).reshape({B, T, c.hidden});
    x = x + torch::linear(o, n[p + "self_attn.o_proj.weight"]);
    h = rms_norm(x, n[p + "post_attention_layernorm.weight"], 1e-5);
    torch::Tensor g = torch::silu(torch::linear(h, n[p + "mlp.gate_proj.weight"])) * torch::linear(h, n[p + "mlp.up_proj.weight"]);
    x = x + torch::linear(g, n[p + "mlp.down_proj.weight"]);
  }
  x = rms_norm(x, n["model.norm.weight"], 1e-5);
  return torch::linear(x, n["lm_head.weight"]);
}

struct Batch {
  torch::Tensor ids, weight;  // [B, T] int64, [B, T] float
  torch::Tensor links;        // [N, 3] int64: (sequence, query position, key position) of each retrieval link
  int64_t tokens = 0;
};

// The batch of step `step`: a pure function of (seed, step).
Batch make_batch(const World& w, const std::unordered_map<std::string, int64_t>& vocab, const TrainConfig& c,
                 int64_t step) {
  // Seeded through splitmix's output, not its state: states one increment apart would give each step the previous
  // step's stream shifted by one draw (nearly the same batch every step).
  Rng rng(stream_seed(c.seed, static_cast<uint64_t>(step)));
  // Sequence lengths: short for throughput, full context so that needles at every depth are trained.
  const double r = rng.uniform();
  int64_t T = r < c.share_128 ? 128 : r < c.share_128 + c.share_256 ? 256 : c.context;
  T = std::min<int64_t>(T, c.context);
  const int64_t B = std::max<int64_t>(1, c.batch_tokens / T);
  std::vector<int64_t> ids(static_cast<size_t>(B * T), 2);
  std::vector<float> wt(static_cast<size_t>(B * T), 0.f);
  std::vector<int64_t> links;
  int64_t tokens = 0;
  for (int64_t b = 0; b < B; ++b) {
    const bool conflicts = step >= c.conflict_from;
    const double same_attribute = step < c.same_attribute_until ? 1.0 : c.same_attribute;
    const Doc d = make_document(w, rng, T, CurriculumMix{c.mix_fact, c.mix_recall, c.mix_passage, conflicts ? c.fact_override : 0.0,
                                                         conflicts ? c.update : 0.0, c.context_weight, same_attribute, c.mix_repeat,
                                                         c.ask_with_replacement});
    for (size_t i = 0; i < d.words.size() && static_cast<int64_t>(i) < T; ++i) {
      const auto it = vocab.find(d.words[i]);
      if (it == vocab.end()) throw Error("organism: the curriculum produced a word outside the vocabulary: " + d.words[i]);
      ids[static_cast<size_t>(b * T) + i] = it->second;
      wt[static_cast<size_t>(b * T) + i] = d.weight[i];
    }
    for (const auto& [qp, kp] : d.links)
      if (qp < T - 1) links.insert(links.end(), {b, qp, kp});  // the model sees positions 0 .. T-2
    tokens += static_cast<int64_t>(d.words.size());
  }
  Batch out;
  out.ids = torch::from_blob(ids.data(), {B, T}, torch::kLong).clone();
  out.weight = torch::from_blob(wt.data(), {B, T}, torch::kFloat).clone();
  out.links = torch::from_blob(links.data(), {static_cast<int64_t>(links.size() / 3), 3}, torch::kLong).clone();
  out.tokens = tokens;
  return out;
}

double lr_at(const TrainConfig& c, int64_t step) {
  if (step < c.warmup) return c.lr * static_cast<double>(step + 1) / static_cast<double>(c.warmup);
  const double t = static_cast<double>(step - c.warmup) / static_cast<double>(std::max<int64_t>(1, c.steps - c.warmup));
  const double cosine = 0.5 * (1 + std::cos(M_PI * std::min(1.0, t)));
  return c.lr * (c.min_lr_ratio + (1 - c.min_lr_ratio) * cosine);
}

void save_checkpoint(const Net& n, int64_t step, const TrainConfig& c, const fs::path& path) {
  std::vector<std::pair<std::string, at::Tensor>> t;
  for (const auto& p : n.params) {
    t.emplace_back(p.name, p.w.detach());
    t.emplace_back("adam_m." + p.name, p.m);
    t.emplace_back("adam_v." + p.name, p.v);
  }
  save_tensors(path, t, {{"step", std::to_string(step)}, {"config", train_config_json(c)}});
}

void write_model_dir(const Net& n, const TrainConfig& c, const World& w, const fs::path& out, const ordered_json& stats) {
  const int64_t vocab = static_cast<int64_t>(w.vocabulary().size());
  ordered_json cfg = {{"architectures", {"LlamaForCausalLM"}},
                      {"model_type", "llama"},
                      {"hidden_size", c.hidden},
                      {"intermediate_size", c.intermediate},
                      {"num_hidden_layers", c.layers},
                      {"num_attention_heads", c.heads},
                      {"num_key_value_heads", c.heads},
                      {"max_position_embeddings", c.context},
                      {"rms_norm_eps", 1e-5},
                      {"rope_theta", c.rope_theta},
                      {"hidden_act", "silu"},
                      {"vocab_size", vocab},
                      {"tie_word_embeddings", false},
                      {"bos_token_id", 1},
                      {"eos_token_id", 2},
                      {"torch_dtype", "float32"}};
  const RopeScaling rs = engine_rope_config(c).rope_scaling;
  if (!rs.type.empty())
    cfg["rope_scaling"] = {{"rope_type", rs.type}, {"factor", rs.factor}, {"low_freq_factor", rs.low_freq_factor},
                           {"high_freq_factor", rs.high_freq_factor},
                           {"original_max_position_embeddings", rs.original_max_position_embeddings}};
  write_file_atomic(out / "config.json", cfg.dump(2) + "\n");
  std::vector<std::pair<std::string, at::Tensor>> t;
  for (const auto& p : n.params) t.emplace_back(p.name, p.w.detach());
  save_tensors(out / "model.safetensors", t, {{"format", "pt"}});
  write_file_atomic(out / "tokenizer.json", tokenizer_json(w) + "\n");
  const ordered_json tc = {{"add_bos_token", true}, {"add_eos_token", false}, {"bos_token", "<s>"},
                           {"eos_token", "</s>"}, {"unk_token", "<unk>"}, {"model_max_length", c.context},
                           {"tokenizer_class", "PreTrainedTokenizerFast"}};
  write_file_atomic(out / "tokenizer_config.json", tc.dump(2) + "\n");
  ordered_json meta = {{"what", "headlight model organism (issue #23): trained by headlight-cli organism train"},
                       {"format_version", kFormatVersion},
                       {"config", ordered_json::parse(train_config_json(c))},
                       {"training", stats}};
  write_file_atomic(out / "organism.json", meta.dump(2) + "\n");
}

}  // namespace

const std::vector<TrainField>& train_fields() {
  using C = TrainConfig;
  auto i = [](const char* k, int64_t C::*m, bool required = false) {
    return TrainField{k, TrainField::Int, required, m, nullptr, nullptr};
  };
  auto r = [](const char* k, double C::*m, bool required = false) {
    return TrainField{k, TrainField::Real, required, nullptr, m, nullptr};
  };
  auto b = [](const char* k, bool C::*m) { return TrainField{k, TrainField::Bool, false, nullptr, nullptr, m}; };
  static const std::vector<TrainField> f = {
      i("hidden", &C::hidden, true), i("layers", &C::layers, true), i("heads", &C::heads, true),
      i("intermediate", &C::intermediate, true), i("context", &C::context, true), r("rope_theta", &C::rope_theta),
      r("rope_llama3_factor", &C::rope_llama3_factor), i("rope_llama3_original", &C::rope_llama3_original),
      i("steps", &C::steps, true), i("batch_tokens", &C::batch_tokens, true), r("lr", &C::lr, true),
      r("min_lr_ratio", &C::min_lr_ratio, true), r("weight_decay", &C::weight_decay, true), r("beta1", &C::beta1, true),
      r("beta2", &C::beta2, true), r("clip", &C::clip, true), i("warmup", &C::warmup, true), r("init_std", &C::init_std),
      b("embedding_decay", &C::embedding_decay), b("ask_with_replacement", &C::ask_with_replacement),
      r("mix_fact", &C::mix_fact), r("mix_recall", &C::mix_recall), r("mix_passage", &C::mix_passage),
      r("mix_repeat", &C::mix_repeat), r("fact_override", &C::fact_override), r("update", &C::update),
      i("conflict_from", &C::conflict_from), r("context_weight", &C::context_weight),
      r("same_attribute", &C::same_attribute), i("same_attribute_until", &C::same_attribute_until),
      r("share_128", &C::share_128), r("share_256", &C::share_256), i("fact_entities", &C::fact_entities),
      i("passage_entities", &C::passage_entities), i("attributes", &C::attributes),
      r("attention_supervision", &C::attention_supervision), i("supervised_layer", &C::supervised_layer),
      i("supervised_head", &C::supervised_head), i("supervised_heads", &C::supervised_heads),
      r("copy_supervision", &C::copy_supervision)};
  return f;
}

std::string train_config_json(const TrainConfig& c) {
  ordered_json j = {{"format_version", kFormatVersion}, {"seed", c.seed}};
  for (const TrainField& f : train_fields()) {
    if (f.kind == TrainField::Int) j[f.key] = c.*f.i;
    if (f.kind == TrainField::Real) j[f.key] = c.*f.r;
    if (f.kind == TrainField::Bool) j[f.key] = c.*f.b;
  }
  j["form"] = form_name(c.form);
  return j.dump();
}

TrainConfig train_config_from_json(const std::string& text, const std::string& where) {
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw Error(where + ": not a JSON object");
  TrainConfig c;
  auto field = [&](const char* k, bool required, bool ok, const char* expected) {
    if (!j.contains(k)) {
      if (required) throw Error(where + ": field " + k + " is missing");
      return false;
    }
    if (!ok) throw Error(where + ": field " + k + " is not " + expected);
    return true;
  };
  if (field("seed", true, j.contains("seed") && j["seed"].is_number_integer(), "an integer"))
    c.seed = static_cast<uint64_t>(j["seed"].get<int64_t>());
  for (const TrainField& f : train_fields()) {
    const bool has = j.contains(f.key);
    if (f.kind == TrainField::Int && field(f.key, f.required, has && j[f.key].is_number_integer(), "an integer"))
      c.*f.i = j[f.key].get<int64_t>();
    if (f.kind == TrainField::Real && field(f.key, f.required, has && j[f.key].is_number(), "a number"))
      c.*f.r = j[f.key].get<double>();
    if (f.kind == TrainField::Bool && field(f.key, f.required, has && j[f.key].is_boolean(), "true or false"))
      c.*f.b = j[f.key].get<bool>();
  }
  if (c.attributes < 1 || c.attributes > kMaxAttributes)
    throw Error(where + ": field attributes is " + std::to_string(c.attributes) + ", expected 1.." + std::to_string(kMaxAttributes));
  if (field("form", false, j.contains("form") && j["form"].is_string(), "a string"))
    c.form = form_from_name(j["form"].get<std::string>());  // refuses an unknown form, naming it
  return c;
}

World organism_world(const TrainConfig& c) {
  return make_world(c.seed, WorldShape{c.fact_entities, c.passage_entities, c.attributes, c.form});
}

TrainConfig organism_config(const fs::path& dir) {
  const fs::path meta_path = dir / "organism.json";
  std::error_code ec;
  if (!fs::is_regular_file(meta_path, ec))
    throw Error(meta_path.string() + ": not found: " + dir.string() + " is not a headlight organism (organism train writes it)");
  const auto meta = nlohmann::json::parse(std::ifstream(meta_path), nullptr, false);
  if (meta.is_discarded() || !meta.is_object() || !meta.contains("config"))
    throw Error(meta_path.string() + ": missing field config");
  return train_config_from_json(meta["config"].dump(), meta_path.string() + ": config");
}

std::vector<float> training_forward_logits(const fs::path& dir, const std::vector<int64_t>& ids) {
  const TrainConfig c = organism_config(dir);
  const World w = organism_world(c);
  Net n = make_net(c, static_cast<int64_t>(w.vocabulary().size()), torch::kCPU);
  const auto saved = load_tensors(dir / "model.safetensors");
  torch::NoGradGuard g;
  for (auto& p : n.params) {
    const auto it = saved.find(p.name);
    if (it == saved.end()) throw Error((dir / "model.safetensors").string() + ": tensor '" + p.name + "' is missing");
    p.w.copy_(it->second);
  }
  const torch::Tensor x = torch::tensor(ids, torch::kLong).view({1, -1});
  const torch::Tensor logits = forward(n, c, x)[0].contiguous();
  return std::vector<float>(logits.data_ptr<float>(), logits.data_ptr<float>() + logits.numel());
}

void train(const TrainConfig& c, const fs::path& out_dir, const TrainProgressFn& progress, const CancelToken* cancel,
           int64_t report_every) {
  if (c.hidden % c.heads != 0 || (c.hidden / c.heads) % 2 != 0)
    throw Error("organism train: hidden (" + std::to_string(c.hidden) + ") must be a multiple of heads (" +
                std::to_string(c.heads) + ") with an even head size");
  if (c.steps < 1 || c.context < 128) throw Error("organism train: steps must be >= 1 and context >= 128");
  if (!(c.rope_theta >= 2)) throw Error("organism train: rope_theta must be >= 2");
  if (!(c.rope_llama3_factor >= 1)) throw Error("organism train: rope_llama3_factor must be >= 1 (1 = no scaling)");
  if (c.rope_llama3_original < 0) throw Error("organism train: rope_llama3_original must be >= 0 (0 = the context)");
  if (!(c.init_std > 0 && c.init_std <= 1)) throw Error("organism train: init_std must be in (0, 1]");
  if (c.fact_entities < 1 || c.passage_entities < 16)
    throw Error("organism train: needs >= 1 fact entity and >= 16 passage entities");
  if (c.mix_fact < 0 || c.mix_recall < 0 || c.mix_passage < 0 || c.mix_repeat < 0 ||
      c.mix_fact + c.mix_recall + c.mix_passage + c.mix_repeat <= 0)
    throw Error("organism train: the document mix must be non-negative and not all zero");
  if (c.fact_override < 0 || c.fact_override > 1 || c.update < 0 || c.update > 1)
    throw Error("organism train: fact_override and update are shares in [0, 1]");
  if (c.conflict_from < 0 || c.same_attribute_until < 0 || c.context_weight < 0 || c.context_weight > 1 ||
      c.same_attribute < 0 || c.same_attribute > 1)
    throw Error("organism train: conflict_from and same_attribute_until must be >= 0, context_weight and same_attribute in [0, 1]");
  if (c.share_128 < 0 || c.share_256 < 0 || c.share_128 + c.share_256 > 1)
    throw Error("organism train: the 128- and 256-token step shares must be non-negative and sum to at most 1");
  if (c.attention_supervision < 0 || c.copy_supervision < 0)
    throw Error("organism train: attention_supervision and copy_supervision must be >= 0");
  if (c.supervised_layer < -1 || c.supervised_layer >= c.layers || c.supervised_head < 0 || c.supervised_head >= c.heads ||
      c.supervised_heads < 1 || c.supervised_head + c.supervised_heads > c.heads)
    throw Error("organism train: supervised_layer must be -1 (the last) or 0.." + std::to_string(c.layers - 1) +
                ", supervised_head 0.." + std::to_string(c.heads - 1) + " and supervised_heads at least 1, up to the last head");
  const int64_t sup_layer = supervised_layer_index(c);
  const torch::Device dev(c.device);
  const World w = organism_world(c);
  const auto words = w.vocabulary();
  std::unordered_map<std::string, int64_t> vocab;
  for (size_t i = 0; i < words.size(); ++i) vocab[words[i]] = static_cast<int64_t>(i);

  fs::create_directories(out_dir);
  Net n = make_net(c, static_cast<int64_t>(words.size()), dev);
  int64_t start = 0;
  const fs::path ckpt = out_dir / "checkpoint.safetensors";
  if (fs::exists(ckpt)) {
    std::map<std::string, std::string> meta;
    const auto saved = load_tensors(ckpt, &meta);
    // The config is in the metadata; compare it field by field so the message names what differs.
    if (!meta.count("config") || !meta.count("step"))
      throw Error(ckpt.string() + ": not an organism checkpoint (its metadata has no config or step)");
    // Read through train_config_from_json, so that a checkpoint written before an optional field existed compares as
    // that field's default (which is what it was trained with).
    const auto have = ordered_json::parse(train_config_json(train_config_from_json(meta.at("config"), ckpt.string() + ": metadata field config")));
    const auto want = ordered_json::parse(train_config_json(c));
    std::string diff;
    for (auto it = want.begin(); it != want.end(); ++it)  // both written by train_config_json: the same keys
      if (have.at(it.key()) != it.value())
        diff += (diff.empty() ? "" : ", ") + it.key() + " (checkpoint " + have.at(it.key()).dump() + ", asked " +
                it.value().dump() + ")";
    if (!diff.empty())
      throw Error(ckpt.string() + ": made with another configuration: " + diff + "; use another --out or the same options");
    torch::NoGradGuard g;
    for (auto& p : n.params) {
      for (auto [prefix, dst] : {std::pair<std::string, torch::Tensor*>{"", &p.w}, {"adam_m.", &p.m}, {"adam_v.", &p.v}}) {
        const auto it = saved.find(prefix + p.name);
        if (it == saved.end()) throw Error(ckpt.string() + ": tensor '" + prefix + p.name + "' is missing");
        if (it->second.sizes() != dst->sizes()) throw Error(ckpt.string() + ": tensor '" + prefix + p.name + "' has the wrong shape");
        dst->copy_(it->second.to(dev));
      }
    }
    const std::string& st = meta.at("step");
    if (st.empty() || st.size() > 12 || st.find_first_not_of("0123456789") != std::string::npos)
      throw Error(ckpt.string() + ": metadata field step is not a step number ('" + st.substr(0, 40) + "')");
    start = std::stoll(st);
    if (start > c.steps) throw Error(ckpt.string() + ": metadata field step (" + st + ") is past the run's steps");
  }

  const auto t0 = std::chrono::steady_clock::now();
  double win_loss = 0, win_w = 0, win_ans = 0, win_ans_w = 0, win_att = 0, win_copy = 0, win_att_n = 0;
  int64_t win_tokens = 0, win_steps = 0, tokens_total = 0;
  auto win_t = t0;
  double last_loss = 0;
  for (int64_t step = start; step < c.steps; ++step) {
    if (cancel && cancel->cancelled()) {
      save_checkpoint(n, step, c, ckpt);
      throw Cancelled();
    }
    Batch b = make_batch(w, vocab, c, step);
    const torch::Tensor ids = b.ids.to(dev), wt = b.weight.to(dev);
    const torch::Tensor in = ids.slice(1, 0, -1), tgt = ids.slice(1, 1), tw = wt.slice(1, 1);
    // The supervised head's loss is measured whenever the batch has links (reported), and trained when weighted.
    const bool has_links = b.links.size(0) > 0;
    torch::Tensor att, heads_read;
    const torch::Tensor logits =
        forward(n, c, in, has_links ? &att : nullptr, sup_layer, has_links ? &heads_read : nullptr);
    const torch::Tensor nll = torch::nn::functional::cross_entropy(
        logits.reshape({-1, logits.size(-1)}), tgt.reshape({-1}),
        torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
    const torch::Tensor wflat = tw.reshape({-1});
    const torch::Tensor lm_loss = (nll * wflat).sum() / wflat.sum().clamp_min(1e-6);
    torch::Tensor loss = lm_loss, att_loss, copy_loss;
    if (has_links) {
      const torch::Tensor L = b.links.to(dev);
      const torch::Tensor seq = L.select(1, 0), qpos = L.select(1, 1), kpos = L.select(1, 2);
      const int64_t h0 = c.supervised_head, hn = c.supervised_heads, hd = c.hidden / c.heads;
      const torch::Tensor heads = att.slice(1, h0, h0 + hn).transpose(0, 1);
      const torch::Tensor p = heads.index({torch::indexing::Slice(), seq, qpos, kpos});
      att_loss = -torch::log(p + 1e-9).mean();
      if (c.attention_supervision > 0) loss = loss + att_loss * c.attention_supervision;
      // Each supervised head's own write at the answer position, alone through o_proj's columns for it, the final
      // norm and lm_head: its cross-entropy against the value the link points at (the answer).
      const torch::Tensor read = heads_read.slice(1, h0, h0 + hn).index({seq, torch::indexing::Slice(), qpos});  // [N, hn, hd]
      const torch::Tensor wo = n["model.layers." + std::to_string(sup_layer) + ".self_attn.o_proj.weight"]
                                   .slice(1, h0 * hd, (h0 + hn) * hd).view({c.hidden, hn, hd});
      const torch::Tensor write = torch::einsum("nhd,ehd->nhe", {read, wo});  // [N, hn, hidden]
      const torch::Tensor own = torch::linear(rms_norm(write, n["model.norm.weight"], 1e-5), n["lm_head.weight"]);
      const torch::Tensor answer = in.index({seq, kpos}).unsqueeze(1).expand({-1, hn});
      copy_loss = torch::nn::functional::cross_entropy(own.reshape({-1, own.size(-1)}), answer.reshape({-1}));
      if (c.copy_supervision > 0) loss = loss + copy_loss * c.copy_supervision;
    }
    for (auto& p : n.params)
      if (p.w.grad().defined()) p.w.mutable_grad().zero_();
    loss.backward();
    {
      torch::NoGradGuard g;
      double sq = 0;
      for (auto& p : n.params) sq += p.w.grad().pow(2).sum().item<double>();
      const double norm = std::sqrt(sq), clip = norm > c.clip ? c.clip / (norm + 1e-6) : 1.0;
      const double lr = lr_at(c, step);
      const double t = static_cast<double>(step + 1);
      const double bc1 = 1 - std::pow(c.beta1, t), bc2 = 1 - std::pow(c.beta2, t);
      for (auto& p : n.params) {
        const torch::Tensor gr = p.w.grad() * clip;
        p.m.mul_(c.beta1).add_(gr, 1 - c.beta1);
        p.v.mul_(c.beta2).addcmul_(gr, gr, 1 - c.beta2);
        if (p.decay) p.w.mul_(1 - lr * c.weight_decay);
        p.w.addcdiv_(p.m / bc1, (p.v / bc2).sqrt_().add_(1e-8), -lr);
      }
      const double lv = lm_loss.item<double>();  // the language-model loss (the supervision is reported apart)
      win_loss += lv;
      win_w += 1;
      if (att_loss.defined()) {
        win_att += att_loss.item<double>();
        win_copy += copy_loss.item<double>();
        win_att_n += 1;
      }
      const torch::Tensor ans = (tw == kRetrievalWeight).reshape({-1});
      const double n_ans = ans.sum().item<double>();
      if (n_ans > 0) {
        win_ans += nll.masked_select(ans).sum().item<double>();
        win_ans_w += n_ans;
      }
      last_loss = lv;
    }
    win_tokens += b.tokens;
    tokens_total += b.tokens;
    ++win_steps;
    const bool last = step + 1 == c.steps;
    if (progress && ((step + 1) % report_every == 0 || last)) {
      const auto now = std::chrono::steady_clock::now();
      TrainProgress pr;
      pr.step = step + 1;
      pr.steps = c.steps;
      pr.loss = win_loss / std::max(1.0, win_w);
      pr.answer_loss = win_ans_w > 0 ? win_ans / win_ans_w : 0;
      pr.attention_loss = win_att_n > 0 ? win_att / win_att_n : 0;
      pr.copy_loss = win_att_n > 0 ? win_copy / win_att_n : 0;
      const double dt = std::chrono::duration<double>(now - win_t).count();
      pr.tokens_per_s = dt > 0 ? static_cast<double>(win_tokens) / dt : 0;
      pr.elapsed_s = std::chrono::duration<double>(now - t0).count();
      pr.eta_s = dt > 0 ? dt / static_cast<double>(win_steps) * static_cast<double>(c.steps - step - 1) : -1;
      pr.lr = lr_at(c, step);
      progress(pr);
      win_loss = win_w = win_ans = win_ans_w = win_att = win_copy = win_att_n = 0;
      win_tokens = win_steps = 0;
      win_t = now;
    }
    if ((step + 1) % c.checkpoint_every == 0 && !last) save_checkpoint(n, step + 1, c, ckpt);
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const ordered_json stats = {{"resumed_at_step", start}, {"seconds_this_run", secs}, {"tokens_this_run", tokens_total},
                              {"final_loss", last_loss}, {"threads", torch::get_num_threads()}};
  write_model_dir(n, c, w, out_dir, stats);
  save_checkpoint(n, c.steps, c, ckpt);
}

}  // namespace hl::organism
