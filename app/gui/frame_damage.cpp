#include "app/gui/frame_damage.h"

#include <algorithm>
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
    if (n > i) std::memcpy(&tail, c + i, n - i);
    mix(tail ^ n);
  }
};

}  // namespace

void DamageRect::add(const DamageRect& r) {
  if (r.empty()) return;
  if (empty()) {
    *this = r;
    return;
  }
  x0 = std::min(x0, r.x0), y0 = std::min(y0, r.y0), x1 = std::max(x1, r.x1), y1 = std::max(y1, r.y1);
}

namespace {
bool overlap(const DamageRect& a, const DamageRect& b) {
  return a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;
}
}  // namespace

void Damage::add(const DamageRect& r) {
  if (r.empty()) return;
  DamageRect cur = r;
  // Merge with every rectangle it touches, repeatedly (a merge can make it touch another).
  for (bool merged = true; merged;) {
    merged = false;
    for (size_t i = 0; i < rects_.size(); ++i)
      if (overlap(rects_[i], cur)) {
        cur.add(rects_[i]);
        rects_.erase(rects_.begin() + static_cast<std::ptrdiff_t>(i));
        merged = true;
        break;
      }
  }
  rects_.push_back(cur);
  if (rects_.size() > max_) {
    DamageRect all;
    for (const auto& x : rects_) all.add(x);
    rects_.assign(1, all);
  }
}

float Damage::area() const {
  float a = 0;
  for (const auto& r : rects_) a += r.area();
  return a;
}

Damage FrameDamage::update(const ImDrawData& dd, uint64_t texture, int64_t texture_version) {
  const DamageRect display{dd.DisplayPos.x, dd.DisplayPos.y, dd.DisplayPos.x + dd.DisplaySize.x, dd.DisplayPos.y + dd.DisplaySize.y};
  Damage damage;
  if (!valid_ || width_ != dd.DisplaySize.x || height_ != dd.DisplaySize.y) {
    lists_.clear();
    damage.add(display);
    width_ = dd.DisplaySize.x, height_ = dd.DisplaySize.y;
    valid_ = true;
  }
  for (auto& [name, st] : lists_) st.seen = false;
  for (int i = 0; i < dd.CmdListsCount; ++i) {
    const ImDrawList* l = dd.CmdLists[i];
    Hasher h;
    h.bytes(l->VtxBuffer.Data, static_cast<size_t>(l->VtxBuffer.Size) * sizeof(ImDrawVert));
    h.bytes(l->IdxBuffer.Data, static_cast<size_t>(l->IdxBuffer.Size) * sizeof(ImDrawIdx));
    DamageRect bounds;
    for (const ImDrawCmd& c : l->CmdBuffer) {
      h.bytes(&c.ClipRect, sizeof c.ClipRect);
      const auto tex = reinterpret_cast<uint64_t>(c.TextureId);
      h.mix(tex);
      if (texture && tex == texture) h.mix(static_cast<uint64_t>(texture_version));
      h.mix((uint64_t{c.VtxOffset} << 32) ^ c.IdxOffset);
      h.mix(c.ElemCount);
      h.mix(reinterpret_cast<uint64_t>(c.UserCallback));
      // What the command covers: its vertices' bounding box within its clip rectangle. (Clip rectangles alone are
      // too wide: a window's first command is clipped to the whole display.)
      if (c.ElemCount == 0 || c.UserCallback) continue;
      float vx0 = 1e30f, vy0 = 1e30f, vx1 = -1e30f, vy1 = -1e30f;
      const ImDrawIdx* idx = l->IdxBuffer.Data + c.IdxOffset;
      const ImDrawVert* vtx = l->VtxBuffer.Data + c.VtxOffset;
      for (unsigned k = 0; k < c.ElemCount; ++k) {
        const ImVec2& p = vtx[idx[k]].pos;
        vx0 = std::min(vx0, p.x), vy0 = std::min(vy0, p.y), vx1 = std::max(vx1, p.x), vy1 = std::max(vy1, p.y);
      }
      bounds.add(DamageRect{std::max(vx0, c.ClipRect.x), std::max(vy0, c.ClipRect.y), std::min(vx1, c.ClipRect.z),
                            std::min(vy1, c.ClipRect.w)});
    }
    // One pixel more on each side: anti-aliased edges fade out just beyond the vertices.
    bounds = DamageRect{std::max(bounds.x0 - 1, display.x0), std::max(bounds.y0 - 1, display.y0),
                        std::min(bounds.x1 + 1, display.x1), std::min(bounds.y1 + 1, display.y1)};
    // Draw lists without an owner (ImGui's foreground/background lists) are keyed by their position.
    const std::string key = l->_OwnerName ? l->_OwnerName : "#list" + std::to_string(i);
    auto it = lists_.find(key);
    if (it == lists_.end()) {
      damage.add(bounds);
      lists_[key] = ListState{h.h, bounds, i, true};
      continue;
    }
    ListState& st = it->second;
    if (st.hash != h.h || st.order != i) {
      damage.add(bounds);
      damage.add(st.bounds);
    }
    st = ListState{h.h, bounds, i, true};
  }
  for (auto it = lists_.begin(); it != lists_.end();) {
    if (!it->second.seen) {
      damage.add(it->second.bounds);  // a tooltip or popup that closed: what was under it shows again
      it = lists_.erase(it);
    } else {
      ++it;
    }
  }
  return damage;
}

void clip_draw_data(ImDrawData& dd, const DamageRect& r) {
  for (int i = 0; i < dd.CmdListsCount; ++i)
    for (ImDrawCmd& c : dd.CmdLists[i]->CmdBuffer) {
      c.ClipRect.x = std::max(c.ClipRect.x, r.x0);
      c.ClipRect.y = std::max(c.ClipRect.y, r.y0);
      c.ClipRect.z = std::min(c.ClipRect.z, r.x1);
      c.ClipRect.w = std::min(c.ClipRect.w, r.y1);
    }
}

}  // namespace hl::gui
