#include "app/gui/plot_axes.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace hl::gui {

std::vector<double> nice_ticks(double lo, double hi, int target) {
  std::vector<double> out;
  if (!(hi > lo) || target < 1) return out;
  const double raw = (hi - lo) / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * mag;
    if (step >= raw) break;
  }
  for (double v = std::ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step)
    out.push_back(std::fabs(v) < step * 1e-9 ? 0.0 : v);
  return out;
}

std::string tick_label(double v) {
  char buf[32];
  const double a = std::fabs(v);
  if (a == 0) return "0";
  if (a >= 1e4) std::snprintf(buf, sizeof buf, "%.3gk", v / 1e3);
  else if (a >= 100) std::snprintf(buf, sizeof buf, "%.0f", v);
  else if (a < 1e-2) std::snprintf(buf, sizeof buf, "%.0e", v);
  else std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

PlotFrame::PlotFrame(const char* id, ImVec2 size, double x_min, double x_max, double y_min, double y_max, bool log_y,
                     const char* x_title, const char* y_title)
    : dl_(ImGui::GetWindowDrawList()), x_min_(x_min), x_max_(x_max > x_min ? x_max : x_min + 1), log_y_(log_y) {
  if (log_y_) {
    y_min = std::max(y_min, 1e-6);
    y_max = std::max(y_max, y_min * 10);
  } else if (!(y_max > y_min)) {
    y_max = y_min + 1;
  }
  y_min_ = y_min;
  y_max_ = y_max;
  const ImVec2 origin = ImGui::GetCursorScreenPos();
  ImGui::InvisibleButton(id, size);
  hovered_ = ImGui::IsItemHovered();
  const float fh = ImGui::GetFontSize();
  // Room on the left for the y title (rotated text is not available, so it sits above the axis) and tick labels.
  pmin_ = ImVec2(origin.x + fh * 3.6f, origin.y + fh * 2.8f);  // title line, legend line
  pmax_ = ImVec2(origin.x + size.x - fh * 0.6f, origin.y + size.y - fh * 2.6f);
  const ImU32 axis = ImGui::GetColorU32(ImGuiCol_Text);
  const ImU32 grid = ImGui::GetColorU32(ImGuiCol_Border, 0.5f);
  dl_->AddRect(pmin_, pmax_, axis);

  // y ticks: decades on a log axis, nice steps otherwise.
  std::vector<double> yt;
  if (log_y_) {
    for (double e = std::ceil(std::log10(y_min_)); e <= std::floor(std::log10(y_max_)) + 1e-9; e += 1) yt.push_back(std::pow(10.0, e));
    if (yt.size() > 7) {
      std::vector<double> thin;
      for (size_t i = 0; i < yt.size(); i += 2) thin.push_back(yt[i]);
      yt.swap(thin);
    }
  } else {
    yt = nice_ticks(y_min_, y_max_, std::max(2, static_cast<int>((pmax_.y - pmin_.y) / (fh * 2.5f))));
  }
  for (double v : yt) {
    const float y = static_cast<float>(map_y(v));
    dl_->AddLine(ImVec2(pmin_.x, y), ImVec2(pmax_.x, y), grid);
    const std::string t = tick_label(v);
    const ImVec2 ts = ImGui::CalcTextSize(t.c_str());
    dl_->AddText(ImVec2(pmin_.x - ts.x - 4, y - ts.y * 0.5f), axis, t.c_str());
  }
  // x ticks at integer positions.
  const int xtarget = std::max(2, static_cast<int>((pmax_.x - pmin_.x) / (fh * 4.5f)));
  for (double v : nice_ticks(x_min_, x_max_, xtarget)) {
    if (std::fabs(v - std::round(v)) > 1e-9) continue;
    const float x = to_screen(v, y_min_).x;
    dl_->AddLine(ImVec2(x, pmax_.y), ImVec2(x, pmax_.y + 4), axis);
    const std::string t = tick_label(v);
    const ImVec2 ts = ImGui::CalcTextSize(t.c_str());
    dl_->AddText(ImVec2(x - ts.x * 0.5f, pmax_.y + 5), axis, t.c_str());
  }
  if (x_title) {
    const ImVec2 ts = ImGui::CalcTextSize(x_title);
    dl_->AddText(ImVec2((pmin_.x + pmax_.x - ts.x) * 0.5f, pmax_.y + fh * 1.3f), axis, x_title);
  }
  if (y_title) dl_->AddText(ImVec2(origin.x, origin.y), axis, y_title);
}

double PlotFrame::map_y(double y) const {
  double t;
  if (log_y_) t = (std::log10(std::max(y, y_min_)) - std::log10(y_min_)) / (std::log10(y_max_) - std::log10(y_min_));
  else t = (y - y_min_) / (y_max_ - y_min_);
  t = std::clamp(t, 0.0, 1.0);
  return pmax_.y - t * (pmax_.y - pmin_.y);
}

ImVec2 PlotFrame::to_screen(double x, double y) const {
  const double tx = (x - x_min_) / (x_max_ - x_min_);
  return ImVec2(static_cast<float>(pmin_.x + tx * (pmax_.x - pmin_.x)), static_cast<float>(map_y(y)));
}

double PlotFrame::x_at(float screen_x) const {
  return x_min_ + (screen_x - pmin_.x) / (pmax_.x - pmin_.x) * (x_max_ - x_min_);
}

void PlotFrame::shade_x(double x0, double x1, ImU32 color) const {
  const float a = std::max(pmin_.x, to_screen(x0, y_min_).x), b = std::min(pmax_.x, to_screen(x1, y_min_).x);
  if (b > a) dl_->AddRectFilled(ImVec2(a, pmin_.y + 1), ImVec2(b, pmax_.y - 1), color);
}

void PlotFrame::line(const PlotSeries& s) const {
  if (s.n <= 0 || !s.y) return;
  dl_->PushClipRect(pmin_, pmax_, true);
  if (s.n == 1) {
    dl_->AddCircleFilled(to_screen(0, s.y[0]), 3, s.color);
  }
  for (int i = 1; i < s.n; ++i) {
    if (s.dashed && (i % 2) == 0) continue;
    dl_->AddLine(to_screen(i - 1, s.y[i - 1]), to_screen(i, s.y[i]), s.color, 2.0f);
  }
  dl_->PopClipRect();
}

void PlotFrame::vertical_marker(double x, ImU32 color) const {
  const float sx = to_screen(x, y_min_).x;
  dl_->AddLine(ImVec2(sx, pmin_.y), ImVec2(sx, pmax_.y), color);
}

void PlotFrame::legend(const std::vector<PlotSeries>& series) const {
  // One row above the plot, right-aligned on the title line, so it never covers a curve.
  const float fh = ImGui::GetFontSize();
  const float swatch = fh * 1.4f, gap = fh * 0.8f;
  float w = 0;
  for (const auto& s : series) w += swatch + 4 + ImGui::CalcTextSize(s.label.c_str()).x + gap;
  float x = std::max(pmin_.x - fh * 3.6f, pmax_.x - w);
  const float y = pmin_.y - fh * 1.35f;
  for (const auto& s : series) {
    const float my = y + fh * 0.55f;
    if (s.dashed) {
      dl_->AddLine(ImVec2(x, my), ImVec2(x + swatch * 0.4f, my), s.color, 2);
      dl_->AddLine(ImVec2(x + swatch * 0.6f, my), ImVec2(x + swatch, my), s.color, 2);
    } else {
      dl_->AddLine(ImVec2(x, my), ImVec2(x + swatch, my), s.color, 2);
    }
    x += swatch + 4;
    dl_->AddText(ImVec2(x, y), ImGui::GetColorU32(ImGuiCol_Text), s.label.c_str());
    x += ImGui::CalcTextSize(s.label.c_str()).x + gap;
  }
}

}  // namespace hl::gui

