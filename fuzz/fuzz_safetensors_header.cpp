// parse_safetensors_header: the JSON header against a data section whose size the first 8 input bytes give.
#include <cstring>

#include "core/error.h"
#include "core/formats/safetensors.h"
#include "fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  uint64_t data_size = 0;
  if (size >= 8) {
    std::memcpy(&data_size, data, 8);
    data += 8;
    size -= 8;
  }
  std::vector<hl::TensorInfo> tensors;
  std::map<std::string, std::string> metadata;
  try {
    hl::parse_safetensors_header(hl::fuzz::as_text(data, size), data_size, "fuzz.safetensors", &tensors, &metadata);
  } catch (const hl::Error&) {
    return 0;
  }
  // What the header promised: every accepted tensor lies inside the data section and matches its shape.
  for (const auto& t : tensors) {
    if (t.end < t.begin || t.end > data_size) __builtin_trap();
    if (static_cast<uint64_t>(t.numel()) * hl::dtype_size(t.dtype) != t.end - t.begin) __builtin_trap();
  }
  return 0;
}
