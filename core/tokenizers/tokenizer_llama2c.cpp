// llama2.c tokenizer.bin: vocabulary with scores, encoded exactly as llama2.c's run.c encode() does
// (code points looked up, unknown ones as <0xXX> byte tokens at byte+3, a dummy-prefix " " token, then
// repeatedly merging the adjacent pair whose concatenation has the highest score, leftmost on ties).
// The merge loop uses a priority queue with the same ordering, so long inputs stay fast.
#include <cstdio>
#include <cstring>
#include <queue>
#include <unordered_map>

#include "core/error.h"
#include "core/tokenizers/tokenizer_impl.h"
#include "core/tokenizers/tokenizer_unicode.h"

namespace hl::tok {
namespace {

constexpr int64_t kUnk = 0, kBos = 1, kEos = 2, kByteBase = 3;

class Llama2cTokenizer : public Tokenizer {
 public:
  Llama2cTokenizer(std::vector<std::string> vocab, std::vector<float> scores)
      : vocab_(std::move(vocab)), scores_(std::move(scores)) {
    lookup_.reserve(vocab_.size());
    for (size_t i = 0; i < vocab_.size(); ++i) lookup_.emplace(vocab_[i], static_cast<int64_t>(i));  // first wins
    const auto it = lookup_.find(" ");
    space_id_ = it == lookup_.end() ? -1 : it->second;
    // run.c has no special-token splitting; these match HF's LlamaTokenizer for the same vocabulary.
    splitter_.add("<unk>", kUnk);
    splitter_.add("<s>", kBos);
    splitter_.add("</s>", kEos);
  }

  Encoding encode(std::string_view text, const EncodeOptions& opt) const override;
  std::string decode(const std::vector<int64_t>& ids, bool skip_special) const override;
  std::string token_text(int64_t id) const override;
  int64_t vocab_size() const override { return static_cast<int64_t>(vocab_.size()); }
  int64_t bos_id() const override { return kBos; }
  int64_t eos_id() const override { return kEos; }
  std::string kind() const override { return "llama2c"; }

 private:
  int64_t find(const std::string& s) const {
    const auto it = lookup_.find(s);
    return it == lookup_.end() ? -1 : it->second;
  }
  void encode_chunk(std::string_view chunk, size_t base, Encoding& enc) const;

