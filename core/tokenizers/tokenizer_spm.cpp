// SentencePiece tokenizer.model with HF LlamaTokenizer (slow) semantics on top of the raw processor:
// special strings split out first (tokens_trie), legacy=True / legacy=False prefix handling, and
// convert_tokens_to_string's decoding quirks. SentencePiece itself runs in the dlopen'ed module.
#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>
#include <unordered_set>

#include "core/error.h"
#include "core/json_limits.h"
#include "core/tokenizers/tokenizer_impl.h"
#include "core/tokenizers/tokenizer_spm_module.h"
#include "core/tokenizers/tokenizer_unicode.h"

namespace hl::tok {
namespace {

const std::string kUnderline = "\xE2\x96\x81";  // U+2581, SentencePiece's whitespace mark

class SpmTokenizer : public Tokenizer {
 public:
  SpmTokenizer(const SpmApi& api, hl_spm* model, bool legacy, std::string source)
      : api_(api), model_(model), legacy_(legacy), source_(std::move(source)) {
    vocab_size_ = api_.vocab_size(model_);
    for (const int32_t id : {api_.unk_id(model_), api_.bos_id(model_), api_.eos_id(model_)}) {
      if (id < 0 || id >= vocab_size_) continue;
      special_ids_.insert(id);
      const std::string text = piece(id);
      special_texts_.insert(text);
      splitter_.add(text, id);
    }
    // HF prefixes "<unk>" to text that starts with a space (legacy=False) and drops the pieces it yields.
    unk_text_ = piece(api_.unk_id(model_));
    if (!legacy_) unk_pieces_ = raw_encode(unk_text_).size();
  }
  ~SpmTokenizer() override { api_.free_model(model_); }

  Encoding encode(std::string_view text, const EncodeOptions& opt) const override;
  std::string decode(const std::vector<int64_t>& ids, bool skip_special) const override;
  std::string token_text(int64_t id) const override;
  int64_t vocab_size() const override { return vocab_size_; }
  int64_t bos_id() const override { return api_.bos_id(model_); }
  int64_t eos_id() const override { return api_.eos_id(model_); }
  std::string kind() const override { return "sentencepiece"; }

 private:
  std::string piece(int64_t id) const {
    size_t len = 0;
    const char* p = api_.id_to_piece(model_, static_cast<int32_t>(id), &len);
    if (!p) throw Error(source_ + ": token id " + std::to_string(id) + " is out of range");
    return std::string(p, len);
  }
  std::vector<hl_spm_piece> raw_encode(std::string_view text) const;
  std::string raw_decode(const std::vector<std::string>& pieces) const;
  // Encodes one non-special chunk of the (possibly rewritten) text, appending ids and byte spans in
  // chunk coordinates shifted by `base`.
  void encode_chunk(std::string_view chunk, size_t base, std::vector<int64_t>& ids,
                    std::vector<std::pair<int64_t, int64_t>>& spans) const;

