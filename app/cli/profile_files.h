// Small pieces the profile commands share: where built-in suites come from, a model's identity for job
// fingerprints, and writing result files whole or not at all.
#pragma once
#include <filesystem>
#include <string>

#include "analysis/suite_builtin.h"
#include "core/engine/model.h"
#include "core/file_write.h"
#include "workbench/profiling.h"

namespace hl::cli {

// ../shared and assets/, a model's config hash and weights identity (workbench/profiling.h).
using wb::model_config_hash;
using wb::model_weights_id;
using wb::suite_sources;

}  // namespace hl::cli
