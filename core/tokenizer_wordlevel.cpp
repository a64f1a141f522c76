// HF tokenizer.json with a WordLevel model (one id per whole word, an unknown word -> the unk token), split by the
// Whitespace (\w+|[^\w\s]+) or WhitespaceSplit pre-tokenizer; no decoder: tokens are joined with spaces, as HF's
// decode does without one. headlight's model organism ships this kind; any HF WordLevel tokenizer of that shape
// loads too, and anything else in it (normalizers, other pre-tokenizers or decoders) is refused by name.
#include <map>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/tokenizer_impl.h"
#include "core/tokenizer_unicode.h"

namespace hl::tok {
namespace {

using nlohmann::json;

bool is_word_char(char32_t c) {
  return c == U'_' || unicode::is_letter(c) || unicode::is_number(c);
}

class WordLevel : public Tokenizer {
 public:
  WordLevel(std::vector<std::string> id_text, std::unordered_map<std::string, int64_t> vocab, int64_t unk,
            bool whitespace_split, std::vector<std::pair<std::string, int64_t>> added, std::vector<bool> special,
            int64_t bos, int64_t eos, std::string source)
      : id_text_(std::move(id_text)), vocab_(std::move(vocab)), unk_(unk), whitespace_split_(whitespace_split),
        special_(std::move(special)), bos_(bos), eos_(eos), source_(std::move(source)) {
    for (const auto& [text, id] : added) {
      all_.add(text, id);
      if (!special_[static_cast<size_t>(id)]) plain_.add(text, id);
    }
  }

  Encoding encode(std::string_view text, const EncodeOptions& opt) const override {
    Encoding enc;
    if (opt.add_bos && bos_ >= 0) {
      enc.ids.push_back(bos_);
      enc.byte_offsets.emplace_back(0, 0);
    }
    const SpecialTokenSplitter& splitter = opt.split_special ? all_ : plain_;
    const std::vector<TextSpan> spans =
        splitter.empty() ? std::vector<TextSpan>{{0, text.size(), -1}} : splitter.split(text);
    for (const TextSpan& s : spans) {
      if (s.special_id >= 0) {
        enc.ids.push_back(s.special_id);
        enc.byte_offsets.emplace_back(static_cast<int64_t>(s.begin), static_cast<int64_t>(s.end));
        continue;
      }
      encode_plain(text, s.begin, s.end, enc);
    }
    fill_char_offsets(text, enc);
    return enc;
  }

  std::string decode(const std::vector<int64_t>& ids, bool skip_special) const override {
    std::string out;
    bool first = true;
    for (int64_t id : ids) {
      if (id < 0 || id >= vocab_size()) throw Error(source_ + ": token id " + std::to_string(id) + " is outside the vocabulary");
      if (skip_special && special_[static_cast<size_t>(id)]) continue;
      if (!first) out += ' ';
      out += id_text_[static_cast<size_t>(id)];
      first = false;
    }
    return out;
  }

  std::string token_text(int64_t id) const override {
    if (id < 0 || id >= vocab_size()) throw Error(source_ + ": token id " + std::to_string(id) + " is outside the vocabulary");
    return " " + id_text_[static_cast<size_t>(id)];
  }
  int64_t vocab_size() const override { return static_cast<int64_t>(id_text_.size()); }
  int64_t bos_id() const override { return bos_; }
  int64_t eos_id() const override { return eos_; }
  std::string kind() const override { return "wordlevel"; }

 private:
  void push_word(std::string_view text, size_t b, size_t e, Encoding& enc) const {
    const std::string w(text.substr(b, e - b));
    const auto it = vocab_.find(w);
    int64_t id = unk_;
    if (it != vocab_.end()) id = it->second;
    if (id < 0) throw Error(source_ + ": the word '" + w + "' is not in the vocabulary and the tokenizer has no unk_token");
    enc.ids.push_back(id);
    enc.byte_offsets.emplace_back(static_cast<int64_t>(b), static_cast<int64_t>(e));
  }

  // Pre-tokenizes text[begin, end) and maps each piece to its id.
  void encode_plain(std::string_view text, size_t begin, size_t end, Encoding& enc) const {
    size_t pos = begin;
    // 0: whitespace, 1: word characters, 2: other (punctuation, symbols)
    auto cls = [&](size_t p, size_t& len) {
      const char32_t c = unicode::decode_utf8(text, p, len);
      if (unicode::is_space(c)) return 0;
      if (whitespace_split_) return 1;
      return is_word_char(c) ? 1 : 2;
    };
    while (pos < end) {
      size_t len = 0;
      const int c = cls(pos, len);
      if (c == 0) {
        pos += len;
        continue;
      }
      size_t e = pos + len;
      while (e < end) {
        size_t l2 = 0;
        if (cls(e, l2) != c) break;
        e += l2;
      }
      push_word(text, pos, e, enc);
      pos = e;
    }
  }

