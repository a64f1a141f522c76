// Helpers for the files compiled with instruction-set flags (*_avx2.cpp, *_avx512.cpp), with internal linkage: an
// inline function with external linkage (std::max, std::fill, std::exp(float)) compiled there may be emitted out of
// line, and the linker may then keep that copy, with its AVX instructions, for callers in portable files too. The
// isa_symbols test checks that those objects define no such (weak) symbols.
#pragma once
#include <math.h>

#include <cstdint>
#include <limits>

namespace hl::kernels {

constexpr float kInfinity = std::numeric_limits<float>::infinity();
constexpr float kLowest = std::numeric_limits<float>::lowest();

static inline float max_of(float a, float b) { return a < b ? b : a; }  // std::max's rule
static inline void fill_zero(float* p, float* end) {
  for (; p < end; ++p) *p = 0.0f;
}
static inline float exp_of(float x) { return expf(x); }  // std::exp(float)

}  // namespace hl::kernels
