#include "core/engine/packed_linear.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "core/engine/fused_ops.h"
#include "core/error.h"
#include "core/kernels/cpu_features.h"

namespace hl::engine {
namespace {

using namespace kernels;

struct Product {
  const float* x = nullptr;
  int64_t rows = 0, ldx = 0;
  const PackedWeight* w = nullptr;
  const float* bias = nullptr;
  float* out = nullptr;
  int64_t ldo = 0;
  const float* residual = nullptr;  // Residual: out = residual + product (laid out as out)
  const RopeOut* rope = nullptr;    // QkvRope
  Epilogue epilogue = Epilogue::Store;
};

// Writes tile t of rows [m0, m0 + mr) from the sums in T.
void finish_tile(const Product& p, const float* T, int64_t t, int64_t m0, int64_t mr) {
  const PackedWeight& w = *p.w;
  if (p.epilogue == Epilogue::SiluGate) {
    // All rows of the tile in one call (16 units a row, padding units included: every unit takes the same
    // vector path whatever the number of rows).
    const int64_t I = w.out_features() / 2, u0 = t * kPanel, units = std::min(kPanel, I - u0);
    alignas(64) float g[8 * kPanel] = {}, u[8 * kPanel] = {}, h[8 * kPanel];
    for (int64_t r = 0; r < mr; ++r) {
      const float* tr = T + r * kTileCols;
      for (int64_t c = 0; c < kPanel; ++c) {
        const bool b = p.bias && c < units;
        g[r * kPanel + c] = b ? tr[c] + p.bias[u0 + c] : tr[c];
        u[r * kPanel + c] = b ? tr[kPanel + c] + p.bias[I + u0 + c] : tr[kPanel + c];
      }
    }
    kernels::table().silu_mul(g, u, h, mr * kPanel);
    for (int64_t r = 0; r < mr; ++r) std::copy_n(h + r * kPanel, units, p.out + (m0 + r) * p.ldo + u0);
    return;
  }
  // Panel by panel: each holds 16 consecutive features (panel_feature; for a Plain weight the two panels of a tile
  // are consecutive too).
  const int64_t np = std::min(kTile, w.panels() - t * kTile);
  for (int64_t j = 0; j < np; ++j) {
    const int64_t n0 = w.panel_feature(t * kTile + j), cols = std::min(kPanel, w.out_features() - n0);
    const float* b = p.bias ? p.bias + n0 : nullptr;
    for (int64_t r = 0; r < mr; ++r) {
      const float* tr = T + r * kTileCols + j * kPanel;
      float* o = p.out + (m0 + r) * p.ldo + n0;
      if (p.epilogue == Epilogue::Residual) {
        const float* res = p.residual + (m0 + r) * p.ldo + n0;
        if (b) {
          for (int64_t c = 0; c < cols; ++c) o[c] = res[c] + (tr[c] + b[c]);
        } else {
          for (int64_t c = 0; c < cols; ++c) o[c] = res[c] + tr[c];
        }
      } else if (p.epilogue == Epilogue::Accumulate) {
        if (b) {
          for (int64_t c = 0; c < cols; ++c) o[c] += tr[c] + b[c];
        } else {
          for (int64_t c = 0; c < cols; ++c) o[c] += tr[c];
        }
      } else if (b) {
        for (int64_t c = 0; c < cols; ++c) o[c] = tr[c] + b[c];
      } else {
        std::copy_n(tr, cols, o);
      }
    }
  }
}

// Item `item` of the product: weight tile item / row_blocks over row block item % row_blocks. wide: room for a
// tile's panels as floats when the product widens 16-bit panels first (see run), else null.
// k: the kernel table the product runs on (its packed_tile entry set: AVX-512 tiles with the epilogue in registers).
void run_item(const Product& p, int64_t item, int64_t row_blocks, const KernelTable& k, int64_t mr_max, float* T,
              float* wide) {
  const PackedWeight& w = *p.w;
  const int64_t K = w.in_features(), t = item / row_blocks, rb = item % row_blocks;
  const int64_t np = std::min(kTile, w.panels() - t * kTile);
  const bool bf16 = w.storage() == PackedWeight::Storage::BF16;
  const void* tile_data = w.panel_data(t * kTile);
  if (wide) k.widen_16bit(bf16, static_cast<const uint16_t*>(tile_data), wide, np * K * kPanel);
  // Panels as the kernels read them: floats (float32 storage, or widened), or 16-bit ones the AVX-512 tiles widen
  // in registers.
  const bool in_registers = w.storage() != PackedWeight::Storage::F32 && !wide;
  const void* Bv = wide ? static_cast<const void*>(wide) : tile_data;
  const float* B = static_cast<const float*>(Bv);  // when !in_registers
  const int64_t esize = in_registers ? 2 : 4;
  auto panel_at = [&](int64_t j) { return static_cast<const unsigned char*>(Bv) + j * K * kPanel * esize; };
  const int64_t m_end = std::min(p.rows, (rb + 1) * kRowBlock);
  // fn(m0, mr) for the row block's register tiles of up to mr_max rows.
  auto each_tile = [&](const auto& fn) {
    for (int64_t m0 = rb * kRowBlock; m0 < m_end; m0 += mr_max) fn(m0, std::min(mr_max, m_end - m0));
  };
  // The panels' type as the AVX-512 tiles read them.
  const PanelType panel_type = !in_registers ? PanelType::F32 : bf16 ? PanelType::BF16 : PanelType::F16;
  if (k.packed_tile && p.epilogue == Epilogue::QkvRope) {
    const int64_t f0 = w.panel_feature(t * kTile), f1 = w.panel_feature(t * kTile + 1);
    const float* b0 = p.bias ? p.bias + f0 : nullptr;
    const float* b1 = p.bias ? p.bias + f1 : nullptr;
    each_tile([&](int64_t m0, int64_t mr) {
      k.rope_tile(panel_type, mr)(p.x + m0 * p.ldx, p.ldx, Bv, K * kPanel, K, *p.rope, m0, f0, f1, b0, b1);
    });
    return;
  }
  if (k.packed_tile) {  // AVX-512: the epilogue runs in registers, straight into the output
    const bool gated = p.epilogue == Epilogue::SiluGate;
    const int64_t I = w.out_features() / 2;
    // Output features of the tile's panels: gate/up units, or (Plain, RopePairs) each panel's 16 features; panels
    // that are not consecutive features (a RopePairs weight's rotary halves) go one at a time.
    const int64_t f0 = gated ? t * kPanel : w.panel_feature(t * kTile);
    const bool together = gated || np == 1 || w.panel_feature(t * kTile + 1) == f0 + kPanel;
    for (int64_t j = 0; j < (together ? 1 : np); ++j) {
      const int64_t n0 = gated || together ? f0 : w.panel_feature(t * kTile + j);
      const int64_t panels = together ? np : 1;
      const int64_t cols = gated ? std::min(kPanel, I - n0) : std::min(kPanel * panels, w.out_features() - n0);
      const float* b0 = p.bias ? p.bias + n0 : nullptr;
      const float* b1 = p.bias && gated ? p.bias + I + n0 : nullptr;
      each_tile([&](int64_t m0, int64_t mr) {
        const PackedTile tile = k.packed_tile(panel_type, p.epilogue, panels, mr);
        tile(p.x + m0 * p.ldx, p.ldx, panel_at(j), K * kPanel, K, p.out + m0 * p.ldo + n0, p.ldo, b0, b1, cols,
             p.residual ? p.residual + m0 * p.ldo + n0 : nullptr);
      });
    }
    return;
  }
  if (p.epilogue == Epilogue::QkvRope) throw Error("packed QKV with rotary embedding: AVX-512 only");
  if (in_registers) throw Error("packed product: 16-bit panels in registers are AVX-512 only");
  // A whole tile with nothing to add goes straight to the output; the rest through T and the epilogue.
  const bool direct = p.epilogue == Epilogue::Store && !p.bias && w.layout() == PackedWeight::Layout::Plain &&
                      (t + 1) * kTileCols <= w.out_features();
  const int64_t ldd = direct ? p.ldo : kTileCols;
  each_tile([&](int64_t m0, int64_t mr) {
    const float* A = p.x + m0 * p.ldx;
    float* dst = direct ? p.out + m0 * p.ldo + t * kTileCols : T;
    for (int64_t j = 0; j < np; ++j)
      k.gemm_tile(mr, kPanel, A, p.ldx, B + j * K * kPanel, kPanel, K, dst + j * kPanel, ldd, kPanel);
    if (!direct) finish_tile(p, T, t, m0, mr);
  });
}

void run(const Product& p) {
  const int64_t tiles = (p.w->panels() + kTile - 1) / kTile, M = p.rows;
  if (M == 0 || tiles == 0) return;
  const KernelTable& k = kernels::table();
  const bool z = k.packed_tile != nullptr;
  // Up to 8 rows (decode steps, small batches) form one tile, so the weights stream once; more rows go in
  // groups of 6 (12 accumulators; the AVX2 tile holds at most 6 rows).
  const int64_t mr_max = z && M <= 8 ? M : 6;
  // 16-bit panels: where the weights stream once (one register tile of rows, AVX-512) the tiles widen them in
  // registers, so decode reads half the bytes. Otherwise each item widens its tile's panels once into a float
  // buffer (in L2, reused by every row tile of the item) and the float32 kernels run over it: prefill runs the
  // float32 inner loop itself (widening in the loop would add two instructions per 16 weights to the FMAs of a
  // compute-bound product), and the AVX2 and portable kernels need no 16-bit variants.
  const bool widen = p.w->storage() != PackedWeight::Storage::F32 && !(z && M <= 8);
  const int64_t K = p.w->in_features();
  const int64_t row_blocks = (M + kRowBlock - 1) / kRowBlock, items = tiles * row_blocks;
  // Threads take chunks of consecutive items (a chunk's items mostly share their weight tile) from a counter: a
  // static split waits for whichever core the VM or a neighbour slowed down. Chunks shrink as the items run out
  // (a quarter of what is left per thread, at least one item), so the threads finish within about one item of
  // each other instead of one large chunk. An item spans up to 256 rows: at the few hundred rows of an
  // interactive re-run a weight tile then goes to one thread whole. With items of 48 rows the last chunks split
  // tiles between the threads, each fetching the tile from memory, which cost more (the re-run 2 % slower,
  // prefill a few per cent) than the coarser finish.
  const int64_t threads = at::get_num_threads();
  std::atomic<int64_t> next{0};
  at::parallel_for(0, threads, 1, [&](int64_t, int64_t) {
    alignas(64) float T[8 * kTileCols];
    std::vector<float> wide_buf(widen ? K * kTileCols + 16 : 0);
    float* wide = widen ? reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(wide_buf.data()) + 63) & ~uintptr_t{63})
                        : nullptr;
    int64_t i0 = next.load(std::memory_order_relaxed);
    while (i0 < items) {
      const int64_t chunk = std::max<int64_t>(1, (items - i0) / (4 * threads));
      if (!next.compare_exchange_weak(i0, i0 + chunk)) continue;  // i0 now holds the counter's value
      for (int64_t item = i0; item < std::min(items, i0 + chunk); ++item) run_item(p, item, row_blocks, k, mr_max, T, wide);
      i0 = next.load(std::memory_order_relaxed);
    }
  });
}

