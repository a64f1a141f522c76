#include "app/gui/colormap.h"

#include <cmath>

namespace hl::gui {
namespace {

// Nine anchors per map at t = 0, 1/8, ..., 1, interpolated linearly in sRGB: close enough to the published maps
// that they read the same (perceptually ordered for magnitudes, white at zero for differences).
using Anchors = std::array<std::array<uint8_t, 3>, 9>;
constexpr Anchors kViridis = {{{68, 1, 84}, {71, 44, 122}, {59, 82, 139}, {44, 113, 142}, {33, 145, 140},
                               {39, 173, 129}, {92, 200, 99}, {170, 220, 50}, {253, 231, 37}}};
constexpr Anchors kMagma = {{{0, 0, 4}, {28, 16, 68}, {79, 18, 123}, {129, 37, 129}, {181, 54, 122},
                             {229, 80, 100}, {251, 135, 97}, {254, 194, 135}, {252, 253, 191}}};
// Negative (steering took attention away) blue, positive red.
constexpr Anchors kDiverging = {{{5, 48, 97}, {33, 102, 172}, {67, 147, 195}, {146, 197, 222}, {247, 247, 247},
                                 {244, 165, 130}, {214, 96, 77}, {178, 24, 43}, {103, 0, 31}}};

std::array<Rgba8, kColormapSize> build(const Anchors& a) {
  std::array<Rgba8, kColormapSize> out{};
  for (int i = 0; i < kColormapSize; ++i) {
    const double t = static_cast<double>(i) / (kColormapSize - 1) * 8.0;
    const int k = std::min(7, static_cast<int>(t));
    const double f = t - k;
    auto mix = [&](int c) {
      return static_cast<uint8_t>(std::lround(a[k][c] * (1.0 - f) + a[k + 1][c] * f));
    };
    out[i] = Rgba8{mix(0), mix(1), mix(2), 255};
  }
  return out;
}

}  // namespace

const std::array<Rgba8, kColormapSize>& colormap_table(Colormap map) {
  static const auto viridis = build(kViridis);
  static const auto magma = build(kMagma);
  static const auto diverging = build(kDiverging);
  switch (map) {
    case Colormap::Magma: return magma;
    case Colormap::Diverging: return diverging;
    case Colormap::Viridis: break;
  }
  return viridis;
}

Rgba8 colormap_color(Colormap map, float t) {
  if (!(t > 0)) t = 0;  // also NaN
  if (t > 1) t = 1;
  return colormap_table(map)[static_cast<size_t>(std::lround(t * (kColormapSize - 1)))];
}

uint32_t colormap_u32(Colormap map, float t) {
  const Rgba8 c = colormap_color(map, t);
  return (uint32_t{c.a} << 24) | (uint32_t{c.b} << 16) | (uint32_t{c.g} << 8) | uint32_t{c.r};
}

const char* to_string(Colormap map) {
  switch (map) {
    case Colormap::Magma: return "magma";
    case Colormap::Diverging: return "diverging (blue - white - red)";
    case Colormap::Viridis: break;
  }
  return "viridis";
}

}  // namespace hl::gui
