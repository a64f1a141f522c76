// HF tokenizer.json (byte-level BPE or WordLevel) through load_tokenizer, then encode/decode with the result.
#include "fuzz/tokenizer_exercise.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return hl::fuzz::fuzz_tokenizer_file("tokenizer.json", data, size);
}