// x as [rows, K] with unit stride along K.
at::Tensor as_rows(const at::Tensor& x, const PackedWeight& w, const char* op) {
  if (!x.device().is_cpu() || x.scalar_type() != at::kFloat)
    throw Error(std::string(op) + ": input must be float32 on the CPU");
  if (x.dim() < 1 || x.size(-1) != w.in_features())
    throw Error(std::string(op) + ": input has " + (x.dim() < 1 ? std::string("no") : std::to_string(x.size(-1))) +
                " features, the weight takes " + std::to_string(w.in_features()));
  at::Tensor r = x.reshape({-1, w.in_features()});
  return r.stride(1) == 1 && r.stride(0) >= w.in_features() ? r : r.contiguous();
}

const float* bias_ptr(const at::Tensor& b, int64_t n, const char* op) {
  if (!b.defined()) return nullptr;
  if (!b.device().is_cpu() || b.scalar_type() != at::kFloat || !b.is_contiguous() || b.numel() != n)
    throw Error(std::string(op) + ": bias must be " + std::to_string(n) + " float32 values on the CPU");
  return b.data_ptr<float>();
}

std::vector<int64_t> out_shape(const at::Tensor& x, int64_t n) {
  std::vector<int64_t> s(x.sizes().begin(), x.sizes().end());
  s.back() = n;
  return s;
}

