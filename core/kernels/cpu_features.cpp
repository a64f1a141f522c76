#include "core/kernels/cpu_features.h"

#include <atomic>
#include <cstdlib>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "core/error.h"
#include "core/kernels/isa_kernels.h"

namespace hl::kernels {
namespace {

CpuFeatures detect() {
  CpuFeatures f;
#if defined(__x86_64__)
  // __builtin_cpu_supports also checks that the OS saves the AVX and AVX-512 registers (XCR0).
  __builtin_cpu_init();
  f.avx2 = __builtin_cpu_supports("avx2");
  f.fma = __builtin_cpu_supports("fma");
  f.f16c = __builtin_cpu_supports("f16c");
  f.avx512f = __builtin_cpu_supports("avx512f");
  // AVX512_BF16: CPUID leaf 7, sub-leaf 1, EAX bit 5 (not every compiler's __builtin_cpu_supports knows it).
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  f.avx512bf16 = f.avx512f && __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) && (eax & (1u << 5)) != 0;
#endif
  return f;
}

KernelTable portable_table() {
  KernelTable t;
  t.isa = Isa::Portable;
  t.gemm_tile = portable::gemm_tile;
  t.widen_16bit = portable::widen_16bit;
  t.softmax_row = portable::softmax_row;
  t.silu_mul = portable::silu_mul;
  t.rms_norm_row = portable::rms_norm_row;
  t.rotate_head = portable::rotate_head;
  t.attn_scores = portable::attn_scores;
  t.attn_values = portable::attn_values;
  t.dot = portable::dot;
  t.axpy = portable::axpy;
  for (int r = 1; r <= kSmallLinearMaxRows; ++r) t.small_linear_rows[r - 1] = portable::small_linear_rows(r);
  t.head_stats_row = portable::head_stats_row;
  return t;
}

#if defined(HEADLIGHT_X86_KERNELS)
// AVX2 + FMA: every concern but RMSNorm (whose portable loop the compiler vectorises well enough).
KernelTable avx2_table() {
  KernelTable t = portable_table();
  t.isa = Isa::Avx2;
  t.gemm_tile = avx2::gemm_tile;
  if (cpu_features().f16c) t.widen_16bit = avx2::widen_16bit;
  t.softmax_row = avx2::softmax_row;
  t.silu_mul = avx2::silu_mul;
  t.rotate_head = avx2::rotate_head;
  t.attn_scores = avx2::attn_scores;
  t.attn_values = avx2::attn_values;
  t.dot = avx2::dot;
  t.axpy = avx2::axpy;
  for (int r = 1; r <= kSmallLinearMaxRows; ++r) t.small_linear_rows[r - 1] = avx2::small_linear_rows(r);
  t.head_stats_row = avx2::head_stats_row;
  return t;
}

// AVX-512: its own packed and attention tiles, softmax and RMSNorm; AVX2 kernels for the rest.
KernelTable avx512_table() {
  KernelTable t = avx2_table();
  t.isa = Isa::Avx512;
  t.packed_tile = avx512::packed_tile;
  t.rope_tile = avx512::rope_tile;
  t.softmax_row = avx512::softmax_row;
  t.rms_norm_row = avx512::rms_norm_row;
  t.attn_scores = avx512::attn_product;
  t.attn_values = avx512::attn_product;
  return t;
}
#endif

const KernelTable& built(Isa isa) {
  static const KernelTable portable = portable_table();
#if defined(HEADLIGHT_X86_KERNELS)
  static const KernelTable avx2 = avx2_table();
  static const KernelTable avx512 = avx512_table();
  if (isa == Isa::Avx2) return avx2;
  if (isa == Isa::Avx512) return avx512;
#endif
  (void)isa;
  return portable;
}

const char* required(Isa isa) {
  return isa == Isa::Avx512 ? "AVX-512F, AVX2 and FMA" : isa == Isa::Avx2 ? "AVX2 and FMA" : "nothing";
}

void require_supported(Isa isa, const std::string& what) {
  if (!isa_compiled(isa))
    throw Error(what + ": the " + isa_name(isa) +
                " kernels are not in this build (configured with -DHEADLIGHT_X86_KERNELS=OFF or not on x86-64); "
                "portable is");
  if (!isa_supported(isa))
    throw Error(what + ": this CPU cannot run the " + std::string(isa_name(isa)) + " kernels (they need " +
                required(isa) + "); the best it runs is " + isa_name(supported_isas().front()));
}

// The start-up choice: HEADLIGHT_KERNELS, or the best family.
Isa startup_isa() {
  static const Isa isa = [] {
    const char* env = std::getenv("HEADLIGHT_KERNELS");
    if (!env || !*env) return supported_isas().front();
    const std::string what = std::string("HEADLIGHT_KERNELS=") + env;
    const Isa chosen = parse_isa(env, what);
    require_supported(chosen, what);
    return chosen;
  }();  // a throw leaves it unset: every later call throws the same error
  return isa;
}

std::atomic<const KernelTable*> g_forced{nullptr};

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
    case Isa::Portable: break;
  }
  return "portable";
}

Isa parse_isa(const std::string& name, const std::string& what) {
  for (Isa isa : {Isa::Portable, Isa::Avx2, Isa::Avx512})
    if (name == isa_name(isa)) return isa;
  throw Error(what + ": unknown kernel family '" + name + "' (portable, avx2 or avx512)");
}

bool isa_compiled(Isa isa) {
#if defined(HEADLIGHT_X86_KERNELS)
  (void)isa;
  return true;
#else
  return isa == Isa::Portable;
#endif
}

bool isa_supported(Isa isa) {
  const CpuFeatures& f = cpu_features();
  switch (isa) {
    case Isa::Portable: return true;
    case Isa::Avx2: return isa_compiled(isa) && f.avx2 && f.fma;
    case Isa::Avx512: return isa_compiled(isa) && f.avx2 && f.fma && f.avx512f;
  }
  return false;
}

std::vector<Isa> supported_isas() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::Avx512, Isa::Avx2, Isa::Portable})
    if (isa_supported(isa)) out.push_back(isa);
  return out;
}

const KernelTable& table() {
  if (const KernelTable* t = g_forced.load(std::memory_order_acquire)) return *t;
  return built(startup_isa());
}

const KernelTable& table_for(Isa isa) {
  require_supported(isa, std::string("kernel family ") + isa_name(isa));
  return built(isa);
}

void force_isa(Isa isa) { g_forced.store(&table_for(isa), std::memory_order_release); }

void reset_isa() { g_forced.store(nullptr, std::memory_order_release); }

}  // namespace hl::kernels
