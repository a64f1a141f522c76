// The kernels of packed weights stored as bfloat16 or IEEE half (PackedWeight::Storage): the AVX-512 tiles of
// packed_tiles.h instantiated over 16-bit panels, and the exact widening of panels to float32 that the other
// products run on. Either way each weight becomes the float it stands for before its FMA, so a 16-bit product
// equals the float32 product of the rounded weights bit for bit.
#include <cstring>

#include "core/engine/fused_ops.h"
#include "core/engine/packed_tiles.h"

namespace hl::engine::packed_tiles {

#if defined(__x86_64__)
Tile512 avx512_tile_16bit(bool bf16, Epilogue e, int64_t np, int64_t mr) {
  return bf16 ? avx512_tile<Bf16>(e, np, mr) : avx512_tile<F16>(e, np, mr);
}

TileRope rope_tile_16bit(bool bf16, int64_t mr) { return bf16 ? rope_tile<Bf16>(mr) : rope_tile<F16>(mr); }
#endif

namespace {

float bf16_to_float(uint16_t b) {
  const uint32_t u = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// IEEE binary16 to float, every case exact: normals rebias the exponent, subnormals are normalized, Inf/NaN keep
// their payload.
float f16_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1Fu, man = h & 0x3FFu, u;
  if (exp == 0x1Fu) {
    u = sign | 0x7F800000u | (man << 13);
  } else if (exp != 0) {
    u = sign | ((exp + 112u) << 23) | (man << 13);
  } else if (man == 0) {
    u = sign;
  } else {
    int e = -1;
    do {
      man <<= 1;
      ++e;
    } while ((man & 0x400u) == 0);
    u = sign | (static_cast<uint32_t>(112 - e) << 23) | ((man & 0x3FFu) << 13);
  }
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

void widen_generic(bool bf16, const uint16_t* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = bf16 ? bf16_to_float(src[i]) : f16_to_float(src[i]);
}

#if defined(__x86_64__)
__attribute__((target("avx2,f16c"))) void widen_avx2(bool bf16, const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    const __m256 f = bf16 ? _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)) : _mm256_cvtph_ps(h);
    _mm256_storeu_ps(dst + i, f);
  }
  widen_generic(bf16, src + i, dst + i, n - i);
}

bool have_f16c() {
  static const bool ok = __builtin_cpu_supports("f16c");
  return ok;
}
#endif

}  // namespace

void widen_16bit(bool bf16, const uint16_t* src, float* dst, int64_t n) {
#if defined(__x86_64__)
  if (vector_kernels_on() && have_f16c()) return widen_avx2(bf16, src, dst, n);
#endif
  widen_generic(bf16, src, dst, n);
}

}  // namespace hl::engine::packed_tiles
