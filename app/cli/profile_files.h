// Small pieces the profile commands share: where built-in suites come from, a model's identity for job
// fingerprints, and writing result files whole or not at all.
#pragma once
#include <filesystem>
#include <string>

#include "analysis/suite_builtin.h"
#include "core/engine/model.h"

namespace hl::cli {

// ../shared (HEADLIGHT_SHARED_DIR in the environment, else the build's) and the repository's assets/.
SuiteSources suite_sources();

// Content hash of config.json (for a llama2.c checkpoint: its shape and size, as the run store records it).
std::string model_config_hash(const Model& m);
// Identity of the weights without reading them whole: every weight file's name, size, its first 64 KiB (a
// safetensors header with every shape and offset) and 16 evenly spaced 4 KiB samples, hashed.
std::string model_weights_id(const Model& m);

// Writes `text` to a temporary file in the target's folder and renames it over the target.
void write_file_atomic(const std::filesystem::path& path, const std::string& text);

}  // namespace hl::cli
