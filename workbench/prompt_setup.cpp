#include "workbench/prompt_setup.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "analysis/steering_resolve.h"
#include "core/engine/model.h"
#include "core/error.h"
#include "core/tokenizers/tokenizer.h"

namespace hl::wb {
namespace {

bool valid_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return false;
    i += n;
  }
  return true;
}

}  // namespace

PromptSetup setup_prompt(const Model& m, const PromptRequest& req) {
  if (req.text.has_value() == req.ids.has_value()) throw Error("give exactly one prompt: text or token ids");
  PromptSetup ps;
  // Without a spec the text is taken literally: markers (`**...**`, GUIDE tags) are parsed only when a spec asks for
  // them (spec.markers, on by default in a spec), so a prompt that happens to contain "**" is never rewritten.
  SteeringSpec spec;
  spec.markers = false;
  if (req.spec) {
    spec = *req.spec;
    ps.spec_json = steering_spec_to_json(spec, -1);
  }
  // KV-head indices mapped once (spec_json keeps what the user wrote); checked before the prompt is read.
  const ModelConfig& mc = m.config();
  const SteeringSpec mapped = with_query_heads(spec, mc.n_layers, mc.n_heads, mc.n_kv_heads);
  validate_steering_spec(mapped, mc.n_layers, mc.n_heads);
  ResolvedSteering r;
  if (req.ids) {
    check_ids(m, *req.ids, "ids");
    r = resolve_ids(mapped, mc, *req.ids);
  } else {
    if (!valid_utf8(*req.text)) throw Error("prompt: not valid UTF-8 text");
    r = resolve(mapped, mc, *req.text, require_tokenizer(m), default_add_bos(m));
  }
  ps.ids = std::move(r.ids);
  ps.text = std::move(r.clean_text);
  ps.offsets = std::move(r.offsets);
  ps.steering_spans = r.spans;
  for (const auto& s : r.spans) ps.spans.emplace_back(s.begin, s.end);
  if (r.influence_span) ps.influence_span = std::make_pair(r.influence_span->begin, r.influence_span->end);
  // Ablation alone (method none) is a bias too: its second operator.
  if (mapped.method != SteeringMethod::None || !mapped.ablate.empty())
    ps.bias = std::make_unique<AttentionBias>(std::move(r.bias));
  ps.spec = mapped;
  if (ps.ids.empty()) throw Error("prompt: the prompt tokenises to nothing");
  return ps;
}

bool default_add_bos(const Model& m) {
  const Tokenizer* t = m.tokenizer();
  if (!t || t->bos_id() < 0) return false;
  std::filesystem::path dir = m.source();
  if (!std::filesystem::is_directory(dir)) dir = dir.parent_path();
  std::ifstream f(dir / "tokenizer_config.json");
  if (f) {
    std::stringstream ss;
    ss << f.rdbuf();
    auto j = nlohmann::json::parse(ss.str(), nullptr, false);
    if (j.is_object() && j.contains("add_bos_token") && j["add_bos_token"].is_boolean()) return j["add_bos_token"].get<bool>();
  }
  return t->kind() != "bpe";  // SentencePiece / llama2.c tokenizers prepend BOS (HF LlamaTokenizer default)
}

const Tokenizer& require_tokenizer(const Model& m) {
  if (!m.tokenizer())
    throw Error(m.source().string() + ": no tokenizer found (tokenizer.json, tokenizer.model or tokenizer.bin); pass --ids");
  return *m.tokenizer();
}

void check_ids(const Model& m, const std::vector<int64_t>& ids, const std::string& where) {
  for (int64_t v : ids)
    if (v < 0 || v >= m.config().vocab)
      throw Error(where + ": token id " + std::to_string(v) + " is outside the vocabulary [0, " +
                  std::to_string(m.config().vocab) + ")");
}

}  // namespace hl::wb
