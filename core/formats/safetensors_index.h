// model.safetensors.index.json: the map from tensor name to shard file of a sharded HF checkpoint.
// Torch-free, so the fuzz targets reach it; core/engine/weight_source.cpp opens the shards.
#pragma once
#include <string>
#include <vector>

namespace hl {

// Returns the distinct shard file names of "weight_map", sorted. Throws hl::Error naming `where` for
// invalid or too-deep JSON, a missing or empty weight_map, a non-string entry, or a file name that is not
// a plain name inside the model directory (no '/', '\\', "." or "..": a downloaded index must not make
// headlight open files elsewhere).
std::vector<std::string> parse_safetensors_index(const std::string& json_text, const std::string& where);

}  // namespace hl
