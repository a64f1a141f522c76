// The command line's prompt and store flags: --prompt TEXT | --ids 1,2,3, --steering SPEC.json, --db FILE, turned
// into the workbench's requests (workbench/prompt_setup.h, workbench/run_recorder.h).
#pragma once
#include <memory>

#include "app/cli/args.h"
#include "workbench/prompt_setup.h"
#include "workbench/run_recorder.h"

namespace hl::cli {

using wb::PromptSetup;
using wb::RunRecorder;
using wb::to_matrix;

// Reads --prompt/--ids and --steering.
PromptSetup setup_prompt(const Args& a, const Model& m);
// A recorder on the store of --db FILE; null when the command was given no --db.
std::unique_ptr<RunRecorder> open_recorder(const Args& a);

}  // namespace hl::cli
