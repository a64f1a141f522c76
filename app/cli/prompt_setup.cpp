#include "app/cli/prompt_setup.h"

#include "app/cli/model_args.h"
#include "core/error.h"
#include "core/steering/steering_spec.h"

namespace hl::cli {

PromptSetup setup_prompt(const Args& a, const Model& m) {
  if (a.has("ids") == a.has("prompt")) throw Error("give exactly one of --prompt TEXT or --ids 1,2,3");
  wb::PromptRequest req;
  if (a.has("steering")) req.spec = load_steering_spec(a.get("steering"));
  if (a.has("ids")) {
    std::vector<int64_t> ids;
    for (long long v : a.get_int_list("ids")) ids.push_back(v);
    wb::check_ids(m, ids, "--ids");
    req.ids = std::move(ids);
  } else {
    req.text = a.get("prompt");
  }
  return wb::setup_prompt(m, req);
}

std::unique_ptr<RunRecorder> open_recorder(const Args& a) {
  if (!a.has("db")) return nullptr;
  return std::make_unique<RunRecorder>(a.get("db"));
}

}  // namespace hl::cli
