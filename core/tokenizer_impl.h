// Internals shared by the tokenizer implementations (not part of the public interface).
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/tokenizer.h"

namespace hl::tok {

// Limits that keep hostile files from exhausting memory.
inline constexpr int64_t kMaxVocab = 10'000'000;
inline constexpr int64_t kMaxTokenBytes = 65'536;
inline constexpr int64_t kMaxFileBytes = int64_t(2) << 30;

// Reads a whole file; throws hl::Error naming it when missing, unreadable or larger than kMaxFileBytes.
std::string read_file(const std::filesystem::path& path);

// The bos_token / eos_token that tokenizer_config.json in `dir` names (a string or {"content": ...}); a field is
// empty when the file, the field or its content is absent. A file that is not valid JSON is an error naming it.
struct ConfigBosEos {
  std::string bos, eos;
};
ConfigBosEos read_config_bos_eos(const std::filesystem::path& dir);

// One span of the input after cutting out special-token strings.
struct TextSpan {
  size_t begin = 0, end = 0;  // byte offsets into the input
  int64_t special_id = -1;    // >= 0: this span is exactly that special token's text
};

// Splits text at occurrences of special-token strings like HF's tokens_trie: scanning left to right,
// the earliest occurrence wins and, among those starting there, the longest.
class SpecialTokenSplitter {
 public:
  void add(const std::string& text, int64_t id);
  bool empty() const { return by_first_byte_.empty(); }
  std::vector<TextSpan> split(std::string_view text) const;

 private:
  std::unordered_map<unsigned char, std::vector<std::pair<std::string, int64_t>>> by_first_byte_;
};

// Fills enc.offsets from enc.byte_offsets: start = character holding the first byte, end = character
// holding the last byte + 1 (a character split over several tokens is covered by each of them).
void fill_char_offsets(std::string_view text, Encoding& enc);

// SentencePiece's convention: enc.byte_offsets hold raw byte spans; each boundary is moved to the start of
// the character containing it (as ConvertToUnicodeSpans does), giving enc.offsets, and the byte spans
// are rewritten from those. Byte-fallback pieces of one character thus get empty spans at its start,
// except the last, which spans the whole character.
void align_offsets_to_chars(std::string_view text, Encoding& enc);

std::unique_ptr<Tokenizer> load_bpe_tokenizer_json(const std::filesystem::path& file);
// A parsed tokenizer.json whose model.type is WordLevel.
std::unique_ptr<Tokenizer> load_wordlevel_json(const nlohmann::json& j, const std::filesystem::path& file);
std::unique_ptr<Tokenizer> load_bpe_vocab_merges(const std::filesystem::path& vocab_json,
                                                 const std::filesystem::path& merges_txt);
std::unique_ptr<Tokenizer> load_spm(const std::filesystem::path& model_file, const TokenizerOptions& opt);
std::unique_ptr<Tokenizer> load_llama2c(const std::filesystem::path& bin_file);

}  // namespace hl::tok
