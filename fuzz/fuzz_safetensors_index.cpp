// model.safetensors.index.json: every accepted shard name must stay inside the model directory.
#include "core/error.h"
#include "core/formats/safetensors_index.h"
#include "fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    for (const auto& f : hl::parse_safetensors_index(hl::fuzz::as_text(data, size), "model.safetensors.index.json"))
      if (f.empty() || f == "." || f == ".." || f.find('/') != std::string::npos) __builtin_trap();
  } catch (const hl::Error&) {
  }
  return 0;
}
