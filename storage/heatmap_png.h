// Heatmap PNGs for exports: a float matrix drawn with viridis, NaN cells grey, and a colorbar with its
// minimum, middle and maximum values written beside it; optionally a title, axis labels and row/column tick labels
// (a small built-in 3x5 font of digits, capitals and a little punctuation: no font files needed; text is drawn in
// capitals).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "storage/records.h"

namespace hl::store {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
};

// t in [0, 1] (clamped); NaN gives grey.
Rgb viridis(float t);

struct HeatmapOptions {
  std::optional<float> vmin, vmax;  // default: the finite min/max of the data
  bool log_scale = false;           // log10 of values (non-positive values become NaN)
  int max_side_px = 2048;           // larger matrices are block-averaged down to this
  std::string title;                // above the plot
  std::string x_label, y_label;     // below the columns / left of the rows (written top to bottom)
  // Labels of the columns and rows (e.g. head and layer indices), drawn when the cells leave room for them (every
  // k-th one otherwise). Empty: none. Ignored when the matrix is downsampled.
  std::vector<std::string> x_ticks, y_ticks;
};

struct Image {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;  // width * height * 3
  Rgb at(int x, int y) const;
};

Image render_heatmap(const FloatMatrix& m, const HeatmapOptions& opt = {});
void write_png(const Image& img, const std::string& path);

// Rows = depth percent (ascending, top to bottom), columns = context length (ascending); a cell never
// recorded is NaN. Picks the cells of one panel (strength).
struct NiahGrid {
  std::vector<double> depths;
  std::vector<int64_t> lengths;
  FloatMatrix values;
};
NiahGrid niah_grid(const std::vector<NiahCell>& cells, double strength, bool influence);

}  // namespace hl::store
