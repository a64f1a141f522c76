// The heatmap's only door to the GPU. The GL implementation (gl_heatmap_renderer.cpp, linked into the window only)
// keeps each map as one float texture uploaded once and draws it through shaders/heatmap.frag into an offscreen
// texture; the null implementation draws nothing, so the panels run in headless tests with no GL at all.
#pragma once
#include <cstdint>
#include <memory>

namespace hl::gui {

enum class Colormap { Viridis = 0, Magma = 1, Diverging = 2 };

// What to draw: the visible cell window of slot 0 (or slot 1 minus slot 0), and how to colour it.
struct HeatmapParams {
  bool difference = false;      // slot 1 - slot 0 (both maps' common top-left region)
  Colormap colormap = Colormap::Viridis;
  float vmin = 0, vmax = 1;     // the colour range (difference: -vmax..vmax)
  bool log_scale = false;
  float log_floor = 1e-4f;      // log scale: values below this take the first colour
  bool mask_sink = false;       // key column 0 drawn grey
  double x0 = 0, y0 = 0, x1 = 1, y1 = 1;  // visible region in cells: x = key column, y = query row
  int64_t rows = 0, cols = 0;   // the map's shape (the common shape for a difference)
};

class HeatmapRenderer {
 public:
  virtual ~HeatmapRenderer() = default;
  // Uploads `values` ([rows, cols] row-major) into slot 0 or 1 unless the slot already holds `key`.
  // The caller keeps the array alive while the key stays the same (the snapshot's shared pointer does).
  virtual void set_values(int slot, const float* values, int64_t rows, int64_t cols, const void* key) = 0;
  // Draws into the renderer's own width x height image.
  virtual void draw(const HeatmapParams& params, int width, int height) = 0;
  // The image for ImGui::Image (0: none); row 0 of the image is the bottom (GL), so show it with flipped v.
  virtual uint64_t texture() const = 0;
  virtual int64_t uploads() const = 0;  // how many uploads so far (tests check it stays put across frames)
  virtual int64_t draws() const = 0;
};

std::unique_ptr<HeatmapRenderer> make_null_heatmap_renderer();

}  // namespace hl::gui