// Asks for transparent huge pages on the 2 MB-aligned part of a large buffer not yet touched (where the kernel
// leaves THP to madvise): products stream the panels, and 4 KB pages cost a TLB miss and a restart of the hardware
// prefetcher every 4 KB. (A 2-layer Llama-2-7B shape, alternating runs: decode median 131 vs 150 ms a token.)
void advise_huge_pages(void* p, size_t bytes) {
#if defined(__linux__)
  constexpr uintptr_t kHuge = 2u << 20;
  const auto a = reinterpret_cast<uintptr_t>(p), first = (a + kHuge - 1) & ~(kHuge - 1), last = (a + bytes) & ~(kHuge - 1);
  if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
#else
  (void)p;
  (void)bytes;
#endif
}

// Row of the [N, K] matrix that column c of panel p holds, or -1 for padding.
int64_t source_row(const PackedWeight& w, int64_t p, int64_t c) {
  if (w.layout() == PackedWeight::Layout::GatePairs) {
    const int64_t I = w.out_features() / 2, unit = (p / 2) * kPanel + c;
    if (unit >= I) return -1;
    return p % 2 == 0 ? unit : I + unit;
  }
  const int64_t row = w.panel_feature(p) + c;
  return row < w.out_features() ? row : -1;
}

}  // namespace

