// parse_model_config (HF config.json). An accepted config must satisfy the invariants the engine relies on.
#include "core/error.h"
#include "core/formats/model_config.h"
#include "fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const hl::ModelConfig c = hl::parse_model_config(hl::fuzz::as_text(data, size), "config.json");
    if (c.n_heads <= 0 || c.n_kv_heads <= 0 || c.n_heads % c.n_kv_heads || c.head_dim <= 0 || c.vocab <= 0)
      __builtin_trap();
  } catch (const hl::Error&) {
  }
  return 0;
}