  std::vector<std::string> vocab_;
  std::vector<float> scores_;
  std::unordered_map<std::string, int64_t> lookup_;
  int64_t space_id_ = -1;
  SpecialTokenSplitter splitter_;
};

void Llama2cTokenizer::encode_chunk(std::string_view chunk, size_t base, Encoding& enc) const {
  struct Symbol {
    int64_t id;
    int64_t begin, end;  // byte span in the input
    int32_t prev, next;
    bool alive;
  };
  std::vector<Symbol> sym;
  if (space_id_ >= 0) sym.push_back({space_id_, int64_t(base), int64_t(base), -1, -1, true});
  for (size_t pos = 0; pos < chunk.size();) {
    // run.c groups a lead byte with up to three continuation bytes, whatever their validity.
    size_t len = 1;
    while (pos + len < chunk.size() && len < 4 && (static_cast<unsigned char>(chunk[pos + len]) & 0xC0) == 0x80) ++len;
    const int64_t id = find(std::string(chunk.substr(pos, len)));
    if (id >= 0) {
      sym.push_back({id, int64_t(base + pos), int64_t(base + pos + len), -1, -1, true});
    } else {
      for (size_t k = 0; k < len; ++k)
        sym.push_back({static_cast<unsigned char>(chunk[pos + k]) + kByteBase, int64_t(base + pos + k),
                       int64_t(base + pos + k + 1), -1, -1, true});
    }
    pos += len;
  }
  for (size_t i = 0; i < sym.size(); ++i) {
    sym[i].prev = int32_t(i) - 1;
    sym[i].next = i + 1 < sym.size() ? int32_t(i + 1) : -1;
  }
  struct Candidate {
    float score;
    int32_t left, right;
    int64_t left_id, right_id, merged;
    bool operator<(const Candidate& o) const { return score != o.score ? score < o.score : left > o.left; }
  };
  std::priority_queue<Candidate> queue;
  auto propose = [&](int32_t l) {
    if (l < 0 || sym[l].next < 0) return;
    const int32_t r = sym[l].next;
    const int64_t id = find(vocab_[sym[l].id] + vocab_[sym[r].id]);
    if (id >= 0) queue.push({scores_[id], l, r, sym[l].id, sym[r].id, id});
  };
  for (int32_t i = 0; i + 1 < int32_t(sym.size()); ++i) propose(i);
  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    Symbol& l = sym[c.left];
    if (!l.alive || l.next != c.right || l.id != c.left_id || sym[c.right].id != c.right_id) continue;
    Symbol& r = sym[c.right];
    l.id = c.merged;
    l.end = r.end;
    l.next = r.next;
    if (r.next >= 0) sym[r.next].prev = c.left;
    r.alive = false;
    propose(l.prev);
    propose(c.left);
  }
  for (int32_t i = sym.empty() ? -1 : 0; i >= 0; i = sym[i].next) {
    enc.ids.push_back(sym[i].id);
    enc.byte_offsets.emplace_back(sym[i].begin, sym[i].end);
  }
}

Encoding Llama2cTokenizer::encode(std::string_view text, const EncodeOptions& opt) const {
  Encoding enc;
  if (opt.add_bos) {
    enc.ids.push_back(kBos);
    enc.byte_offsets.emplace_back(0, 0);
  }
  const auto spans = opt.split_special ? splitter_.split(text) : std::vector<TextSpan>{{0, text.size(), -1}};
  for (const auto& s : spans) {
    if (s.special_id >= 0) {
      enc.ids.push_back(s.special_id);
      enc.byte_offsets.emplace_back(s.begin, s.end);
    } else if (s.end > s.begin) {
      encode_chunk(text.substr(s.begin, s.end - s.begin), s.begin, enc);
    }
  }
  // Same offset convention as the SentencePiece tokenizer of the same vocabulary (tok512.model).
  align_offsets_to_chars(text, enc);
  return enc;
}

std::string Llama2cTokenizer::token_text(int64_t id) const {
  if (id < 0 || id >= vocab_size()) throw Error("llama2c: token id " + std::to_string(id) + " is out of range");
  if (id == kUnk) return "<unk>";
  if (id == kBos) return "<s>";  // stored as "\n<s>\n" by llama2.c's exporter
  if (id == kEos) return "</s>";
  const std::string& p = vocab_[id];
  unsigned int byte;
  if (p.size() == 6 && p.compare(0, 3, "<0x") == 0 && p[5] == '>' && std::sscanf(p.c_str() + 3, "%2x", &byte) == 1)
    return std::string(1, static_cast<char>(byte));
  return p;
}

std::string Llama2cTokenizer::decode(const std::vector<int64_t>& ids, bool skip_special) const {
  std::string bytes;
  bool only_bos_before = true;  // then a leading space is the dummy prefix, dropped as run.c does after BOS
  for (const int64_t id : ids) {
    const bool special = id == kUnk || id == kBos || id == kEos;
    if (special && skip_special) continue;
    std::string piece = token_text(id);
    if (!special && only_bos_before && !piece.empty() && piece[0] == ' ') piece.erase(0, 1);
    if (id != kBos) only_bos_before = false;
    bytes += piece;
  }
  return unicode::utf8_replace_invalid(bytes);
}

template <typename T>
T read_pod(const std::string& data, size_t& pos, const std::string& what) {
  if (data.size() - pos < sizeof(T)) throw Error(what);
  T v;
  std::memcpy(&v, data.data() + pos, sizeof(T));
  pos += sizeof(T);
  return v;
}

}  // namespace

std::unique_ptr<Tokenizer> load_llama2c(const std::filesystem::path& bin_file) {
  const std::string src = bin_file.string();
  const std::string data = read_file(bin_file);
  size_t pos = 0;
  const auto max_len = read_pod<int32_t>(data, pos, src + ": truncated before max_token_length");
  if (max_len <= 0 || max_len > kMaxTokenBytes)
    throw Error(src + ": max_token_length " + std::to_string(max_len) + " is out of range");
  std::vector<std::string> vocab;
  std::vector<float> scores;
  while (pos < data.size()) {
    const std::string at = src + ": token " + std::to_string(vocab.size());
    if (static_cast<int64_t>(vocab.size()) >= kMaxVocab) throw Error(src + ": more than " + std::to_string(kMaxVocab) + " tokens");
    const float score = read_pod<float>(data, pos, at + ": truncated in score");
    const auto len = read_pod<int32_t>(data, pos, at + ": truncated in length");
    if (len < 0 || len > max_len) throw Error(at + ": length " + std::to_string(len) + " exceeds max_token_length");
    if (data.size() - pos < static_cast<size_t>(len)) throw Error(at + ": truncated in token bytes");
    vocab.emplace_back(data.substr(pos, len));
    scores.push_back(score);
    pos += len;
  }
  if (vocab.size() < static_cast<size_t>(kByteBase + 256))
    throw Error(src + ": only " + std::to_string(vocab.size()) + " tokens (llama2.c vocabularies hold <unk>, <s>, </s> and 256 byte tokens first)");
  return std::make_unique<Llama2cTokenizer>(std::move(vocab), std::move(scores));
}

}  // namespace hl::tok
