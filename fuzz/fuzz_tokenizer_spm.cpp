// SentencePiece tokenizer.model through load_tokenizer and the libheadlight_spm module (protobuf parsing
// happens in libsentencepiece), then encode/decode with the result.
#include "fuzz/tokenizer_exercise.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return hl::fuzz::fuzz_tokenizer_file("tokenizer.model", data, size);
}
