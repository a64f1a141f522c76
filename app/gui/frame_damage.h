// What changed on screen since the last presented frame. ImGui rebuilds every frame, but under Mesa's software GL
// rendering is most of a frame's cost, so the window re-renders only the damaged part: each draw list (one per
// window, popup or tooltip) is hashed, and the screen rectangles of the lists that changed, appeared or vanished
// (where they are now and where they were) make up the damage. An unchanged frame is not rendered at all.
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

struct ImDrawData;

namespace hl::gui {

struct DamageRect {
  float x0 = 0, y0 = 0, x1 = 0, y1 = 0;  // display coordinates; empty when x1 <= x0 or y1 <= y0
  bool empty() const { return x1 <= x0 || y1 <= y0; }
  float area() const { return empty() ? 0.f : (x1 - x0) * (y1 - y0); }
  void add(const DamageRect& r);  // grows to the union
};

// A few rectangles rather than their union: a streaming text in the middle and the status bar at the bottom would
// otherwise damage most of the window. Rectangles that overlap merge; past `max_rects` everything merges into one.
class Damage {
 public:
  explicit Damage(size_t max_rects = 6) : max_(max_rects) {}
  void add(const DamageRect& r);
  bool empty() const { return rects_.empty(); }
  float area() const;
  const std::vector<DamageRect>& rects() const { return rects_; }

 private:
  size_t max_;
  std::vector<DamageRect> rects_;
};

class FrameDamage {
 public:
  // Compares the frame with the last one given. `texture` / `texture_version`: an image whose pixels can change
  // while its quad stays put (the heatmap's offscreen texture): lists that draw it count as changed when the
  // version moves.
  Damage update(const ImDrawData& dd, uint64_t texture = 0, int64_t texture_version = 0);
  // Forget everything: the next update damages the whole display (after a resize, or when the canvas was lost).
  void reset() { lists_.clear(), valid_ = false; }

 private:
  struct ListState {
    uint64_t hash = 0;
    DamageRect bounds;
    int order = 0;
    bool seen = false;
  };
  std::unordered_map<std::string, ListState> lists_;
  float width_ = 0, height_ = 0;
  bool valid_ = false;
};

// Restricts every draw command to `r` (commands outside it get an empty clip rectangle, which renderers skip).
void clip_draw_data(ImDrawData& dd, const DamageRect& r);

}  // namespace hl::gui
