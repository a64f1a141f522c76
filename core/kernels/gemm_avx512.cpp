// AVX-512 register tiles of the packed products over float32 panels, and the choice of tile by panel type.
// Compiled with the AVX-512 flags (core/kernels/CMakeLists.txt).
#include "core/kernels/isa_kernels.h"
#include "core/kernels/packed_tiles_avx512.h"

namespace hl::kernels::avx512 {

PackedTile packed_tile_f32(Epilogue e, int64_t np, int64_t mr) { return avx512_tile<float>(e, np, mr); }

PackedTile packed_tile(PanelType type, Epilogue e, int64_t np, int64_t mr) {
  return type == PanelType::F32 ? packed_tile_f32(e, np, mr) : packed_tile_16bit(type == PanelType::BF16, e, np, mr);
}

}  // namespace hl::kernels::avx512
