#include "app/cli/model_args.h"


#include <algorithm>
#include <thread>

#include "core/error.h"

namespace hl::cli {

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

}  // namespace hl::cli
