// Commands over a plain model: info, tokenize, logits.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "app/cli/commands.h"
#include "app/cli/model_args.h"
#include "app/cli/prompt_setup.h"
#include "core/engine/capture.h"
#include "core/engine/packed_linear.h"
#include "core/engine/tensor_io.h"
#include "core/kernels/cpu_features.h"

namespace hl::cli {
namespace {

int cmd_info(const Args& a) {
  nlohmann::json j;
  if (a.has("model")) {
    auto m = load_model(a);
    const ModelConfig& c = m->config();
    j = {{"model_type", c.model_type}, {"layers", c.n_layers}, {"heads", c.n_heads}, {"kv_heads", c.n_kv_heads},
         {"head_dim", c.head_dim}, {"hidden", c.hidden}, {"vocab", c.vocab}, {"max_positions", c.max_positions},
         {"params", m->param_count()}, {"device", m->device().str()},
         {"tokenizer", m->tokenizer() ? m->tokenizer()->kind() : "none"},
         {"projections", m->weights_packed() ? std::string("packed, ") + engine::packed_kernels() + " kernels"
                                             : std::string("row-major, ") + blas_backend()},
         // What --dtype chose: the projections' storage (bf16 checkpoints stay bf16 by default), the dtype the
         // forward computes in (activations, sums), and the kernels the packed products run on.
         {"storage_dtype", m->weight_storage()},
         {"compute_dtype", m->dtype() == at::kFloat ? "f32" : m->dtype() == at::kBFloat16 ? "bf16" : "f16"},
         {"projection_bytes", m->projection_bytes()}};
  } else {
    set_threads(a);
  }
  // The CPU kernel family every fused op, attention and packed product runs on (the kernel table's; CPU models).
  const kernels::KernelTable& kt = kernels::table();
  j["kernels"] = kernels::isa_name(kt.isa);
  j["kernel_families"] = nlohmann::json::array();
  for (kernels::Isa isa : kernels::supported_isas()) j["kernel_families"].push_back(kernels::isa_name(isa));
  const kernels::CpuFeatures& f = kernels::cpu_features();
  j["cpu_features"] = {{"avx2", f.avx2}, {"fma", f.fma}, {"f16c", f.f16c}, {"avx512f", f.avx512f},
                       {"avx512bf16", f.avx512bf16}};
  const std::string blas = blas_backend();
  j["blas"] = blas;
  j["threads"] = at::get_num_threads();
  j["parallel_loop_threads"] = parallel_loop_threads();
  j["cuda_available"] = at::hasCUDA();
  std::printf("%s\n", j.dump(2).c_str());
  if (blas == "reference blas")
    std::fprintf(stderr, "warning: libtorch is using the reference BLAS (about 20x slower); install libopenblas0-openmp\n");
  return 0;
}

int cmd_tokenize(const Args& a) {
  LoadOptions lo;
  auto tok_path = a.get("model");
  std::unique_ptr<Tokenizer> owned;
  std::unique_ptr<Model> m;
  // Tokenising needs no weights when the directory holds a tokenizer.
  try {
    owned = load_tokenizer(tok_path);
  } catch (const Error&) {
    m = load_model(a);
  }
  const Tokenizer& t = owned ? *owned : require_tokenizer(*m);
  EncodeOptions eo;
  eo.add_bos = a.has("bos");
  Encoding e = t.encode(a.get("text"), eo);
  nlohmann::json offs = nlohmann::json::array();
  for (auto [s, en] : e.offsets) offs.push_back({s, en});
  // Each id's text (what token " ball" is), next to the ids.
  nlohmann::json tokens = nlohmann::json::array();
  for (int64_t id : e.ids) tokens.push_back(t.token_text(id));
  nlohmann::json j = {{"ids", e.ids}, {"tokens", tokens}, {"offsets", offs}};
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

int cmd_logits(const Args& a) {
  auto m = load_model(a);
  PromptSetup ps = setup_prompt(a, *m);
  const auto& ids = ps.ids;
  const ModelConfig& c = m->config();
  const auto T = static_cast<int64_t>(ids.size());
  KVCache cache = m->new_cache(1, T);
  ForwardOptions fo;
  fo.all_logits = true;
  fo.bias = ps.bias.get();
  AttentionRecorder rec(c.n_layers, c.n_heads);
  if (a.has("attentions")) fo.observer = &rec;
  ForwardResult r = m->forward(at::tensor(ids, at::kLong).unsqueeze(0), cache, fo);
  std::vector<std::pair<std::string, at::Tensor>> out = {{"logits", r.logits[0]}};
  if (a.has("attentions")) out.push_back({"attentions", rec.all()});
  save_tensors(a.get("out"), out);
  if (auto rec = open_recorder(a)) {
    rec->start("logits", *m, ps, {}, 0);
    rec->finish();
  }
  return 0;
}

RegisterCommand reg_info("info", "model shape and runtime (BLAS, threads, kernels) as JSON", model_options(), cmd_info);
RegisterCommand reg_tok("tokenize", "ids, token strings and character offsets of a text (JSON)",
                        model_options() + std::vector<OptionSpec>{text("text", "TEXT", "the text (required)"),
                                                                  flag("bos", "prepend the BOS token")},
                        cmd_tokenize);
RegisterCommand reg_logits(
    "logits", "next-token logits of every position (and with --attentions every head's map) to safetensors",
    model_options() + prompt_options() +
        std::vector<OptionSpec>{flag("attentions", "also write every head's attention [L, H, T, T]"),
                                text("out", "FILE.safetensors", "output file (required)"),
                                text("db", "FILE", "record the run in this store")},
    cmd_logits);

}  // namespace
}  // namespace hl::cli
