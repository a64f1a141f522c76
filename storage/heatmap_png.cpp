#include "core/file_write.h"
#include "storage/heatmap_png.h"

#include <stb/stb_image_write.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>

#include "core/error.h"

namespace hl::store {
namespace {

// Viridis sampled at ten evenly spaced points; linear interpolation between them stays within a couple
// of 8-bit steps of the full 256-entry table.
const Rgb kViridisStops[] = {{0x44, 0x01, 0x54}, {0x48, 0x28, 0x78}, {0x3e, 0x4a, 0x89}, {0x31, 0x68, 0x8e},
                             {0x26, 0x82, 0x8e}, {0x1f, 0x9e, 0x89}, {0x35, 0xb7, 0x79}, {0x6d, 0xcd, 0x59},
                             {0xb4, 0xde, 0x2c}, {0xfd, 0xe7, 0x25}};
const Rgb kNanGrey{0x80, 0x80, 0x80};
const Rgb kInk{0x20, 0x20, 0x20};

// 3x5 glyphs, one row per 3 bits (MSB = left), for the characters number labels need.
struct Glyph {
  char c;
  uint8_t rows[5];
};
const Glyph kGlyphs[] = {
    {'0', {7, 5, 5, 5, 7}}, {'1', {2, 6, 2, 2, 7}}, {'2', {7, 1, 7, 4, 7}}, {'3', {7, 1, 7, 1, 7}},
    {'4', {5, 5, 7, 1, 1}}, {'5', {7, 4, 7, 1, 7}}, {'6', {7, 4, 7, 5, 7}}, {'7', {7, 1, 1, 1, 1}},
    {'8', {7, 5, 7, 5, 7}}, {'9', {7, 5, 7, 1, 7}}, {'.', {0, 0, 0, 0, 2}}, {'-', {0, 0, 7, 0, 0}},
    {'+', {0, 2, 7, 2, 0}}, {'e', {7, 4, 7, 4, 7}},
    {'A', {2, 5, 7, 5, 5}}, {'B', {6, 5, 6, 5, 6}}, {'C', {3, 4, 4, 4, 3}}, {'D', {6, 5, 5, 5, 6}},
    {'E', {7, 4, 6, 4, 7}}, {'F', {7, 4, 6, 4, 4}}, {'G', {3, 4, 5, 5, 3}}, {'H', {5, 5, 7, 5, 5}},
    {'I', {7, 2, 2, 2, 7}}, {'J', {1, 1, 1, 5, 2}}, {'K', {5, 5, 6, 5, 5}}, {'L', {4, 4, 4, 4, 7}},
    {'M', {5, 7, 7, 5, 5}}, {'N', {6, 5, 5, 5, 5}}, {'O', {2, 5, 5, 5, 2}}, {'P', {6, 5, 6, 4, 4}},
    {'Q', {2, 5, 5, 6, 3}}, {'R', {6, 5, 6, 5, 5}}, {'S', {3, 4, 2, 1, 6}}, {'T', {7, 2, 2, 2, 2}},
    {'U', {5, 5, 5, 5, 7}}, {'V', {5, 5, 5, 5, 2}}, {'W', {5, 5, 7, 7, 5}}, {'X', {5, 5, 2, 5, 5}},
    {'Y', {5, 5, 2, 2, 2}}, {'Z', {7, 1, 2, 4, 7}}, {'_', {0, 0, 0, 0, 7}}, {'(', {1, 2, 2, 2, 1}},
    {')', {4, 2, 2, 2, 4}}, {':', {0, 2, 0, 2, 0}}, {'/', {1, 1, 2, 4, 4}}, {'=', {0, 7, 0, 7, 0}},
    {',', {0, 0, 0, 2, 4}}, {'%', {5, 1, 2, 4, 5}}, {'|', {2, 2, 2, 2, 2}}, {'>', {4, 2, 1, 2, 4}},
    {'<', {1, 2, 4, 2, 1}},
};
constexpr int kFontScale = 2, kGlyphAdvance = 4 * kFontScale, kGlyphHeight = 5 * kFontScale;

class Canvas {
 public:
  Canvas(int w, int h) : img_{w, h, std::vector<uint8_t>(size_t(w) * h * 3, 0xff)} {}
  void set(int x, int y, Rgb c) {
    if (x < 0 || y < 0 || x >= img_.width || y >= img_.height) return;
    uint8_t* p = &img_.rgb[(size_t(y) * img_.width + x) * 3];
    p[0] = c.r;
    p[1] = c.g;
    p[2] = c.b;
  }
  void fill(int x0, int y0, int w, int h, Rgb c) {
    for (int y = y0; y < y0 + h; ++y)
      for (int x = x0; x < x0 + w; ++x) set(x, y, c);
  }
  // Letters are drawn as capitals (the font has no lower case) except 'e', the exponent of number labels.
  void text(int x, int y, const std::string& s) {
    for (char ch : s) {
      if (ch >= 'a' && ch <= 'z' && ch != 'e') ch = static_cast<char>(ch - 'a' + 'A');
      for (const Glyph& g : kGlyphs) {
        if (g.c != ch) continue;
        for (int r = 0; r < 5; ++r)
          for (int col = 0; col < 3; ++col)
            if (g.rows[r] & (4 >> col)) fill(x + col * kFontScale, y + r * kFontScale, kFontScale, kFontScale, kInk);
      }
      x += kGlyphAdvance;
    }
  }
  // One character per line, top to bottom (a vertical axis label).
  void text_down(int x, int y, const std::string& s) {
    for (char ch : s) {
      text(x, y, std::string(1, ch == 'e' ? 'E' : ch));
      y += kGlyphHeight + 3;
    }
  }
  Image take() { return std::move(img_); }

