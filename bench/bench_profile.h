// The `profile` section of headlight-bench: the whole profiler (units, store journal, scoring) against the naive
// loop the official code implies.
#pragma once
#include "core/engine/model.h"

namespace hl::bench {

// Prints heads*examples/s of run_profile and of the naive loop on the same examples and scorer, and their ratio.
void profile_section(const Model& m, bool quick);

}  // namespace hl::bench
