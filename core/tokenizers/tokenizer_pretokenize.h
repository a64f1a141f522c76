// Regex pre-tokenizers of byte-level BPE tokenizers, hand-written for exact regex semantics.
#pragma once
#include <string_view>
#include <utility>
#include <vector>

namespace hl::tok {

enum class PretokenizerKind {
  // GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  kGpt2,
  // Llama 3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
  //          \s*[\r\n]+|\s+(?!\S)|\s+
  kLlama3,
  // Qwen2: as Llama 3 but \p{N} (single digits).
  kQwen2,
};

// The regex source strings a tokenizer.json Split pre-tokenizer must carry to select a kind.
const char* pretokenizer_pattern(PretokenizerKind kind);

// Splits text into the byte spans [begin, end) the regex would find with findall (they tile the text).
std::vector<std::pair<size_t, size_t>> pretokenize(std::string_view text, PretokenizerKind kind);

}  // namespace hl::tok
