// AVX-512 register tiles of the packed products over bfloat16 and IEEE-half panels: each row of 16 weights is widened
// to floats in registers (exactly) before the same FMAs as float32 panels, so a 16-bit product equals the float32
// product of the rounded weights bit for bit. A file of its own: these instantiations are most of the tiles' compile
// time. Compiled with the AVX-512 flags (core/kernels/CMakeLists.txt).
#include "core/kernels/isa_kernels.h"
#include "core/kernels/packed_tiles_avx512.h"

namespace hl::kernels::avx512 {

PackedTile packed_tile_16bit(bool bf16, Epilogue e, int64_t np, int64_t mr) {
  return bf16 ? avx512_tile<Bf16>(e, np, mr) : avx512_tile<F16>(e, np, mr);
}

}  // namespace hl::kernels::avx512
