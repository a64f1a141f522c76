// Loaders for byte-level BPE: HF tokenizer.json, and GPT-2's vocab.json + merges.txt pair.
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json_limits.h"
#include "core/tokenizers/tokenizer_bpe.h"

namespace hl::tok {
namespace {

using nlohmann::json;

json parse_json(const std::filesystem::path& file) { return parse_json_bounded(read_file(file), file.string()); }

// bos/eos from tokenizer_config.json next to the tokenizer files, else the family's usual names.
void find_bos_eos(const std::filesystem::path& dir, BpeSpec& spec) {
  const ConfigBosEos cfg = read_config_bos_eos(dir);
  if (!cfg.bos.empty() || !cfg.eos.empty()) {
    spec.bos_token = cfg.bos;
    spec.eos_token = cfg.eos;
    return;
  }
  auto known = [&](const std::string& t) {
    if (spec.vocab.count(t)) return true;
    for (const auto& a : spec.added)
      if (a.content == t) return true;
    return false;
  };
  for (const auto& [bos, eos] : std::vector<std::pair<std::string, std::string>>{
           {"<|endoftext|>", "<|endoftext|>"}, {"<|begin_of_text|>", "<|end_of_text|>"}, {"<s>", "</s>"}}) {
    if (known(bos) && known(eos)) {
      spec.bos_token = bos;
      spec.eos_token = eos;
      return;
    }
  }
}

void read_vocab(const json& vocab, const std::string& where, BpeSpec& spec) {
  if (!vocab.is_object()) throw Error(where + " must be an object of token -> id");
  if (static_cast<int64_t>(vocab.size()) > kMaxVocab)
    throw Error(where + " has " + std::to_string(vocab.size()) + " entries (limit " + std::to_string(kMaxVocab) + ")");
  spec.vocab.reserve(vocab.size());
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (!it.value().is_number_integer()) throw Error(where + "['" + it.key() + "'] is not an integer id");
    if (static_cast<int64_t>(it.key().size()) > kMaxTokenBytes) throw Error(where + " has an over-long token");
    spec.vocab.emplace(it.key(), it.value().get<int64_t>());
  }
}

std::pair<std::string, std::string> split_merge(const std::string& line, const std::string& where) {
  const size_t sp = line.find(' ');
  if (sp == std::string::npos || sp == 0 || sp + 1 >= line.size() || line.find(' ', sp + 1) != std::string::npos)
    throw Error(where + " is not two tokens separated by one space: '" + line + "'");
  return {line.substr(0, sp), line.substr(sp + 1)};
}

PretokenizerKind kind_for_pattern(const std::string& pattern, const std::string& where) {
  for (auto k : {PretokenizerKind::kGpt2, PretokenizerKind::kLlama3, PretokenizerKind::kQwen2})
    if (pattern == pretokenizer_pattern(k)) return k;
  throw Error(where + ": Split regex '" + pattern + "' is not one of the supported patterns (GPT-2, Llama 3, Qwen2)");
}

PretokenizerKind read_pretokenizer(const json& pre, const std::string& where) {
  if (!pre.is_object() || !pre.contains("type")) throw Error(where + " is missing or has no type");
  const std::string type = pre["type"].is_string() ? pre["type"].get<std::string>() : "";
  if (type == "ByteLevel") {
    if (pre.value("add_prefix_space", false)) throw Error(where + ": ByteLevel add_prefix_space=true is not supported");
    if (!pre.value("use_regex", true)) throw Error(where + ": ByteLevel without a regex split is not supported");
    return PretokenizerKind::kGpt2;
  }
  if (type == "Sequence" && pre.contains("pretokenizers") && pre["pretokenizers"].is_array()) {
    const json& seq = pre["pretokenizers"];
    bool byte_level = false;
    PretokenizerKind kind = PretokenizerKind::kGpt2;
    bool have_split = false;
    for (const auto& p : seq) {
      const std::string t = p.value("type", "");
      if (t == "Split" && p.contains("pattern") && p["pattern"].is_object() && p["pattern"].contains("Regex") &&
          !have_split) {
        kind = kind_for_pattern(p["pattern"]["Regex"].get<std::string>(), where);
        have_split = true;
      } else if (t == "ByteLevel") {
        if (p.value("add_prefix_space", false)) throw Error(where + ": ByteLevel add_prefix_space=true is not supported");
        byte_level = true;
        if (p.value("use_regex", true)) {
          if (have_split) throw Error(where + ": a Split followed by a regex ByteLevel is not supported");
          have_split = true;
        }
      } else {
        throw Error(where + ": pre-tokenizer '" + t + "' in the Sequence is not supported");
      }
    }
    if (!byte_level || !have_split) throw Error(where + ": expected a regex Split and a ByteLevel step");
    return kind;
  }
  throw Error(where + ": pre-tokenizer type '" + type + "' is not supported (byte-level BPE only)");
}

}  // namespace

