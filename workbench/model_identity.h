// What identifies a loaded model in an experiment fingerprint: its config (hash), weights (a content hash of every
// weight file) and tokenizer files. Two checkpoints saved at the same path are told apart.
#pragma once
#include <nlohmann/json.hpp>

namespace hl {
class Model;
}

namespace hl::wb {

nlohmann::json model_identity(const Model& m);

}  // namespace hl::wb
