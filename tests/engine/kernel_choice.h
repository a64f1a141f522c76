// Runs a test case once per kernel family the engine can choose: doctest runs the case once per SUBCASE, with the
// AVX-512 kernels (where the CPU has them), the AVX2 ones (where it has them) and the portable ones other CPUs run.
// Declare one at the top of a test case; it restores the default choice when the case's run ends.
#pragma once
#include "core/engine/fused_ops.h"
#include "engine/doctest_torch.h"  // doctest after ATen, as every engine test must

namespace hl::test {

class KernelChoice {
 public:
  KernelChoice() {
    SUBCASE("AVX-512 kernels where the CPU has them") {}
    SUBCASE("AVX2 kernels where the CPU has them") { engine::use_avx512_kernels(false); }
    SUBCASE("portable kernels") { engine::use_portable_kernels(true); }
  }
  ~KernelChoice() {
    engine::use_avx512_kernels(true);
    engine::use_portable_kernels(false);
  }
  KernelChoice(const KernelChoice&) = delete;
  KernelChoice& operator=(const KernelChoice&) = delete;
};

}  // namespace hl::test