  const SpmApi& api_;
  hl_spm* model_;
  bool legacy_;
  std::string source_;
  int64_t vocab_size_ = 0;
  std::unordered_set<int64_t> special_ids_;
  std::unordered_set<std::string> special_texts_;
  SpecialTokenSplitter splitter_;
  std::string unk_text_;
  size_t unk_pieces_ = 0;
};

std::vector<hl_spm_piece> SpmTokenizer::raw_encode(std::string_view text) const {
  hl_spm_piece* buf = nullptr;
  size_t n = 0;
  char err[512] = {0};
  if (!api_.encode(model_, text.data(), text.size(), &buf, &n, err, sizeof err))
    throw Error(source_ + ": SentencePiece encode failed: " + err);
  std::vector<hl_spm_piece> out(buf, buf + n);
  api_.free_buffer(buf);
  return out;
}

std::string SpmTokenizer::raw_decode(const std::vector<std::string>& pieces) const {
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;
  for (const auto& p : pieces) {
    ptrs.push_back(p.data());
    lens.push_back(p.size());
  }
  char* out = nullptr;
  size_t out_len = 0;
  char err[512] = {0};
  if (!api_.decode_pieces(model_, ptrs.data(), lens.data(), pieces.size(), &out, &out_len, err, sizeof err))
    throw Error(source_ + ": SentencePiece decode failed: " + err);
  std::string text(out, out_len);
  api_.free_buffer(out);
  return text;
}

void SpmTokenizer::encode_chunk(std::string_view chunk, size_t base, std::vector<int64_t>& ids,
                                std::vector<std::pair<int64_t, int64_t>>& spans) const {
  const bool starts_with_space =
      !chunk.empty() && (chunk[0] == ' ' || chunk.substr(0, kUnderline.size()) == kUnderline);
  if (legacy_ || !starts_with_space) {
    for (const auto& p : raw_encode(chunk)) {
      ids.push_back(p.id);
      spans.emplace_back(base + p.begin, base + p.end);
    }
    return;
  }
  // legacy=False: encoding "<unk>" + chunk keeps SentencePiece from treating the leading space as
  // the (now disabled) dummy prefix or as removable extra whitespace.
  const std::string prefixed = unk_text_ + std::string(chunk);
  const auto pieces = raw_encode(prefixed);
  const size_t skip = pieces.size() >= unk_pieces_ ? unk_pieces_ : 0;
  const int64_t shift = static_cast<int64_t>(unk_text_.size());
  for (size_t i = skip; i < pieces.size(); ++i) {
    ids.push_back(pieces[i].id);
    const int64_t b = std::max<int64_t>(0, int64_t(pieces[i].begin) - shift);
    const int64_t e = std::max<int64_t>(b, int64_t(pieces[i].end) - shift);
    spans.emplace_back(base + b, base + e);
  }
}

Encoding SpmTokenizer::encode(std::string_view text, const EncodeOptions& opt) const {
  // legacy=False rewrites the text ("▁" + text with ▁ -> ' '); to_orig maps its byte offsets back.
  std::string work;
  std::vector<int64_t> to_orig;
  const bool rewrite = !legacy_ && !text.empty();
  if (rewrite) {
    work = kUnderline;
    to_orig.assign(kUnderline.size(), 0);
    for (size_t pos = 0; pos < text.size();) {
      if (text.compare(pos, kUnderline.size(), kUnderline) == 0) {
        work += ' ';
        to_orig.push_back(pos);
        pos += kUnderline.size();
      } else {
        work += text[pos];
        to_orig.push_back(pos);
        ++pos;
      }
    }
    to_orig.push_back(text.size());
  } else {
    work = std::string(text);
  }

  std::vector<int64_t> ids;
  std::vector<std::pair<int64_t, int64_t>> spans;
  std::vector<bool> from_special;
  const auto chunks = opt.split_special ? splitter_.split(work) : std::vector<TextSpan>{{0, work.size(), -1}};
  for (const auto& c : chunks) {
    if (c.special_id >= 0) {
      ids.push_back(c.special_id);
      spans.emplace_back(c.begin, c.end);
      from_special.resize(ids.size(), false);
      from_special.back() = true;
    } else if (c.end > c.begin) {
      encode_chunk(std::string_view(work).substr(c.begin, c.end - c.begin), c.begin, ids, spans);
    }
  }
  from_special.resize(ids.size(), false);
  // HF drops the prepended "▁" when a special token follows it directly.
  if (rewrite && ids.size() > 1 && piece(ids[0]) == kUnderline && from_special[1]) {
    ids.erase(ids.begin());
    spans.erase(spans.begin());
  }

  Encoding enc;
  if (opt.add_bos && bos_id() >= 0) {
    enc.ids.push_back(bos_id());
    enc.byte_offsets.emplace_back(0, 0);
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    int64_t b = spans[i].first, e = spans[i].second;
    if (rewrite) {
      b = to_orig[std::min<size_t>(b, to_orig.size() - 1)];
      e = to_orig[std::min<size_t>(e, to_orig.size() - 1)];
    }
    enc.ids.push_back(ids[i]);
    enc.byte_offsets.emplace_back(b, e);
  }
  align_offsets_to_chars(text, enc);
  return enc;
}

std::string SpmTokenizer::decode(const std::vector<int64_t>& ids, bool skip_special) const {
  std::vector<std::string> tokens;
  for (const int64_t id : ids) {
    if (skip_special && special_ids_.count(id)) continue;
    tokens.push_back(piece(id));
  }
  if (tokens.empty()) return {};
  // LlamaTokenizer.convert_tokens_to_string (add_prefix_space=True).
  if (tokens[0].compare(0, kUnderline.size(), kUnderline) == 0) tokens[0].erase(0, kUnderline.size());
  std::string out;
  std::vector<std::string> pending;
  bool prev_special = false;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::string& t = tokens[i];
    if (special_texts_.count(t)) {
      if (!prev_special && i != 0 && legacy_) out += ' ';
      out += raw_decode(pending) + t;
      pending.clear();
      prev_special = true;
    } else {
      if (prev_special && i == 1 && t.compare(0, kUnderline.size(), kUnderline) != 0) out += ' ';
      pending.push_back(t);
      prev_special = false;
    }
  }
  out += raw_decode(pending);
  return out;
}

std::string SpmTokenizer::token_text(int64_t id) const {
  std::string p = piece(id);
  if (api_.is_byte(model_, static_cast<int32_t>(id)) && p.size() == 6) {
    return std::string(1, static_cast<char>(std::strtol(p.substr(3, 2).c_str(), nullptr, 16)));
  }
  if (api_.is_control(model_, static_cast<int32_t>(id)) || api_.is_unknown(model_, static_cast<int32_t>(id))) return p;
  std::string out;
  for (size_t pos = 0; pos < p.size();) {
    if (p.compare(pos, kUnderline.size(), kUnderline) == 0) {
      out += ' ';
      pos += kUnderline.size();
    } else {
      out += p[pos++];
    }
  }
  return out;
}

// "legacy" from tokenizer_config.json beside the model, when it states one.
bool legacy_setting(const std::filesystem::path& model_file, bool fallback) {
  const auto cfg = model_file.parent_path() / "tokenizer_config.json";
  std::error_code ec;
  if (!std::filesystem::is_regular_file(cfg, ec)) return fallback;
  const std::string text = read_file(cfg);
  check_json_depth(text, cfg.string());
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(cfg.string() + ": not valid JSON (" + e.what() + ")");
  }
  if (j.is_object() && j.contains("legacy") && j["legacy"].is_boolean()) return j["legacy"].get<bool>();
  return fallback;
}

}  // namespace

std::unique_ptr<Tokenizer> load_spm(const std::filesystem::path& model_file, const TokenizerOptions& opt) {
  const std::string data = read_file(model_file);
  const bool legacy = legacy_setting(model_file, opt.legacy);
  const SpmApi& api = spm_api(opt.spm_module_dir);
  char err[512] = {0};
  hl_spm* model = api.load(data.data(), data.size(), legacy ? 0 : 1, err, sizeof err);
  if (!model) throw Error(model_file.string() + ": not a valid SentencePiece model (" + err + ")");
  if (api.vocab_size(model) > kMaxVocab) {
    api.free_model(model);
    throw Error(model_file.string() + ": vocabulary larger than " + std::to_string(kMaxVocab));
  }
  try {
    return std::make_unique<SpmTokenizer>(api, model, legacy, model_file.string());
  } catch (...) {
    api.free_model(model);  // the constructor did not complete, so no destructor will
    throw;
  }
}

}  // namespace hl::tok
