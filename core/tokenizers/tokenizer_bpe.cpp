// Byte-level BPE encode/decode: special-token split, regex pre-tokenization, rank-ordered merges with a
// priority queue (O(n log n) per word, so one huge "word" stays fast), and a per-word cache.
#include "core/tokenizers/tokenizer_bpe.h"

#include <algorithm>
#include <cstdio>
#include <queue>

#include "core/error.h"
#include "core/tokenizers/tokenizer_unicode.h"

namespace hl::tok {

const std::vector<std::string>& byte_to_unicode() {
  static const std::vector<std::string> table = [] {
    std::vector<std::string> t(256);
    int next = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      unicode::append_utf8(t[b], printable ? char32_t(b) : char32_t(256 + next++));
    }
    return t;
  }();
  return table;
}

namespace {

// Inverse of byte_to_unicode() on code points.
const std::unordered_map<char32_t, uint8_t>& unicode_to_byte() {
  static const std::unordered_map<char32_t, uint8_t> table = [] {
    std::unordered_map<char32_t, uint8_t> t;
    const auto& fwd = byte_to_unicode();
    for (int b = 0; b < 256; ++b) {
      size_t len;
      t[unicode::decode_utf8(fwd[b], 0, len)] = static_cast<uint8_t>(b);
    }
    return t;
  }();
  return table;
}

// A vocabulary string in byte-level form -> the bytes it stands for. Characters outside the byte
// alphabet (not produced by GPT-2 style vocabularies) are kept as their own UTF-8.
std::string token_to_bytes(std::string_view token) {
  const auto& inv = unicode_to_byte();
  std::string out;
  for (size_t pos = 0; pos < token.size();) {
    size_t len;
    const char32_t c = unicode::decode_utf8(token, pos, len);
    const auto it = inv.find(c);
    if (it != inv.end()) {
      out += static_cast<char>(it->second);
    } else {
      out.append(token.substr(pos, len));
    }
    pos += len;
  }
  return out;
}

// Byte length of the leading / trailing White_Space run of s.
size_t leading_space_bytes(std::string_view s) {
  size_t pos = 0;
  while (pos < s.size()) {
    size_t len;
    if (!unicode::is_space(unicode::decode_utf8(s, pos, len))) break;
    pos += len;
  }
  return pos;
}

size_t trailing_space_bytes(std::string_view s) {
  size_t pos = 0, content_end = 0;
  while (pos < s.size()) {
    size_t len;
    const bool space = unicode::is_space(unicode::decode_utf8(s, pos, len));
    pos += len;
    if (!space) content_end = pos;
  }
  return s.size() - content_end;
}

}  // namespace