 private:
  Image img_;
};

int text_width(const std::string& s) { return static_cast<int>(s.size()) * kGlyphAdvance; }

std::string label(float v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", static_cast<double>(v));
  return buf;
}

// Block-mean of the finite values (NaN if a block has none), so big maps fit max_side_px.
FloatMatrix downsample(const FloatMatrix& m, int max_side) {
  const int64_t f = std::max<int64_t>(1, (std::max(m.rows, m.cols) + max_side - 1) / max_side);
  if (f == 1) return m;
  FloatMatrix out;
  out.rows = (m.rows + f - 1) / f;
  out.cols = (m.cols + f - 1) / f;
  out.values.assign(size_t(out.rows * out.cols), 0.f);
  for (int64_t r = 0; r < out.rows; ++r)
    for (int64_t c = 0; c < out.cols; ++c) {
      double sum = 0;
      int64_t n = 0;
      for (int64_t i = r * f; i < std::min(m.rows, (r + 1) * f); ++i)
        for (int64_t j = c * f; j < std::min(m.cols, (c + 1) * f); ++j) {
          const float v = m.values[size_t(i * m.cols + j)];
          if (std::isfinite(v)) sum += v, ++n;
        }
      out.values[size_t(r * out.cols + c)] = n ? float(sum / n) : std::numeric_limits<float>::quiet_NaN();
    }
  return out;
}

}  // namespace

Rgb viridis(float t) {
  if (std::isnan(t)) return kNanGrey;
  t = std::clamp(t, 0.f, 1.f) * 9.f;
  const int i = std::min(8, static_cast<int>(t));
  const float u = t - static_cast<float>(i);
  const Rgb a = kViridisStops[i], b = kViridisStops[i + 1];
  auto mix = [u](uint8_t x, uint8_t y) { return static_cast<uint8_t>(std::lround(x + (y - x) * u)); };
  return {mix(a.r, b.r), mix(a.g, b.g), mix(a.b, b.b)};
}

Rgb Image::at(int x, int y) const {
  const uint8_t* p = &rgb[(size_t(y) * width + x) * 3];
  return {p[0], p[1], p[2]};
}

Image render_heatmap(const FloatMatrix& input, const HeatmapOptions& opt) {
  if (input.rows <= 0 || input.cols <= 0 || int64_t(input.values.size()) != input.rows * input.cols)
    throw Error("heatmap: empty or inconsistent matrix (" + std::to_string(input.rows) + "x" +
                std::to_string(input.cols) + ")");
  FloatMatrix m = downsample(input, std::max(16, opt.max_side_px));
  if (opt.log_scale)
    for (float& v : m.values) v = v > 0 ? std::log10(v) : std::numeric_limits<float>::quiet_NaN();
  float lo = std::numeric_limits<float>::infinity(), hi = -lo;
  for (float v : m.values)
    if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  if (!std::isfinite(lo)) lo = 0, hi = 1;  // nothing finite: an all-grey map with a nominal bar
  if (opt.vmin) lo = opt.log_scale ? std::log10(*opt.vmin) : *opt.vmin;
  if (opt.vmax) hi = opt.log_scale ? std::log10(*opt.vmax) : *opt.vmax;
  const float span = hi > lo ? hi - lo : 1.f;

  // Small grids (NIAH) get big cells; maps get one pixel per (downsampled) cell.
  const int cell = static_cast<int>(std::clamp<int64_t>(512 / std::max(m.rows, m.cols), 1, 48));
  const int hw = static_cast<int>(m.cols) * cell, hh = static_cast<int>(m.rows) * cell;
  const int pad = 8, bar_gap = 12, bar_w = 16, tick = 4;
  const std::string labels[3] = {label(opt.log_scale ? std::pow(10.f, hi) : hi),
                                 label(opt.log_scale ? std::pow(10.f, (lo + hi) / 2) : (lo + hi) / 2),
                                 label(opt.log_scale ? std::pow(10.f, lo) : lo)};
  size_t label_chars = 0;
  for (const auto& l : labels) label_chars = std::max(label_chars, l.size());
  const int plot_h = std::max(hh, 3 * kGlyphHeight + 8);
  // Margins for the optional texts: title above, row ticks and the vertical y label on the left, column ticks and
  // the x label below. Tick labels only when they match the drawn cells (no downsampling).
  const bool x_ticks = !opt.x_ticks.empty() && int64_t(opt.x_ticks.size()) == m.cols;
  const bool y_ticks = !opt.y_ticks.empty() && int64_t(opt.y_ticks.size()) == m.rows;
  int y_tick_w = 0, x_tick_w = 0;
  for (const auto& t : opt.y_ticks) y_tick_w = std::max(y_tick_w, text_width(t));
  for (const auto& t : opt.x_ticks) x_tick_w = std::max(x_tick_w, text_width(t));
  const int line = kGlyphHeight + 6;
  const int top = pad + (opt.title.empty() ? 0 : line + 4);
  const int left = pad + (opt.y_label.empty() ? 0 : kGlyphAdvance + 8) + (y_ticks ? y_tick_w + 6 : 0);
  const int below = (x_ticks ? line : 0) + (opt.x_label.empty() ? 0 : line);
  const int bar_x = left + hw + bar_gap;
  const int width = std::max(bar_x + bar_w + tick + 4 + static_cast<int>(label_chars) * kGlyphAdvance + pad,
                             pad + text_width(opt.title) + pad);
  const int y_label_h = static_cast<int>(opt.y_label.size()) * (kGlyphHeight + 3);
  const int height = top + std::max(plot_h + below, y_label_h) + pad;
  Canvas cv(width, height);

  for (int64_t r = 0; r < m.rows; ++r)
    for (int64_t c = 0; c < m.cols; ++c) {
      const float v = m.values[size_t(r * m.cols + c)];
      const Rgb col = std::isfinite(v) ? viridis((v - lo) / span) : kNanGrey;
      cv.fill(left + int(c) * cell, top + int(r) * cell, cell, cell, col);
    }
  if (!opt.title.empty()) cv.text(pad, pad, opt.title);
  if (!opt.y_label.empty()) cv.text_down(pad, top + std::max(0, (hh - y_label_h) / 2), opt.y_label);
  if (y_ticks) {
    const int every = std::max(1, (kGlyphHeight + 2 + cell - 1) / cell);
    for (int64_t r = 0; r < m.rows; r += every) {
      const std::string& t = opt.y_ticks[size_t(r)];
      cv.text(left - 6 - text_width(t), top + int(r) * cell + (cell - kGlyphHeight) / 2, t);
    }
  }
  if (x_ticks) {
    const int every = std::max(1, (x_tick_w + 4 + cell - 1) / cell);
    for (int64_t c = 0; c < m.cols; c += every) {
      const std::string& t = opt.x_ticks[size_t(c)];
      cv.text(left + int(c) * cell + (cell - text_width(t)) / 2, top + hh + 5, t);
    }
  }
  if (!opt.x_label.empty())
    cv.text(left + std::max(0, (hw - text_width(opt.x_label)) / 2), top + hh + 5 + (x_ticks ? line : 0), opt.x_label);
  // Colorbar: top = max, bottom = min, framed, with three ticks and labels.
  for (int y = 0; y < plot_h; ++y)
    cv.fill(bar_x, top + y, bar_w, 1, viridis(plot_h > 1 ? 1.f - float(y) / float(plot_h - 1) : 0.f));
  cv.fill(bar_x - 1, top - 1, bar_w + 2, 1, kInk);
  cv.fill(bar_x - 1, top + plot_h, bar_w + 2, 1, kInk);
  cv.fill(bar_x - 1, top - 1, 1, plot_h + 2, kInk);
  cv.fill(bar_x + bar_w, top - 1, 1, plot_h + 2, kInk);
  const int tick_y[3] = {top, top + (plot_h - 1) / 2, top + plot_h - 1};
  for (int i = 0; i < 3; ++i) {
    cv.fill(bar_x + bar_w, tick_y[i], tick, 1, kInk);
    const int ty = std::clamp(tick_y[i] - kGlyphHeight / 2, 0, height - kGlyphHeight);
    cv.text(bar_x + bar_w + tick + 4, ty, labels[i]);
  }
  return cv.take();
}

void write_png(const Image& img, const std::string& path) {
  if (img.width <= 0 || img.height <= 0) throw Error(path + ": cannot write an empty image");
  write_file_atomic(path, [&](std::ostream& out) {
    auto sink = [](void* ctx, void* data, int size) {
      static_cast<std::ostream*>(ctx)->write(static_cast<const char*>(data), size);
    };
    if (!stbi_write_png_to_func(sink, &out, img.width, img.height, 3, img.rgb.data(), img.width * 3))
      throw Error(path + ": cannot encode the PNG");
  });
}

NiahGrid niah_grid(const std::vector<NiahCell>& cells, double strength, bool influence) {
  std::map<double, int> depth_index;
  std::map<int64_t, int> length_index;
  for (const auto& c : cells)
    if (c.strength == strength) depth_index[c.depth_percent], length_index[c.context_length];
  NiahGrid g;
  for (auto& [d, i] : depth_index) i = static_cast<int>(g.depths.size()), g.depths.push_back(d);
  for (auto& [l, i] : length_index) i = static_cast<int>(g.lengths.size()), g.lengths.push_back(l);
  g.values.rows = static_cast<int64_t>(g.depths.size());
  g.values.cols = static_cast<int64_t>(g.lengths.size());
  g.values.values.assign(size_t(g.values.rows * g.values.cols), std::numeric_limits<float>::quiet_NaN());
  for (const auto& c : cells) {
    if (c.strength != strength) continue;
    const double v = influence ? c.mean_influence.value_or(std::numeric_limits<double>::quiet_NaN()) : c.mean_score;
    g.values.values[size_t(depth_index[c.depth_percent] * g.values.cols + length_index[c.context_length])] =
        static_cast<float>(v);
  }
  return g;
}

}  // namespace hl::store