bool PackedWeight::applies(const at::Tensor& w) {
  return w.defined() && w.device().is_cpu() &&
         (w.scalar_type() == at::kFloat || w.scalar_type() == at::kBFloat16 || w.scalar_type() == at::kHalf) &&
         w.dim() == 2;
}

int64_t PackedWeight::panel_feature(int64_t p) const {
  if (layout_ == Layout::RopePairs && p * kPanel < rope_features_) {
    // Within a head's panels: even ones take the first half's 16-dim blocks in order, odd ones the second half's.
    const int64_t per_head = head_dim_ / kPanel, head = p / per_head, local = p % per_head, j = local / 2;
    return head * head_dim_ + (local % 2 == 0 ? 0 : head_dim_ / 2) + j * kPanel;
  }
  return p * kPanel;
}

PackedWeight PackedWeight::pack(const at::Tensor& w, Layout layout, const std::string& what, int64_t head_dim,
                                int64_t rope_features) {
  return pack(std::vector<at::Tensor>{w}, layout, what, head_dim, rope_features);
}

PackedWeight PackedWeight::pack(const std::vector<at::Tensor>& blocks_in, Layout layout, const std::string& what,
                                int64_t head_dim, int64_t rope_features) {
  int64_t rows = 0;
  for (const at::Tensor& b : blocks_in) {
    if (!b.defined() || b.dim() != 2 || !b.device().is_cpu() ||
        (b.scalar_type() != at::kFloat && b.scalar_type() != at::kBFloat16 && b.scalar_type() != at::kHalf))
      throw Error("packing " + what + ": expected a 2-D float32, bfloat16 or float16 CPU tensor");
    if (b.scalar_type() != blocks_in.front().scalar_type() || b.size(1) != blocks_in.front().size(1))
      throw Error("packing " + what + ": its row blocks differ in dtype or width");
    rows += b.size(0);
  }
  if (blocks_in.empty() || rows < 1 || blocks_in.front().size(1) < 1) throw Error("packing " + what + ": empty matrix");
  if (layout == Layout::GatePairs && rows % 2 != 0)
    throw Error("packing " + what + ": a gate/up matrix needs an even number of rows, got " + std::to_string(rows));
  if (layout == Layout::RopePairs &&
      (head_dim <= 0 || head_dim % (2 * kPanel) != 0 || rope_features <= 0 || rope_features % head_dim != 0 ||
       rope_features > rows || rows % (2 * kPanel) != 0))
    throw Error("packing " + what + ": rotary pairs need a head size that is a multiple of 32 (got " +
                std::to_string(head_dim) + "), whole heads of rotated rows (" + std::to_string(rope_features) +
                ") and a multiple of 32 rows (" + std::to_string(rows) + ")");
  std::vector<at::Tensor> blocks;
  for (const at::Tensor& b : blocks_in) blocks.push_back(b.contiguous());
  PackedWeight pw;
  pw.n_ = rows;
  pw.k_ = blocks.front().size(1);
  pw.layout_ = layout;
  const at::ScalarType type = blocks.front().scalar_type();
  pw.storage_ = type == at::kFloat ? Storage::F32 : type == at::kBFloat16 ? Storage::BF16 : Storage::F16;
  if (layout == Layout::RopePairs) {
    pw.head_dim_ = head_dim;
    pw.rope_features_ = rope_features;
  }
  pw.panels_ = layout == Layout::GatePairs ? 2 * ((pw.n_ / 2 + kPanel - 1) / kPanel) : (pw.n_ + kPanel - 1) / kPanel;
  // 64-byte aligned panels (aligned zmm loads); 64 spare bytes for the alignment offset.
  pw.buf_ = at::empty({pw.bytes() + 64}, at::kByte);
  advise_huge_pages(pw.buf_.data_ptr<uint8_t>(), static_cast<size_t>(pw.bytes() + 64));
  pw.buf_.zero_();
  const auto addr = reinterpret_cast<uintptr_t>(pw.buf_.data_ptr<uint8_t>());
  auto* base = reinterpret_cast<unsigned char*>((addr + 63) & ~uintptr_t{63});
  pw.base_ = base;
  // Where each row of W starts, in its block.
  std::vector<const void*> row_at;
  row_at.reserve(rows);
  for (const at::Tensor& b : blocks)
    for (int64_t r = 0; r < b.size(0); ++r)
      row_at.push_back(static_cast<const unsigned char*>(b.data_ptr()) + r * pw.k_ * b.element_size());
  // Elements are copied as they are (4 or 2 bytes): the panels hold the tensor's own values.
  auto copy = [&](auto elem) {
    using E = decltype(elem);
    const int64_t K = pw.k_;
    at::parallel_for(0, pw.panels_, 1, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        E* dst = reinterpret_cast<E*>(base) + p * K * kPanel;
        const E* src[kPanel];
        for (int64_t c = 0; c < kPanel; ++c) {
          const int64_t row = source_row(pw, p, c);
          src[c] = row < 0 ? nullptr : static_cast<const E*>(row_at[row]);
        }
        // In blocks of 64 inputs: the block's 16 x 64 destination stays in L1 while the 16 rows fill it (a whole
        // column at a time strides over the panel, which is larger than L1 for wide matrices).
        for (int64_t k0 = 0; k0 < K; k0 += 64) {
          const int64_t k1 = std::min(K, k0 + 64);
          for (int64_t c = 0; c < kPanel; ++c)
            if (src[c])
              for (int64_t k = k0; k < k1; ++k) dst[k * kPanel + c] = src[c][k];
        }
      }
    });
  };
  if (pw.storage_ == Storage::F32) copy(float{});
  else copy(uint16_t{});
  return pw;
}

