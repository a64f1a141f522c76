// Runs a test case once per kernel family this build and CPU can run (AVX-512, AVX2, portable): doctest runs the case
// once per SUBCASE, each forcing its family through the kernel table (core/kernels/cpu_features.h). Declare one at
// the top of a test case; it restores the start-up choice when the case's run ends.
#pragma once
#include <string>

#include "core/kernels/cpu_features.h"
#include "engine/doctest_torch.h"  // doctest after ATen, as every engine test must

namespace hl::test {

class KernelChoice {
 public:
  KernelChoice() {
    for (kernels::Isa isa : kernels::supported_isas()) {
      const std::string name = std::string(kernels::isa_name(isa)) + " kernels";
      SUBCASE(name.c_str()) { kernels::force_isa(isa); }
    }
  }
  ~KernelChoice() { kernels::reset_isa(); }
  KernelChoice(const KernelChoice&) = delete;
  KernelChoice& operator=(const KernelChoice&) = delete;
};

}  // namespace hl::test
