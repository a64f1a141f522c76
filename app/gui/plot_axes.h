// A small plot frame drawn with ImDrawList (Debian's ImGui 1.86 has no ImPlot): axes with ticks and tick labels,
// axis titles, an optional log y axis, lines and a legend. Every plot of the window uses it, so they read alike.
#pragma once
#include <string>
#include <vector>

#include <imgui.h>

namespace hl::gui {

struct PlotSeries {
  std::string label;
  const float* y = nullptr;  // n values at x = 0, 1, ..., n - 1
  int n = 0;
  ImU32 color = 0;
  bool dashed = false;
};

class PlotFrame {
 public:
  // Reserves `size` at the cursor (an ImGui item) and lays out the axes; x from x_min to x_max, y from y_min to y_max.
  PlotFrame(const char* id, ImVec2 size, double x_min, double x_max, double y_min, double y_max, bool log_y,
            const char* x_title, const char* y_title);

  ImVec2 to_screen(double x, double y) const;
  double x_at(float screen_x) const;
  bool hovered() const { return hovered_; }
  const ImVec2& plot_min() const { return pmin_; }
  const ImVec2& plot_max() const { return pmax_; }

  void shade_x(double x0, double x1, ImU32 color) const;  // a vertical band, e.g. the steered span
  void line(const PlotSeries& s) const;
  void vertical_marker(double x, ImU32 color) const;
  void legend(const std::vector<PlotSeries>& series) const;  // the line above the plot, right-aligned

 private:
  double map_y(double y) const;
  ImDrawList* dl_;
  ImVec2 pmin_, pmax_;
  double x_min_, x_max_, y_min_, y_max_;
  bool log_y_, hovered_ = false;
};

// "Nice" tick values (1, 2, 5 x 10^k steps) covering [lo, hi], about `target` of them.
std::vector<double> nice_ticks(double lo, double hi, int target);
// Compact tick text: 0.25, 1e-3, 12, 3.5k.
std::string tick_label(double v);

}  // namespace hl::gui

namespace hl::gui {
enum class Colormap;
// A colorbar at the cursor (an ImGui item of `size`): the map from vmin to vmax, ticks with values, a title above.
// Vertical bars put the ticks on the right; log scale puts them at decades (vmin > 0).
void draw_colorbar(Colormap map, double vmin, double vmax, bool log_scale, ImVec2 size, bool vertical, const char* title);
}  // namespace hl::gui