ByteLevelBpe::ByteLevelBpe(BpeSpec spec)
    : pretokenizer_(spec.pretokenizer), normalizer_(spec.normalizer), added_(std::move(spec.added)) {
  const std::string& src = spec.source;
  if (spec.vocab.empty()) throw Error(src + ": vocabulary is empty");
  int64_t max_id = -1;
  for (const auto& [tok, id] : spec.vocab) {
    if (id < 0 || id >= kMaxVocab)
      throw Error(src + ": vocabulary id " + std::to_string(id) + " of '" + tok + "' is out of range");
    max_id = std::max(max_id, id);
  }
  for (const auto& a : added_) {
    if (a.id < 0 || a.id >= kMaxVocab)
      throw Error(src + ": added_tokens id " + std::to_string(a.id) + " of '" + a.content + "' is out of range");
    if (a.content.empty()) throw Error(src + ": added_tokens entry with id " + std::to_string(a.id) + " is empty");
    max_id = std::max(max_id, a.id);
  }
  id_bytes_.assign(max_id + 1, std::string());
  id_special_.assign(max_id + 1, 0);
  for (const auto& [tok, id] : spec.vocab) id_bytes_[id] = token_to_bytes(tok);
  for (const auto& a : added_) {
    id_bytes_[a.id] = a.content;
    id_special_[a.id] = a.special ? 1 : 0;
    all_added_.add(a.content, a.id);
    if (!a.special) non_special_added_.add(a.content, a.id);
  }

  const auto& b2u = byte_to_unicode();
  for (int b = 0; b < 256; ++b) {
    const auto it = spec.vocab.find(b2u[b]);
    if (it == spec.vocab.end()) {
      char hex[8];
      snprintf(hex, sizeof hex, "0x%02X", b);
      throw Error(src + ": model.vocab has no byte-level symbol for byte " + hex + " ('" + b2u[b] + "')");
    }
    byte_symbol_[b] = it->second;
  }

  merges_.reserve(spec.merges.size());
  for (size_t rank = 0; rank < spec.merges.size(); ++rank) {
    const auto& [a, b] = spec.merges[rank];
    const auto ia = spec.vocab.find(a), ib = spec.vocab.find(b), iab = spec.vocab.find(a + b);
    const std::string where = src + ": merges[" + std::to_string(rank) + "] ('" + a + " " + b + "')";
    if (ia == spec.vocab.end()) throw Error(where + " refers to unknown token '" + a + "'");
    if (ib == spec.vocab.end()) throw Error(where + " refers to unknown token '" + b + "'");
    if (iab == spec.vocab.end()) throw Error(where + " produces unknown token '" + a + b + "'");
    merges_.emplace(pair_key(ia->second, ib->second),
                    Merge{static_cast<int32_t>(rank), static_cast<int32_t>(iab->second)});
  }

  auto lookup = [&](const std::string& t) -> int64_t {
    if (t.empty()) return -1;
    for (const auto& a : added_)
      if (a.content == t) return a.id;
    const auto it = spec.vocab.find(t);
    return it == spec.vocab.end() ? -1 : it->second;
  };
  bos_id_ = lookup(spec.bos_token);
  eos_id_ = lookup(spec.eos_token);
}

