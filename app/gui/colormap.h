// The three colormaps of the house (design.md): viridis and magma for magnitudes, a blue-white-red diverging map
// for steered - baseline. One table of 256 colours each, used by the GL heatmap (as a texture) and by everything
// the panels draw with ImDrawList (head grid, colorbars, token strips), so a colour means the same everywhere.
#pragma once
#include <array>
#include <cstdint>

#include "app/gui/heatmap_renderer.h"

namespace hl::gui {

struct Rgba8 {
  uint8_t r = 0, g = 0, b = 0, a = 255;
};

constexpr int kColormapSize = 256;
// 256 colours from t = 0 to t = 1.
const std::array<Rgba8, kColormapSize>& colormap_table(Colormap map);
// t outside [0, 1] is clamped; NaN gives the first colour.
Rgba8 colormap_color(Colormap map, float t);
// As ImGui's IM_COL32 packs it (a << 24 | b << 16 | g << 8 | r), without including ImGui here.
uint32_t colormap_u32(Colormap map, float t);
const char* to_string(Colormap map);

}  // namespace hl::gui
