// Small pieces the profile commands share: where built-in suites come from, a model's identity for job
// fingerprints, and writing result files whole or not at all.
#pragma once
#include <filesystem>
#include <string>

#include "analysis/suite_builtin.h"
#include "core/engine/model.h"
#include "core/file_write.h"

namespace hl::cli {

// ../shared (HEADLIGHT_SHARED_DIR in the environment, else the build's) and the repository's assets/.
SuiteSources suite_sources();

// Content hash of config.json (for a llama2.c checkpoint: its shape and size, as the run store records it).
std::string model_config_hash(const Model& m);
// Identity of the weights (workbench/model_identity.h: every weight file's content hash; files over 256 MiB by
// their size and 16 evenly spaced 1 MiB windows), folded to one hash.
std::string model_weights_id(const Model& m);

}  // namespace hl::cli
