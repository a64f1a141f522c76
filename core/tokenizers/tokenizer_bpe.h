// Byte-level BPE (GPT-2 family): the model, built by the tokenizer.json / vocab.json+merges.txt loaders.
#pragma once
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/tokenizers/tokenizer.h"
#include "core/tokenizers/tokenizer_impl.h"
#include "core/tokenizers/tokenizer_normalize.h"
#include "core/tokenizers/tokenizer_pretokenize.h"

namespace hl::tok {

// GPT-2's reversible map from bytes to printable code points (so every byte has a vocabulary symbol).
const std::vector<std::string>& byte_to_unicode();

struct AddedToken {
  std::string content;
  int64_t id = -1;
  bool special = false;
  bool lstrip = false;  // absorbs whitespace to its left
  bool rstrip = false;  // absorbs whitespace to its right
};

struct BpeSpec {
  std::string source;                              // file name(s), for messages
  std::unordered_map<std::string, int64_t> vocab;  // byte-level unicode form -> id
  std::vector<std::pair<std::string, std::string>> merges;  // in rank order
  std::vector<AddedToken> added;
  PretokenizerKind pretokenizer = PretokenizerKind::kGpt2;
  unicode::NormalForm normalizer = unicode::NormalForm::kNone;  // applied to the text between added tokens
  std::string bos_token, eos_token;                // empty: none
};

class ByteLevelBpe : public Tokenizer {
 public:
  // Validates the spec (merges must name vocabulary tokens) and builds the lookup tables.
  explicit ByteLevelBpe(BpeSpec spec);

  Encoding encode(std::string_view text, const EncodeOptions& opt) const override;
  std::string decode(const std::vector<int64_t>& ids, bool skip_special) const override;
  // Raw bytes of the token: a piece of a multi-byte character is returned as is (it is completed by the
  // following tokens), so concatenating token_text of a sequence gives its exact bytes.
  std::string token_text(int64_t id) const override;
  int64_t vocab_size() const override { return static_cast<int64_t>(id_bytes_.size()); }
  int64_t bos_id() const override { return bos_id_; }
  int64_t eos_id() const override { return eos_id_; }
  std::string kind() const override { return "bpe"; }

 private:
  struct Merge {
    int32_t rank;
    int32_t merged_id;
  };
  static uint64_t pair_key(int64_t a, int64_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }

  // BPE of one pre-tokenized word: ids and their byte lengths.
  void encode_word(std::string_view word, std::vector<int64_t>& ids, std::vector<int32_t>& lens) const;
  void encode_plain(std::string_view text, size_t base, Encoding& enc) const;
  // encode_plain after the normalizer, with offsets mapped back into `text`.
  void encode_normalized(std::string_view text, size_t base, Encoding& enc) const;

  PretokenizerKind pretokenizer_;
  unicode::NormalForm normalizer_;
  std::vector<std::string> id_bytes_;  // id -> the raw bytes the token stands for
  std::vector<uint8_t> id_special_;
  int64_t byte_symbol_[256];
  std::unordered_map<uint64_t, Merge> merges_;
  std::vector<AddedToken> added_;
  SpecialTokenSplitter all_added_, non_special_added_;
  int64_t bos_id_ = -1, eos_id_ = -1;

  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::pair<std::vector<int64_t>, std::vector<int32_t>>> cache_;
};

}  // namespace hl::tok