#include "app/gui/colormap.h"

namespace hl::gui {

void draw_colorbar(Colormap map, double vmin, double vmax, bool log_scale, ImVec2 size, bool vertical, const char* title) {
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const ImVec2 o = ImGui::GetCursorScreenPos();
  ImGui::Dummy(size);
  const float fh = ImGui::GetFontSize();
  const ImU32 text = ImGui::GetColorU32(ImGuiCol_Text);
  if (!(vmax > vmin)) vmax = vmin + 1;
  if (log_scale) vmin = std::max(vmin, 1e-6);
  if (log_scale && !(vmax > vmin)) vmax = vmin * 10;
  auto t_of = [&](double v) {
    if (log_scale) return (std::log10(v) - std::log10(vmin)) / (std::log10(vmax) - std::log10(vmin));
    return (v - vmin) / (vmax - vmin);
  };
  // Bar geometry: vertical = a strip on the left with ticks to its right; horizontal = a strip under the title.
  ImVec2 a, b;
  if (vertical) {
    a = ImVec2(o.x, o.y + (title ? fh * 1.3f : 0));
    b = ImVec2(o.x + std::min(16.f, size.x * 0.3f), o.y + size.y - fh * 0.5f);
  } else {
    a = ImVec2(o.x + fh, o.y + (title ? fh * 1.2f : 0));
    b = ImVec2(o.x + size.x - fh, a.y + std::max(8.f, size.y - fh * 2.6f));
  }
  if (title) dl->AddText(o, text, title);
  const int steps = 64;
  for (int i = 0; i < steps; ++i) {
    const float t0 = static_cast<float>(i) / steps, t1 = static_cast<float>(i + 1) / steps;
    const ImU32 c = colormap_u32(map, (t0 + t1) * 0.5f);
    if (vertical) dl->AddRectFilled(ImVec2(a.x, b.y - (b.y - a.y) * t1), ImVec2(b.x, b.y - (b.y - a.y) * t0 + 1), c);
    else dl->AddRectFilled(ImVec2(a.x + (b.x - a.x) * t0, a.y), ImVec2(a.x + (b.x - a.x) * t1 + 1, b.y), c);
  }
  dl->AddRect(a, b, ImGui::GetColorU32(ImGuiCol_Border));
  std::vector<double> ticks;
  if (log_scale) {
    for (double e = std::ceil(std::log10(vmin) - 1e-9); e <= std::log10(vmax) + 1e-9; e += 1) ticks.push_back(std::pow(10.0, e));
  } else {
    const float len = vertical ? b.y - a.y : b.x - a.x;
    ticks = nice_ticks(vmin, vmax, std::max(2, static_cast<int>(len / (fh * (vertical ? 2.2f : 4.0f)))));
  }
  for (double v : ticks) {
    const float t = static_cast<float>(std::clamp(t_of(v), 0.0, 1.0));
    const std::string label = tick_label(v);
    const ImVec2 ts = ImGui::CalcTextSize(label.c_str());
    if (vertical) {
      const float y = b.y - (b.y - a.y) * t;
      dl->AddLine(ImVec2(b.x, y), ImVec2(b.x + 4, y), text);
      dl->AddText(ImVec2(b.x + 6, y - ts.y * 0.5f), text, label.c_str());
    } else {
      const float x = a.x + (b.x - a.x) * t;
      dl->AddLine(ImVec2(x, b.y), ImVec2(x, b.y + 4), text);
      dl->AddText(ImVec2(x - ts.x * 0.5f, b.y + 5), text, label.c_str());
    }
  }
}

}  // namespace hl::gui
