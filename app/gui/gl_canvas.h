// Where the window's picture persists between frames, so that a frame re-renders only its damaged rectangle (see
// frame_damage.h). GL does not promise that the back buffer keeps its contents across a swap; Mesa's software
// rasteriser under X does (one client-side back buffer), and probe() checks that at start. Then frames draw straight
// into the back buffer; otherwise into an offscreen canvas that is copied to the back buffer (a full-window copy:
// ~8 ms a frame under llvmpipe, which is why the probe is worth it).
#pragma once
#include <cstdint>

struct ImDrawData;

namespace hl::gui {

class Damage;

class GlCanvas {
 public:
  GlCanvas() = default;
  ~GlCanvas();
  GlCanvas(const GlCanvas&) = delete;
  GlCanvas& operator=(const GlCanvas&) = delete;

  // Whether the back buffer keeps what was drawn across swaps: two swaps of two colours, read back. Call once, on
  // the window's context, before the first frame (it leaves the back buffer cleared).
  void probe(void (*swap)(void*), void* window);
  bool direct() const { return direct_; }
  // (Re)allocates for a width x height framebuffer; returns true when the old picture was lost (everything is damaged).
  bool resize(int width, int height);
  // Clears each damaged rectangle to `clear_rgb` and renders the draw data clipped to it (one pass a rectangle).
  void render(ImDrawData& dd, const Damage& damage, const float clear_rgb[3]);
  // Copies the canvas to the window's back buffer (framebuffer 0).
  void present() const;

 private:
  unsigned fbo_ = 0, tex_ = 0;
  int width_ = 0, height_ = 0;
  bool direct_ = false;
};

}  // namespace hl::gui
