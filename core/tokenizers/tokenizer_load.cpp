// load_tokenizer: picks the tokenizer kind from a model directory's files or a file's name and contents.
#include "core/error.h"
#include "core/tokenizers/tokenizer_impl.h"

namespace hl {
namespace {

namespace fs = std::filesystem;

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

// A tokenizer.json that is not byte-level (e.g. Llama's SentencePiece-style BPE) is only usable through
// its tokenizer.model; a cheap scan for the ByteLevel component tells them apart without a full parse.
bool mentions_byte_level(const fs::path& tokenizer_json) {
  return tok::read_file(tokenizer_json).find("\"ByteLevel\"") != std::string::npos;
}

std::unique_ptr<Tokenizer> load_file(const fs::path& file, const TokenizerOptions& opt) {
  const std::string name = file.filename().string();
  const std::string ext = file.extension().string();
  if (name == "vocab.json") {
    const auto merges = file.parent_path() / "merges.txt";
    if (!is_file(merges)) throw Error(file.string() + ": vocab.json needs merges.txt beside it (" + merges.string() + " not found)");
    return tok::load_bpe_vocab_merges(file, merges);
  }
  if (ext == ".json") return tok::load_bpe_tokenizer_json(file);
  if (ext == ".model") return tok::load_spm(file, opt);
  if (ext == ".bin") return tok::load_llama2c(file);
  // Unknown name: sniff. JSON starts with '{'; a SentencePiece ModelProto starts with field 1 (0x0A);
  // anything else is taken as a llama2.c vocabulary, whose loader validates every record.
  const std::string head = tok::read_file(file).substr(0, 1);
  if (head == "{") return tok::load_bpe_tokenizer_json(file);
  if (head == "\x0A") return tok::load_spm(file, opt);
  return tok::load_llama2c(file);
}

}  // namespace

std::unique_ptr<Tokenizer> load_tokenizer(const fs::path& path, const TokenizerOptions& opt) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(path.string() + ": no such tokenizer file or model directory");
  if (!fs::is_directory(path, ec)) return load_file(path, opt);

  const auto tokenizer_json = path / "tokenizer.json";
  const auto tokenizer_model = path / "tokenizer.model";
  if (is_file(tokenizer_json) && (!is_file(tokenizer_model) || mentions_byte_level(tokenizer_json)))
    return tok::load_bpe_tokenizer_json(tokenizer_json);
  if (is_file(path / "vocab.json") && is_file(path / "merges.txt"))
    return tok::load_bpe_vocab_merges(path / "vocab.json", path / "merges.txt");
  if (is_file(tokenizer_model)) return tok::load_spm(tokenizer_model, opt);
  for (const char* name : {"tokenizer.bin", "tok512.bin"})
    if (is_file(path / name)) return tok::load_llama2c(path / name);
  throw Error(path.string() + ": no tokenizer found (looked for tokenizer.json, vocab.json + merges.txt, "
              "tokenizer.model, tokenizer.bin, tok512.bin)");
}

}  // namespace hl
