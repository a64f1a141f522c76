// CPU feature detection and the one dispatch table every CPU kernel call goes through (fused ops, packed and
// small-batch products, attention, head statistics). The CPU is probed once; the table is resolved once, on first
// use, from HEADLIGHT_KERNELS (portable | avx2 | avx512) or else the best family the CPU runs and the build holds.
// Each family's kernels live in their own files (gemm_*, softmax_*, norm_rope_*, attention_prefill_*,
// attention_decode_*, rows_*), compiled with that instruction set's flags; a build with HEADLIGHT_X86_KERNELS off
// holds only the portable ones.
#pragma once
#include <string>
#include <vector>

#include "core/kernels/kernel_types.h"

namespace hl::kernels {

// Kernel families, each a superset of the previous one's instruction sets (AVX-512 falls back to AVX2 kernels for
// the concerns it has no kernel of its own for).
enum class Isa { Portable, Avx2, Avx512 };

struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false, avx512f = false, avx512bf16 = false;
};

// What the CPU has (probed once; all false off x86-64).
const CpuFeatures& cpu_features();

// "portable", "avx2", "avx512".
const char* isa_name(Isa isa);
// The family named `name`; an unknown name throws hl::Error naming `what` (e.g. the environment variable) and the
// names it takes.
Isa parse_isa(const std::string& name, const std::string& what);
// Whether this build holds the family's kernels (x86 families: only with HEADLIGHT_X86_KERNELS).
bool isa_compiled(Isa isa);
// Whether the family runs here: compiled in, and the CPU has its instruction sets (AVX2: AVX2 + FMA; AVX-512:
// those and AVX-512F).
bool isa_supported(Isa isa);
// Every family that runs here, best first.
std::vector<Isa> supported_isas();

// One entry per kernel concern. AVX-512-only entries (packed_tile, rope_tile) are null in the other families: the
// callers then take the float tiles (gemm_tile) and a separate rotation pass.
struct KernelTable {
  Isa isa = Isa::Portable;
  // gemm_<isa>.cpp: register tiles of the packed products and the attention products, 16-bit panel widening.
  GemmTileFn gemm_tile = nullptr;
  Widen16Fn widen_16bit = nullptr;
  PackedTileFor packed_tile = nullptr;  // AVX-512 only
  // softmax_<isa>.cpp: a row's softmax, the gated MLP's SiLU.
  SoftmaxRowFn softmax_row = nullptr;
  SiluMulFn silu_mul = nullptr;
  // norm_rope_<isa>.cpp: RMSNorm rows, rotary embedding of a head, the QKV product's rotary tile (AVX-512 only).
  RmsNormRowFn rms_norm_row = nullptr;
  RotateHeadFn rotate_head = nullptr;
  RopeTileFor rope_tile = nullptr;
  // attention_prefill_<isa>.cpp: QK^T and PV of a group of query rows.
  AttnProductFn attn_scores = nullptr;
  AttnProductFn attn_values = nullptr;
  // attention_decode_<isa>.cpp: one query row (dot products and axpy over the cached keys and values).
  DotFn dot = nullptr;
  AxpyFn axpy = nullptr;
  // rows_<isa>.cpp: small-batch linear rows (index R - 1 for R rows) and a head-statistics row.
  SmallLinearRowsFn small_linear_rows[kSmallLinearMaxRows] = {};
  HeadStatsRowFn head_stats_row = nullptr;
};

// The table in use. The first call resolves it: HEADLIGHT_KERNELS if set (an unknown family, or one this build or
// CPU lacks, throws hl::Error saying so, on this and every later call: never a silent fallback), else the best
// supported family.
const KernelTable& table();
// The family of table().
inline Isa active_isa() { return table().isa; }
// The table of a supported family (tests compare families side by side); throws hl::Error otherwise.
const KernelTable& table_for(Isa isa);
// Switches every later kernel call to `isa` (tests: the portable path on an x86 CPU; throws hl::Error if the family
// does not run here). Not for use while kernels run on other threads.
void force_isa(Isa isa);
// Back to the start-up choice (HEADLIGHT_KERNELS or the best family).
void reset_isa();

}  // namespace hl::kernels
