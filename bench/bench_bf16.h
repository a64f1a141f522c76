// The `bf16` section of headlight-bench: a SmolLM2-135M-shape model stored in bf16, loaded as by default (bf16
// packed panels, float32 compute) against the same weights upcast to float32 (--dtype f32): decode and prefill
// times and their ratios, in alternating rounds.
#pragma once
#include "core/engine/model.h"

namespace hl::bench {

void bf16_section(bool quick);

}  // namespace hl::bench