at::Tensor PackedWeight::unpack() const {
  at::Tensor w = at::empty({n_, k_}, at::kFloat);
  float* dst = w.data_ptr<float>();
  std::vector<float> panel(k_ * kPanel);
  for (int64_t p = 0; p < panels_; ++p) {
    if (storage_ == Storage::F32)
      std::copy_n(static_cast<const float*>(panel_data(p)), k_ * kPanel, panel.data());
    else
      kernels::table().widen_16bit(storage_ == Storage::BF16, static_cast<const uint16_t*>(panel_data(p)), panel.data(),
                                   k_ * kPanel);
    for (int64_t c = 0; c < kPanel; ++c) {
      const int64_t row = source_row(*this, p, c);
      if (row < 0) continue;
      for (int64_t k = 0; k < k_; ++k) dst[row * k_ + k] = panel[k * kPanel + c];
    }
  }
  return w;
}

at::Tensor PackedWeight::rows(const at::Tensor& ids_in) const {
  if (layout_ != Layout::Plain || storage_ != Storage::F32)
    throw Error("packed weight rows: only a plain float32 weight serves lookups");
  const at::Tensor ids = ids_in.to(at::kLong).contiguous();
  std::vector<int64_t> shape(ids.sizes().begin(), ids.sizes().end());
  shape.push_back(k_);
  at::Tensor out = at::empty(shape, at::kFloat);
  const int64_t* id = ids.data_ptr<int64_t>();
  float* dst = out.data_ptr<float>();
  for (int64_t i = 0; i < ids.numel(); ++i) {
    const int64_t r = id[i];
    if (r < 0 || r >= n_)
      throw Error("token id " + std::to_string(r) + " is outside the vocabulary (" + std::to_string(n_) + " rows)");
    // Plain panels hold features in order: row r is column r % 16 of panel r / 16, one float every 16.
    const float* col = static_cast<const float*>(panel_data(r / kPanel)) + r % kPanel;
    for (int64_t k = 0; k < k_; ++k) dst[i * k_ + k] = col[k * kPanel];
  }
  return out;
}

