// Steering specs: parse, validate against a small model, compile over a short prompt, and check that the
// JSON export reads back equal (the spec file the GUI saves must load again).
#include "core/error.h"
#include "core/steering/steering_spec.h"
#include "fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  constexpr int64_t kLayers = 3, kHeads = 4, kPromptLen = 24;
  try {
    const hl::SteeringSpec spec = hl::parse_steering_spec(hl::fuzz::as_text(data, size), "spec.json");
    if (hl::parse_steering_spec(hl::steering_spec_to_json(spec), "export") != spec) __builtin_trap();
    hl::validate_steering_spec(spec, kLayers, kHeads);
    const hl::AttentionBias bias = hl::compile(spec, kLayers, kHeads, kPromptLen, spec.spans);
    (void)bias;
    (void)hl::key_bias(spec, kPromptLen, spec.spans);
  } catch (const hl::Error&) {
  }
  return 0;
}