void ByteLevelBpe::encode_word(std::string_view word, std::vector<int64_t>& ids, std::vector<int32_t>& lens) const {
  {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    const auto it = cache_.find(std::string(word));
    if (it != cache_.end()) {
      ids.insert(ids.end(), it->second.first.begin(), it->second.first.end());
      lens.insert(lens.end(), it->second.second.begin(), it->second.second.end());
      return;
    }
  }
  struct Symbol {
    int64_t id;
    int32_t len;
    int32_t prev, next;  // -1 at the ends
  };
  std::vector<Symbol> sym(word.size());
  for (size_t i = 0; i < word.size(); ++i)
    sym[i] = {byte_symbol_[static_cast<unsigned char>(word[i])], 1, int32_t(i) - 1,
              i + 1 < word.size() ? int32_t(i + 1) : -1};

  struct Candidate {
    int32_t rank, left, right;
    int64_t left_id, right_id;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
  auto propose = [&](int32_t l) {
    if (l < 0 || sym[l].next < 0) return;
    const int32_t r = sym[l].next;
    const auto it = merges_.find(pair_key(sym[l].id, sym[r].id));
    if (it != merges_.end()) queue.push({it->second.rank, l, r, sym[l].id, sym[r].id});
  };
  for (int32_t i = 0; i + 1 < int32_t(word.size()); ++i) propose(i);
  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    Symbol& l = sym[c.left];
    // Stale entries: a side was merged away or changed since the candidate was queued.
    if (l.len == 0 || l.next != c.right || l.id != c.left_id || sym[c.right].id != c.right_id) continue;
    Symbol& r = sym[c.right];
    l.id = merges_.at(pair_key(c.left_id, c.right_id)).merged_id;
    l.len += r.len;
    l.next = r.next;
    if (r.next >= 0) sym[r.next].prev = c.left;
    r.len = 0;
    propose(l.prev);
    propose(c.left);
  }
  std::vector<int64_t> word_ids;
  std::vector<int32_t> word_lens;
  for (int32_t i = word.empty() ? -1 : 0; i >= 0; i = sym[i].next) {
    word_ids.push_back(sym[i].id);
    word_lens.push_back(sym[i].len);
  }
  ids.insert(ids.end(), word_ids.begin(), word_ids.end());
  lens.insert(lens.end(), word_lens.begin(), word_lens.end());
  std::lock_guard<std::mutex> lock(cache_mutex_);
  if (cache_.size() > 200'000) cache_.clear();  // bounded: pathological inputs have few repeats anyway
  cache_.emplace(std::string(word), std::make_pair(std::move(word_ids), std::move(word_lens)));
}

void ByteLevelBpe::encode_plain(std::string_view text, size_t base, Encoding& enc) const {
  std::vector<int64_t> ids;
  std::vector<int32_t> lens;
  for (const auto& [b, e] : pretokenize(text, pretokenizer_)) {
    ids.clear();
    lens.clear();
    encode_word(text.substr(b, e - b), ids, lens);
    size_t pos = base + b;
    for (size_t k = 0; k < ids.size(); ++k) {
      enc.ids.push_back(ids[k]);
      enc.byte_offsets.emplace_back(pos, pos + lens[k]);
      pos += lens[k];
    }
  }
}

void ByteLevelBpe::encode_normalized(std::string_view text, size_t base, Encoding& enc) const {
  const unicode::NormalizedText n = unicode::normalize(text, normalizer_);
  if (n.identity) {
    encode_plain(text, base, enc);
    return;
  }
  const size_t first = enc.byte_offsets.size();
  encode_plain(n.text, 0, enc);
  for (size_t k = first; k < enc.byte_offsets.size(); ++k) {
    auto& [b, e] = enc.byte_offsets[k];  // into n.text; tokens are never empty
    const auto nb = static_cast<size_t>(b), ne = static_cast<size_t>(e);
    b = static_cast<int64_t>(base) + n.source[nb].first;
    e = static_cast<int64_t>(base) + n.source[ne - 1].second;
  }
}

Encoding ByteLevelBpe::encode(std::string_view text, const EncodeOptions& opt) const {
  Encoding enc;
  if (opt.add_bos && bos_id_ >= 0) {
    enc.ids.push_back(bos_id_);
    enc.byte_offsets.emplace_back(0, 0);
  }
  const SpecialTokenSplitter& splitter = opt.split_special ? all_added_ : non_special_added_;
  std::vector<TextSpan> spans = splitter.empty() ? std::vector<TextSpan>{{0, text.size(), -1}} : splitter.split(text);
  // lstrip/rstrip added tokens take the neighbouring whitespace into their own span.
  for (size_t i = 0; i < spans.size(); ++i) {
    if (spans[i].special_id < 0) continue;
    const AddedToken* a = nullptr;
    for (const auto& t : added_)
      if (t.id == spans[i].special_id) a = &t;
    if (!a) continue;
    if (a->lstrip && i > 0 && spans[i - 1].special_id < 0) {
      const size_t n = trailing_space_bytes(text.substr(spans[i - 1].begin, spans[i - 1].end - spans[i - 1].begin));
      spans[i - 1].end -= n;
      spans[i].begin -= n;
    }
    if (a->rstrip && i + 1 < spans.size() && spans[i + 1].special_id < 0) {
      const size_t n = leading_space_bytes(text.substr(spans[i + 1].begin, spans[i + 1].end - spans[i + 1].begin));
      spans[i + 1].begin += n;
      spans[i].end += n;
    }
  }
  for (const auto& s : spans) {
    if (s.special_id >= 0) {
      enc.ids.push_back(s.special_id);
      enc.byte_offsets.emplace_back(s.begin, s.end);
    } else if (s.end > s.begin) {
      encode_normalized(text.substr(s.begin, s.end - s.begin), s.begin, enc);
    }
  }
  fill_char_offsets(text, enc);
  return enc;
}

std::string ByteLevelBpe::decode(const std::vector<int64_t>& ids, bool skip_special) const {
  std::string bytes;
  for (const int64_t id : ids) {
    if (id < 0 || id >= vocab_size()) throw Error("bpe decode: token id " + std::to_string(id) + " is out of range");
    if (skip_special && id_special_[id]) continue;
    bytes += id_bytes_[id];
  }
  return unicode::utf8_replace_invalid(bytes);
}

std::string ByteLevelBpe::token_text(int64_t id) const {
  if (id < 0 || id >= vocab_size()) throw Error("bpe: token id " + std::to_string(id) + " is out of range");
  return id_bytes_[id];
}

}  // namespace hl::tok
