#include "app/gui/frame_damage.h"

#include <cstring>

#include <imgui.h>

namespace hl::gui {
namespace {

// Eight bytes at a time (a frame is ~300 KB of vertices; byte-wise hashing would cost a visible fraction of it).
struct Hasher {
  uint64_t h = 0x9E3779B97F4A7C15ull;
  void mix(uint64_t v) {
    h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
    h *= 0xBF58476D1CE4E5B9ull;
  }
  void bytes(const void* p, size_t n) {
    const auto* c = static_cast<const unsigned char*>(p);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      uint64_t v;
      std::memcpy(&v, c + i, 8);
      mix(v);
    }
    uint64_t tail = 0;
    std::memcpy(&tail, c + i, n - i);
    mix(tail ^ n);
  }
};

}  // namespace

uint64_t draw_data_hash(const ImDrawData& dd) {
  Hasher h;
  h.bytes(&dd.DisplaySize, sizeof dd.DisplaySize);
  h.bytes(&dd.FramebufferScale, sizeof dd.FramebufferScale);
  for (int i = 0; i < dd.CmdListsCount; ++i) {
    const ImDrawList* l = dd.CmdLists[i];
    h.bytes(l->VtxBuffer.Data, static_cast<size_t>(l->VtxBuffer.Size) * sizeof(ImDrawVert));
    h.bytes(l->IdxBuffer.Data, static_cast<size_t>(l->IdxBuffer.Size) * sizeof(ImDrawIdx));
    for (const ImDrawCmd& c : l->CmdBuffer) {
      h.bytes(&c.ClipRect, sizeof c.ClipRect);
      h.mix(reinterpret_cast<uint64_t>(c.TextureId));
      h.mix((uint64_t{c.VtxOffset} << 32) ^ c.IdxOffset);
      h.mix(c.ElemCount);
      h.mix(reinterpret_cast<uint64_t>(c.UserCallback));
    }
  }
  return h.h;
}

}  // namespace hl::gui
