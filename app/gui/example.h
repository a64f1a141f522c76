// What the window shows at start: the example document (so it opens showing something) and, for the
// --bench-heatmap flag, a synthetic attention map.
#pragma once
#include <memory>
#include <string>

#include "workbench/workbench.h"

namespace hl::gui {

// "Once upon a time, ... She loved her red ball." with GUIDE (delta 1) on the second sentence.
wb::Document example_document();
// The model's own example when its folder has example.json ({"prompt": "...", "steering": {spec}, "focus": "L1H5"};
// a relative "heads" file in the spec is read from that folder), else example_document(). Throws hl::Error naming
// the file and field for a malformed example.json.
wb::Document example_document_for(const std::string& model_path);
// An n x n causal attention-like map (rows sum to 1: a sink on key 0, a recency band, a few stripes).
std::shared_ptr<const wb::AttentionMap> synthetic_attention_map(int64_t n);

}  // namespace hl::gui
