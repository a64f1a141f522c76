// Tokenizers: SentencePiece tokenizer.model, HF tokenizer.json (byte-level BPE or WordLevel), llama2.c tokenizer.bin.
// Torch-free. Every encode returns per-token offsets into the input text so that emphasised text can be
// mapped to tokens (PASTA spans, GUIDE tags).
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hl {

struct Encoding {
  std::vector<int64_t> ids;
  // Per token [start, end): Unicode code-point offsets into the input (what the goldens call offsets_chars).
  std::vector<std::pair<int64_t, int64_t>> offsets;
  // The same spans as UTF-8 byte offsets into the input (offsets_bytes).
  std::vector<std::pair<int64_t, int64_t>> byte_offsets;
};

struct EncodeOptions {
  bool add_bos = false;         // prepend the BOS id (when the tokenizer has one)
  bool split_special = true;    // recognise special-token strings (e.g. "</s>", "<|endoftext|>") in the text
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  virtual Encoding encode(std::string_view text, const EncodeOptions& opt = {}) const = 0;
  // Decodes ids to text (upstream HF slow-tokenizer behaviour for the tokenizer kind).
  virtual std::string decode(const std::vector<int64_t>& ids, bool skip_special = false) const = 0;
  // The text of one token as it appears inside a longer decode (for streaming output).
  virtual std::string token_text(int64_t id) const = 0;
  virtual int64_t vocab_size() const = 0;
  virtual int64_t bos_id() const = 0;  // -1 if none
  virtual int64_t eos_id() const = 0;  // -1 if none
  virtual std::string kind() const = 0;  // "sentencepiece", "bpe", "wordlevel", "llama2c"
};

struct TokenizerOptions {
  // SentencePiece: HF LlamaTokenizer legacy behaviour (true) or legacy=false. Read from
  // tokenizer_config.json when present; this is the default otherwise.
  bool legacy = true;
  // Directory holding libheadlight_spm.so; empty = next to the executable, then the build's lib dir.
  std::filesystem::path spm_module_dir;
};

// Loads from a model directory (tokenizer.json, tokenizer.model, or tokenizer.bin/tok512.bin), or from a
// tokenizer file path. Throws hl::Error naming the file and field on bad input.
std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& path, const TokenizerOptions& opt = {});

}  // namespace hl