namespace {

// x as rows (validated by as_rows), w of the epilogue's layout: out (ldo floats a row) = epilogue(x W^T + b).
void multiply(const at::Tensor& x, const PackedWeight& w, const at::Tensor& b, Epilogue epilogue, float* out,
              int64_t ldo, const char* op, const float* residual = nullptr, const RopeOut* rope = nullptr) {
  Product p;
  p.x = x.data_ptr<float>();
  p.rows = x.size(0);
  p.ldx = x.stride(0);
  p.w = &w;
  p.bias = bias_ptr(b, w.out_features(), op);
  p.out = out;
  p.ldo = ldo;
  p.epilogue = epilogue;
  p.residual = residual;
  p.rope = rope;
  run(p);
}

// The input as [rows, K] rows after checking the weight's layout fits the product asked for.
at::Tensor input_rows(const at::Tensor& x, const PackedWeight& w, bool gated, const char* op) {
  if ((w.layout() == PackedWeight::Layout::GatePairs) != gated)
    throw Error(std::string(op) + (gated ? ": the weight is not gate/up pairs" : ": the weight is packed as gate/up pairs"));
  return as_rows(x, w, op);
}

}  // namespace

at::Tensor packed_linear(const at::Tensor& x_in, const PackedWeight& w, const at::Tensor& b) {
  const at::Tensor x = input_rows(x_in, w, false, "packed linear");
  at::Tensor y = at::empty(out_shape(x_in, w.out_features()), x.options());
  multiply(x, w, b, Epilogue::Store, y.data_ptr<float>(), w.out_features(), "packed linear");
  return y;
}

namespace {

// y as the [rows, N] output of x's rows: contiguous float32 on the CPU.
void check_output(const at::Tensor& y, const at::Tensor& x, const PackedWeight& w) {
  if (!y.device().is_cpu() || y.scalar_type() != at::kFloat || !y.is_contiguous() || y.dim() < 1 ||
      y.size(-1) != w.out_features() || y.numel() != x.size(0) * w.out_features())
    throw Error("packed linear: the output must be a contiguous float32 [..., " + std::to_string(w.out_features()) +
                "] tensor with the input's rows");
}

}  // namespace

void packed_linear_accumulate(const at::Tensor& x_in, const PackedWeight& w, const at::Tensor& b, at::Tensor& y) {
  const at::Tensor x = input_rows(x_in, w, false, "packed linear");
  check_output(y, x, w);
  multiply(x, w, b, Epilogue::Accumulate, y.data_ptr<float>(), w.out_features(), "packed linear");
}

void packed_linear_into(const at::Tensor& x_in, const PackedWeight& w, const at::Tensor& b, at::Tensor& y) {
  const at::Tensor x = input_rows(x_in, w, false, "packed linear");
  check_output(y, x, w);
  multiply(x, w, b, Epilogue::Store, y.data_ptr<float>(), w.out_features(), "packed linear");
}

at::Tensor packed_linear_residual(const at::Tensor& x_in, const PackedWeight& w, const at::Tensor& b,
                                  const at::Tensor& residual_in) {
  const at::Tensor x = input_rows(x_in, w, false, "packed linear");
  if (!residual_in.device().is_cpu() || residual_in.scalar_type() != at::kFloat || residual_in.dim() < 1 ||
      residual_in.size(-1) != w.out_features() || residual_in.numel() != x.size(0) * w.out_features())
    throw Error("packed linear: the residual must be a float32 [..., " + std::to_string(w.out_features()) +
                "] CPU tensor with the input's rows");
  const at::Tensor residual = residual_in.contiguous();
  at::Tensor y = at::empty(residual.sizes(), residual.options());
  multiply(x, w, b, Epilogue::Residual, y.data_ptr<float>(), w.out_features(), "packed linear",
           residual.data_ptr<float>());
  return y;
}

