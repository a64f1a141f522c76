#include "app/cli/profile_files.h"


#include <cstdlib>

#include "core/fnv_hash.h"
#include "core/error.h"
#include "workbench/model_identity.h"
#include "workbench/run_recorder.h"

namespace hl::cli {
namespace fs = std::filesystem;

SuiteSources suite_sources() {
  SuiteSources s;
  const char* env = std::getenv("HEADLIGHT_SHARED_DIR");
  s.shared_dir = env && *env ? fs::path(env) : fs::path(HEADLIGHT_DEFAULT_SHARED);
  s.assets_dir = HEADLIGHT_DEFAULT_ASSETS;
  return s;
}

std::string model_config_hash(const Model& m) { return wb::model_record(m).config_hash; }

std::string model_weights_id(const Model& m) {
  // One identity for every experiment fingerprint (workbench/model_identity.h), folded to one hash.
  return fnv1a_hex(wb::model_identity(m)["weights"].dump());
}
}  // namespace hl::cli
