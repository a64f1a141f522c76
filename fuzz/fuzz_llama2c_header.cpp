// The llama2.c checkpoint header. The input is the start of a file whose total size the last 8 bytes
// give (at least the input itself), so huge declared models can be tried without huge inputs.
#include <cstring>

#include "core/error.h"
#include "core/formats/llama2c_header.h"
#include "fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  uint64_t file_size = size;
  if (size >= hl::kLlama2cHeaderBytes + 8) {
    uint64_t declared = 0;
    std::memcpy(&declared, data + size - 8, 8);
    size -= 8;
    file_size = declared < size ? size : declared;
  }
  try {
    const hl::Llama2cHeader h = hl::parse_llama2c_header(data, file_size, "fuzz.bin");
    if (h.file_bytes > file_size || h.file_bytes < hl::kLlama2cHeaderBytes + 4 * h.weight_floats) __builtin_trap();
  } catch (const hl::Error&) {
  }
  return 0;
}