at::Tensor packed_qkv_rope(const at::Tensor& x_in, const PackedWeight& w, const at::Tensor& b, const at::Tensor& cos_in,
                           const at::Tensor& sin_in, float q_scale, int64_t heads, int64_t kv_heads, at::Tensor& k_cache,
                           at::Tensor& v_cache, int64_t pos0) {
  const char* op = "packed QKV with rotary embedding";
  const int64_t hd = w.head_dim();
  if (w.layout() != PackedWeight::Layout::RopePairs || heads * hd != w.rope_features() - kv_heads * hd ||
      w.out_features() != (heads + 2 * kv_heads) * hd)
    throw Error(std::string(op) + ": the weight is not packed as rotary pairs for " + std::to_string(heads) +
                " query and " + std::to_string(kv_heads) + " key/value heads");
  if (!k_cache.defined() || k_cache.dim() != 4 || k_cache.sizes() != v_cache.sizes() || k_cache.size(1) != kv_heads ||
      k_cache.size(3) != hd || k_cache.stride(3) != 1 || v_cache.stride(3) != 1 || !k_cache.device().is_cpu() ||
      k_cache.scalar_type() != at::kFloat || v_cache.scalar_type() != at::kFloat)
    throw Error(std::string(op) + ": the KV cache must be float32 [B, " + std::to_string(kv_heads) + ", capacity, " +
                std::to_string(hd) + "] on the CPU");
  if (x_in.dim() != 3 || x_in.size(0) != k_cache.size(0))
    throw Error(std::string(op) + ": the input must be [B, T, hidden] with the cache's batch");
  const int64_t B = x_in.size(0), T = x_in.size(1);
  if (cos_in.dim() != 2 || cos_in.size(0) != T || cos_in.size(1) * 2 != hd || sin_in.sizes() != cos_in.sizes())
    throw Error(std::string(op) + ": cos/sin must be [" + std::to_string(T) + ", " + std::to_string(hd / 2) + "]");
  if (pos0 < 0 || pos0 + T > k_cache.size(2))
    throw Error(std::string(op) + ": positions [" + std::to_string(pos0) + ", " + std::to_string(pos0 + T) +
                ") outside the cache's " + std::to_string(k_cache.size(2)));
  if (!kernels::table().rope_tile) {
    // The AVX2 and portable kernels: the product, then the rotation pass (the same floats).
    const at::Tensor qkv = packed_linear(x_in, w, b);
    const at::Tensor q = qkv.narrow(-1, 0, heads * hd).view({B, T, heads, hd});
    const at::Tensor k = qkv.narrow(-1, heads * hd, kv_heads * hd).view({B, T, kv_heads, hd});
    const at::Tensor v = qkv.narrow(-1, (heads + kv_heads) * hd, kv_heads * hd).view({B, T, kv_heads, hd});
    return fused_rope_to_cache(q, k, v, cos_in, sin_in, RopeStyle::Half, q_scale, k_cache, v_cache, pos0);
  }
  const at::Tensor x = input_rows(x_in, w, false, op);
  const at::Tensor cos = cos_in.to(at::kFloat).contiguous(), sin = sin_in.to(at::kFloat).contiguous();
  at::Tensor q = at::empty({B, T, heads, hd}, x.options());
  RopeOut ro;
  ro.cos = cos.data_ptr<float>();
  ro.sin = sin.data_ptr<float>();
  ro.half = hd / 2;
  ro.T = T;
  ro.pos0 = pos0;
  ro.hd = hd;
  ro.q_features = heads * hd;
  ro.k_end = (heads + kv_heads) * hd;
  ro.q_scale = q_scale;
  ro.q = q.data_ptr<float>();
  ro.kc = k_cache.data_ptr<float>();
  ro.vc = v_cache.data_ptr<float>();
  ro.kc0 = k_cache.stride(0);
  ro.kc1 = k_cache.stride(1);
  ro.kc2 = k_cache.stride(2);
  ro.vc0 = v_cache.stride(0);
  ro.vc1 = v_cache.stride(1);
  ro.vc2 = v_cache.stride(2);
  multiply(x, w, b, Epilogue::QkvRope, nullptr, 0, op, nullptr, &ro);
  return q;
}

at::Tensor packed_silu_gate(const at::Tensor& x_in, const PackedWeight& w, const at::Tensor& b) {
  const at::Tensor x = input_rows(x_in, w, true, "packed gated MLP");
  const int64_t I = w.out_features() / 2;
  at::Tensor y = at::empty(out_shape(x_in, I), x.options());
  multiply(x, w, b, Epilogue::SiluGate, y.data_ptr<float>(), I, "packed gated MLP");
  return y;
}

const char* storage_name(PackedWeight::Storage s) {
  return s == PackedWeight::Storage::F32 ? "f32" : s == PackedWeight::Storage::BF16 ? "bf16" : "f16";
}

const char* packed_kernels() { return kernels::isa_name(kernels::active_isa()); }

}  // namespace hl::engine
