// Flags shared by every command that loads a model: --model DIR|FILE, --device, --dtype, --threads.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "app/cli/args.h"
#include "core/engine/model.h"
#include "workbench/prompt_setup.h"

namespace hl::cli {

std::unique_ptr<Model> load_model(const Args& a);
// --threads N (0 = one per core), bounded by the machine's cores.
void set_threads(const Args& a);
using wb::default_add_bos;
using wb::require_tokenizer;

}  // namespace hl::cli
