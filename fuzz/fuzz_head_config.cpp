// PASTA head configs and head-name lists: parse, validate against a small model, expand, and export back.
#include "core/error.h"
#include "core/steering/head_config.h"
#include "fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const hl::HeadSet set = hl::parse_head_set_text(hl::fuzz::as_text(data, size), "head config");
    (void)hl::head_set_to_names(set);
    set.validate(4, 8, "head config");
    const auto heads = set.expand(4, 8);
    if (heads.size() > 4 * 8) __builtin_trap();
    const hl::HeadSet again = hl::parse_head_set_text(hl::head_set_to_pasta_json(set, 4, 8), "export");
    if (again.expand(4, 8).size() != heads.size()) __builtin_trap();
  } catch (const hl::Error&) {
  }
  return 0;
}
