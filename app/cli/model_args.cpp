#include "app/cli/model_args.h"


#include <algorithm>
#include <thread>

#include "core/error.h"

namespace hl::cli {

const std::vector<std::string> kModelFlags = {"model", "device", "dtype", "threads"};

void set_threads(const Args& a) {
  const long long n = a.get_int("threads", 0);
  const long long cores = std::max(1u, std::thread::hardware_concurrency());
  // More threads than cores only makes every parallel loop fight itself (and --threads 10000 spawns thousands).
  if (n < 0 || n > 4 * cores)
    throw Error("--threads " + std::to_string(n) + ": this machine has " + std::to_string(cores) +
                " cores; give 1.." + std::to_string(4 * cores) + " (or 0 for one per core)");
  set_compute_threads(static_cast<int>(n));
}

std::unique_ptr<Model> load_model(const Args& a) {
  set_threads(a);
  LoadOptions lo;
  lo.device = a.get("device", "cpu");
  lo.dtype = a.get("dtype", "auto");
  return Model::load(a.get("model"), lo);
}

std::vector<int64_t> prompt_ids(const Args& a, const Model& m) {
  if (a.has("ids") == a.has("prompt")) throw Error("give exactly one of --prompt TEXT or --ids 1,2,3");
  if (a.has("ids")) {
    std::vector<int64_t> ids;
    for (long long v : a.get_int_list("ids")) ids.push_back(v);
    wb::check_ids(m, ids, "--ids");
    return ids;
  }
  EncodeOptions eo;
  eo.add_bos = default_add_bos(m);
  auto enc = require_tokenizer(m).encode(a.get("prompt"), eo);
  if (enc.ids.empty()) throw Error("--prompt: the prompt tokenises to nothing");
  return enc.ids;
}

std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace hl::cli