  std::vector<std::string> id_text_;
  std::unordered_map<std::string, int64_t> vocab_;
  int64_t unk_;
  bool whitespace_split_;
  std::vector<bool> special_;
  SpecialTokenSplitter all_, plain_;
  int64_t bos_, eos_;
  std::string source_;
};

}  // namespace

std::unique_ptr<Tokenizer> load_wordlevel_json(const json& j, const std::filesystem::path& file) {
  const std::string src = file.string();
  const json& model = j["model"];
  if (!model.contains("vocab") || !model["vocab"].is_object()) throw Error(src + ": model.vocab must be an object of word -> id");
  const json& v = model["vocab"];
  if (static_cast<int64_t>(v.size()) > kMaxVocab) throw Error(src + ": model.vocab has too many entries");
  std::map<int64_t, std::string> by_id;
  std::unordered_map<std::string, int64_t> vocab;
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (!it.value().is_number_integer()) throw Error(src + ": model.vocab[\"" + it.key() + "\"] is not an integer id");
    const int64_t id = it.value().get<int64_t>();
    if (id < 0 || id >= kMaxVocab) throw Error(src + ": model.vocab[\"" + it.key() + "\"] = " + std::to_string(id) + " is out of range");
    if (!by_id.emplace(id, it.key()).second) throw Error(src + ": model.vocab: id " + std::to_string(id) + " is given twice");
    vocab[it.key()] = id;
  }
  std::vector<std::pair<std::string, int64_t>> added;
  std::vector<std::pair<int64_t, bool>> added_special;
  if (j.contains("added_tokens") && !j["added_tokens"].is_null()) {
    if (!j["added_tokens"].is_array()) throw Error(src + ": added_tokens must be an array");
    for (size_t i = 0; i < j["added_tokens"].size(); ++i) {
      const json& a = j["added_tokens"][i];
      if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() || !a.contains("content") || !a["content"].is_string())
        throw Error(src + ": added_tokens[" + std::to_string(i) + "] needs an integer 'id' and a string 'content'");
      const int64_t id = a["id"].get<int64_t>();
      const std::string content = a["content"].get<std::string>();
      if (id < 0 || id >= kMaxVocab) throw Error(src + ": added_tokens[" + std::to_string(i) + "].id is out of range");
      const auto have = by_id.find(id);
      if (have != by_id.end() && have->second != content)
        throw Error(src + ": added_tokens[" + std::to_string(i) + "] gives id " + std::to_string(id) + " to '" + content +
                    "' but model.vocab gives it to '" + have->second + "'");
      by_id[id] = content;
      vocab[content] = id;
      added.emplace_back(content, id);
      added_special.emplace_back(id, a.value("special", false));
    }
  }
  if (by_id.empty()) throw Error(src + ": model.vocab is empty");
  if (by_id.rbegin()->first + 1 != static_cast<int64_t>(by_id.size()))
    throw Error(src + ": model.vocab ids are not contiguous from 0 (" + std::to_string(by_id.size()) + " words, largest id " +
                std::to_string(by_id.rbegin()->first) + ")");
  std::vector<std::string> id_text;
  for (auto& [id, t] : by_id) id_text.push_back(t);
  std::vector<bool> special(id_text.size(), false);
  for (const auto& [id, s] : added_special) special[static_cast<size_t>(id)] = s;

  int64_t unk = -1;
  if (model.contains("unk_token") && !model["unk_token"].is_null()) {
    const std::string u = model["unk_token"].is_string() ? model["unk_token"].get<std::string>() : std::string();
    const auto it = vocab.find(u);
    if (it == vocab.end()) throw Error(src + ": model.unk_token '" + u + "' is not in the vocabulary");
    unk = it->second;
  }
  if (j.contains("normalizer") && !j["normalizer"].is_null())
    throw Error(src + ": normalizer " + j["normalizer"].value("type", std::string("?")) + " is not supported with a WordLevel model");
  bool whitespace_split = false;
  if (j.contains("pre_tokenizer") && !j["pre_tokenizer"].is_null()) {
    const std::string t = j["pre_tokenizer"].is_object() ? j["pre_tokenizer"].value("type", std::string()) : std::string();
    if (t == "WhitespaceSplit") whitespace_split = true;
    else if (t != "Whitespace")
      throw Error(src + ": pre_tokenizer '" + t + "' is not supported with a WordLevel model (Whitespace or WhitespaceSplit)");
  } else {
    throw Error(src + ": a WordLevel model needs a pre_tokenizer (Whitespace or WhitespaceSplit)");
  }
  if (j.contains("decoder") && !j["decoder"].is_null())
    throw Error(src + ": decoder '" + j["decoder"].value("type", std::string("?")) + "' is not supported with a WordLevel model");

  // BOS / EOS: tokenizer_config.json names them, else the usual <s> </s>.
  int64_t bos = -1, eos = -1;
  const ConfigBosEos cfg = read_config_bos_eos(file.parent_path());
  const std::string bos_t = cfg.bos.empty() ? "<s>" : cfg.bos, eos_t = cfg.eos.empty() ? "</s>" : cfg.eos;
  if (const auto it = vocab.find(bos_t); it != vocab.end()) bos = it->second;
  if (const auto it = vocab.find(eos_t); it != vocab.end()) eos = it->second;
  return std::make_unique<WordLevel>(std::move(id_text), std::move(vocab), unk, whitespace_split, std::move(added),
                                     std::move(special), bos, eos, src);
}

}  // namespace hl::tok