namespace {

std::unique_ptr<Tokenizer> load_tokenizer_json_unchecked(const std::filesystem::path& file) {
  const std::string src = file.string();
  const json j = parse_json(file);
  if (!j.is_object()) throw Error(src + ": top level is not a JSON object");
  if (!j.contains("model") || !j["model"].is_object()) throw Error(src + ": missing field 'model'");
  const json& model = j["model"];
  if (model.contains("type") && model["type"] == "WordLevel") return load_wordlevel_json(j, file);
  if (model.contains("type") && model["type"] != "BPE")
    throw Error(src + ": model.type '" + model["type"].dump() + "' is not supported (expected BPE or WordLevel)");
  if (!model.contains("vocab")) throw Error(src + ": missing field 'model.vocab'");
  if (!model.contains("merges")) throw Error(src + ": missing field 'model.merges'");

  BpeSpec spec;
  spec.source = src;
  read_vocab(model["vocab"], src + ": model.vocab", spec);
  const json& merges = model["merges"];
  if (!merges.is_array()) throw Error(src + ": model.merges must be an array");
  spec.merges.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    const std::string where = src + ": model.merges[" + std::to_string(i) + "]";
    const json& m = merges[i];
    if (m.is_string()) {
      spec.merges.push_back(split_merge(m.get<std::string>(), where));
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      spec.merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    } else {
      throw Error(where + " must be \"a b\" or [\"a\", \"b\"]");
    }
  }

  if (j.contains("normalizer") && !j["normalizer"].is_null()) {
    const json& nj = j["normalizer"];
    const std::string t = nj.is_object() && nj.contains("type") && nj["type"].is_string() ? nj["type"].get<std::string>() : "";
    // The Unicode normalisation forms are applied (Qwen2's tokenizer asks for NFC); other normalizers change
    // the text in ways not implemented here and are refused rather than silently ignored.
    const auto form = unicode::normal_form_named(t);
    if (!form) throw Error(src + ": normalizer '" + t + "' is not supported (NFC, NFD, NFKC or NFKD)");
    spec.normalizer = *form;
  }
  spec.pretokenizer = read_pretokenizer(j.contains("pre_tokenizer") ? j["pre_tokenizer"] : json(), src + ": pre_tokenizer");

  if (j.contains("added_tokens")) {
    const json& added = j["added_tokens"];
    if (!added.is_array()) throw Error(src + ": added_tokens must be an array");
    for (size_t i = 0; i < added.size(); ++i) {
      const json& a = added[i];
      const std::string where = src + ": added_tokens[" + std::to_string(i) + "]";
      if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() || !a.contains("content") ||
          !a["content"].is_string())
        throw Error(where + " needs an integer 'id' and a string 'content'");
      AddedToken t;
      t.id = a["id"].get<int64_t>();
      t.content = a["content"].get<std::string>();
      t.special = a.value("special", false);
      t.lstrip = a.value("lstrip", false);
      t.rstrip = a.value("rstrip", false);
      spec.added.push_back(std::move(t));
    }
  }
  find_bos_eos(file.parent_path(), spec);
  return std::make_unique<ByteLevelBpe>(std::move(spec));
}

}  // namespace

std::unique_ptr<Tokenizer> load_bpe_tokenizer_json(const std::filesystem::path& file) {
  try {
    return load_tokenizer_json_unchecked(file);
  } catch (const json::exception& e) {
    // Fields of the wrong JSON type deep inside optional sections (e.g. a string "lstrip").
    throw Error(file.string() + ": unexpected value type (" + e.what() + ")");
  }
}

std::unique_ptr<Tokenizer> load_bpe_vocab_merges(const std::filesystem::path& vocab_json,
                                                 const std::filesystem::path& merges_txt) {
  BpeSpec spec;
  spec.source = vocab_json.string() + " + " + merges_txt.string();
  read_vocab(parse_json(vocab_json), vocab_json.string() + ": vocabulary", spec);
  const std::string text = read_file(merges_txt);
  size_t line_no = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || (line_no == 1 && line.rfind("#version", 0) == 0)) continue;
    spec.merges.push_back(split_merge(line, merges_txt.string() + ": line " + std::to_string(line_no)));
  }
  if (spec.vocab.count("<|endoftext|>")) {
    AddedToken eot;
    eot.content = "<|endoftext|>";
    eot.id = spec.vocab.at(eot.content);
    eot.special = true;
    spec.added.push_back(eot);
  }
  try {
    find_bos_eos(vocab_json.parent_path(), spec);
  } catch (const json::exception& e) {
    throw Error((vocab_json.parent_path() / "tokenizer_config.json").string() + ": unexpected value type (" + e.what() + ")");
  }
  return std::make_unique<ByteLevelBpe>(std::move(spec));
}

}  // namespace hl::tok
