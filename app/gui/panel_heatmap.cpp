// Attention heatmap panel: one head's (or a layer's mean) attention over prompt + continuation, as ONE texture
// coloured in shaders/heatmap.frag. The map is uploaded once when a new one arrives; zoom (wheel) and pan (drag)
// only change the shader's view rectangle. Token labels appear on the axes once cells are large enough to hold them.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include <imgui.h>

#include "app/gui/colormap.h"
#include "app/gui/panels.h"
#include "app/gui/plot_axes.h"
#include "app/gui/token_chips.h"

namespace hl::gui {
namespace {

// Largest value (or |difference|) outside the masked sink column, computed once per new pair of maps.
float value_range(const wb::AttentionMap* a, const wb::AttentionMap* b, bool mask_sink, int64_t rows, int64_t cols) {
  float m = 0;
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = mask_sink ? 1 : 0; j < cols; ++j) {
      const float va = a->values[static_cast<size_t>(i * a->cols + j)];
      const float v = b ? b->values[static_cast<size_t>(i * b->cols + j)] - va : va;
      m = std::max(m, std::fabs(v));
    }
  return m > 0 ? m : 1e-6f;
}

std::string focus_name(int64_t layer, int64_t head) {
  char buf[48];
  if (head < 0) std::snprintf(buf, sizeof buf, "L%lld (mean of heads)", static_cast<long long>(layer));
  else std::snprintf(buf, sizeof buf, "L%lldH%lld", static_cast<long long>(layer), static_cast<long long>(head));
  return buf;
}

// A token label cut to fit `width` pixels.
std::string fit_label(const std::string& token, float width) {
  std::string t = chip_label(token);
  while (!t.empty() && ImGui::CalcTextSize(t.c_str()).x > width) {
    t.pop_back();
    while (!t.empty() && (static_cast<unsigned char>(t.back()) & 0xC0) == 0x80) t.pop_back();  // whole UTF-8 chars
  }
  return t;
}

void focus_controls(GuiState& s) {
  const int64_t L = s.n_layers(), H = s.n_heads();
  if (L == 0) return;
  int layer = static_cast<int>(std::clamp<int64_t>(s.doc().focus_layer, 0, L - 1));
  int head = static_cast<int>(std::clamp<int64_t>(s.doc().focus_head, -1, H - 1));
  ImGui::SetNextItemWidth(90);
  if (ImGui::SliderInt("layer", &layer, 0, static_cast<int>(L - 1))) s.select_head(layer, head);
  ImGui::SameLine();
  ImGui::SetNextItemWidth(90);
  if (ImGui::SliderInt("head (-1 = mean)", &head, -1, static_cast<int>(H - 1))) s.select_head(layer, head);
}

}  // namespace

void draw_heatmap_panel(GuiState& s) {
  auto& v = s.heatmap;
  const auto& snap = s.snap();
  int variant = static_cast<int>(v.variant);
  const char* variants[] = {"baseline", "steered", "steered - baseline"};
  ImGui::SetNextItemWidth(150);
  ImGui::Combo("##hm_variant", &variant, variants, 3);
  v.variant = static_cast<Variant>(variant);
  ImGui::SameLine();
  const bool difference = v.variant == Variant::Difference && !s.bench_map;
  ImGui::BeginDisabled(difference);
  int cmap = v.colormap == Colormap::Magma ? 1 : 0;
  const char* cmaps[] = {"viridis", "magma"};
  ImGui::SetNextItemWidth(90);
  if (ImGui::Combo("##cmap", &cmap, cmaps, 2)) v.colormap = cmap ? Colormap::Magma : Colormap::Viridis;
  ImGui::EndDisabled();
  ImGui::SameLine();
  ImGui::BeginDisabled(difference);  // differences are signed: a linear diverging scale
  ImGui::Checkbox("log", &v.log_scale);
  ImGui::EndDisabled();
  ImGui::SameLine();
  ImGui::Checkbox("mask sink (key 0)", &v.mask_sink);
  ImGui::SameLine();
  if (ImGui::Button("fit")) v.span = 0;
  focus_controls(s);
  if (!s.bench_map) draw_stale_note(s);

  // Which arrays to show.
  const wb::AttentionMap* a = nullptr;  // the map (or the baseline of a difference)
  const wb::AttentionMap* b = nullptr;  // the steered map of a difference
  if (s.bench_map) {
    a = s.bench_map.get();
  } else {
    const wb::AttentionMap* base = snap.baseline && snap.baseline->map ? snap.baseline->map.get() : nullptr;
    const wb::AttentionMap* steer = snap.steered && snap.steered->map ? snap.steered->map.get() : nullptr;
    if (difference) {
      if (base && steer) a = base, b = steer;
    } else {
      a = v.variant == Variant::Baseline ? base : steer;
    }
  }
  if (!a || a->rows == 0) {
    const bool has_issue = snap.prompt && !snap.prompt->issues.empty();
    ImGui::TextDisabled("%s", !s.n_layers() ? "No model loaded."
                              : has_issue   ? "(no map: the document has an issue)"
                              : s.workbench().idle() ? "(no map for this view)"
                                                     : "(the attention map is being computed)");
    return;
  }
  const int64_t rows = b ? std::min(a->rows, b->rows) : a->rows;
  const int64_t cols = b ? std::min(a->cols, b->cols) : a->cols;
  ImGui::SameLine();
  ImGui::TextDisabled("%s, %lld x %lld%s", focus_name(a->layer, a->head).c_str(), static_cast<long long>(rows),
                      static_cast<long long>(cols), (a->layer != s.doc().focus_layer || a->head != s.doc().focus_head) && !s.bench_map ? " (updating)" : "");

  // Upload (a no-op unless the arrays are new) and the colour range for them.
  s.renderer().set_values(0, a->values.data(), a->rows, a->cols, a);
  if (b) s.renderer().set_values(1, b->values.data(), b->rows, b->cols, b);
  auto& rc = s.heatmap_range;
  if (rc.a != a || rc.b != b || rc.mask_sink != v.mask_sink) {
    rc = {a, b, v.mask_sink, value_range(a, b, v.mask_sink, rows, cols)};
  }

  // Geometry: margins for labels, a colorbar on the right, the image square and as large as fits.
  const float fh = ImGui::GetFontSize();
  const ImVec2 avail = ImGui::GetContentRegionAvail();
  const float left = fh * 5.5f, top = fh * 1.5f, bottom = fh * 1.6f, bar_w = fh * 5.f;
  const float side = std::max(32.f, std::min(avail.x - left - bar_w - 8, avail.y - top - bottom));
  const ImVec2 o = ImGui::GetCursorScreenPos();
  const ImVec2 img0(o.x + left, o.y + top), img1(img0.x + side, img0.y + side);

  // View: `span` cells across, top-left cell (x0, y0); zoom keeps the cell under the mouse in place.
  const double n = static_cast<double>(std::max(rows, cols));
  // span 0 = fit: a new map of another length is shown whole, while a zoomed view stays where the user put it.
  if (v.span >= n) v.span = 0;
  if (v.span <= 0) v.x0 = v.y0 = 0;
  double span = v.span > 0 ? v.span : n;
  s.heatmap_x = img0.x, s.heatmap_y = img0.y, s.heatmap_side = side;
  ImGui::SetCursorScreenPos(img0);
  ImGui::InvisibleButton("##heatmap", ImVec2(side, side));
  const bool hovered = ImGui::IsItemHovered();
  const ImGuiIO& io = ImGui::GetIO();
  double ppc = side / span;  // pixels per cell
  if (hovered && io.MouseWheel != 0) {
    const double cx = v.x0 + (io.MousePos.x - img0.x) / ppc, cy = v.y0 + (io.MousePos.y - img0.y) / ppc;
    span = std::clamp(span * std::pow(0.85, io.MouseWheel), std::min(4.0, n), n);
    v.span = span >= n ? 0 : span;
    ppc = side / span;
    v.x0 = cx - (io.MousePos.x - img0.x) / ppc;
    v.y0 = cy - (io.MousePos.y - img0.y) / ppc;
  }
  if (ImGui::IsItemActive() && ImGui::IsMouseDragging(ImGuiMouseButton_Left, 0.f)) {
    v.x0 -= io.MouseDelta.x / ppc;
    v.y0 -= io.MouseDelta.y / ppc;
  }
  v.x0 = std::clamp(v.x0, 0.0, std::max(0.0, n - span));
  v.y0 = std::clamp(v.y0, 0.0, std::max(0.0, n - span));

  HeatmapParams p;
  p.difference = b != nullptr;
  p.colormap = b ? Colormap::Diverging : v.colormap;
  p.log_scale = v.log_scale && !b;
  p.vmax = rc.vmax;
  p.vmin = b ? -rc.vmax : (v.log_scale ? p.log_floor : 0.f);
  p.mask_sink = v.mask_sink;
  p.x0 = v.x0, p.y0 = v.y0, p.x1 = v.x0 + span, p.y1 = v.y0 + span;
  p.rows = rows, p.cols = cols;
  s.renderer().draw(p, static_cast<int>(side), static_cast<int>(side));

  ImDrawList* dl = ImGui::GetWindowDrawList();
  if (const uint64_t tex = s.renderer().texture()) {
    dl->AddImage(reinterpret_cast<ImTextureID>(static_cast<intptr_t>(tex)), img0, img1, ImVec2(0, 1), ImVec2(1, 0));
  } else {
    dl->AddRectFilled(img0, img1, IM_COL32(40, 40, 48, 255));  // no GL (headless)
  }
  dl->AddRect(img0, img1, ImGui::GetColorU32(ImGuiCol_Border));
  const ImU32 text = ImGui::GetColorU32(ImGuiCol_Text);
  auto sx = [&](double col) { return static_cast<float>(img0.x + (col - v.x0) * ppc); };
  auto sy = [&](double row) { return static_cast<float>(img0.y + (row - v.y0) * ppc); };

  // Where the prompt ends and the continuation begins.
  dl->PushClipRect(img0, img1, true);
  const float px = sx(static_cast<double>(a->prompt_len)), py = sy(static_cast<double>(a->prompt_len));
  dl->AddLine(ImVec2(px, img0.y), ImVec2(px, img1.y), IM_COL32(255, 255, 255, 140));
  dl->AddLine(ImVec2(img0.x, py), ImVec2(img1.x, py), IM_COL32(255, 255, 255, 140));
  dl->PopClipRect();

  // Axes: token labels when a cell holds a line of text, else position ticks.
  const bool labels = ppc >= fh + 2 && !a->token_texts.empty();
  const int64_t first = static_cast<int64_t>(std::floor(v.x0)), last = std::min<int64_t>(static_cast<int64_t>(std::ceil(v.x0 + span)), cols);
  const int64_t rfirst = static_cast<int64_t>(std::floor(v.y0)), rlast = std::min<int64_t>(static_cast<int64_t>(std::ceil(v.y0 + span)), rows);
  if (labels) {
    for (int64_t j = std::max<int64_t>(first, 0); j < last; ++j) {
      const std::string t = fit_label(a->token_texts[static_cast<size_t>(j)], static_cast<float>(ppc) - 2);
      const float x = sx(j + 0.5) - ImGui::CalcTextSize(t.c_str()).x * 0.5f;
      if (x >= img0.x - 2 && x < img1.x) dl->AddText(ImVec2(x, o.y), text, t.c_str());
    }
    for (int64_t i = std::max<int64_t>(rfirst, 0); i < rlast; ++i) {
      const float y = sy(i + 0.5) - fh * 0.5f;
      if (y < img0.y - 2 || y > img1.y - fh + 2) continue;
      char idx[24];
      std::snprintf(idx, sizeof idx, "%lld ", static_cast<long long>(i));
      const std::string t = idx + fit_label(a->token_texts[static_cast<size_t>(i)], left - ImGui::CalcTextSize(idx).x - 6);
      dl->AddText(ImVec2(o.x, y), text, t.c_str());
    }
  } else {
    for (double t : nice_ticks(v.x0, v.x0 + span, std::max(2, static_cast<int>(side / (fh * 4))))) {
      const std::string lab = tick_label(t);
      const float w = ImGui::CalcTextSize(lab.c_str()).x;
      const float x = sx(t + 0.5) - w * 0.5f;
      if (t < cols && x + w <= img1.x) dl->AddText(ImVec2(x, o.y), text, lab.c_str());
    }
    for (double t : nice_ticks(v.y0, v.y0 + span, std::max(2, static_cast<int>(side / (fh * 2.5f))))) {
      const std::string lab = tick_label(t);
      if (t < rows) dl->AddText(ImVec2(img0.x - ImGui::CalcTextSize(lab.c_str()).x - 4, sy(t + 0.5) - fh * 0.5f), text, lab.c_str());
    }
  }
  dl->AddText(ImVec2(img0.x, img1.y + 2), text, "key token (attended to) ->   rows: query token;  white lines: end of prompt");

  // Hover: the cell's tokens and values.
  if (hovered && !ImGui::IsMouseDragging(ImGuiMouseButton_Left)) {
    const int64_t j = static_cast<int64_t>(std::floor(v.x0 + (io.MousePos.x - img0.x) / ppc));
    const int64_t i = static_cast<int64_t>(std::floor(v.y0 + (io.MousePos.y - img0.y) / ppc));
    if (i >= 0 && i < rows && j >= 0 && j < cols) {
      auto tok = [&](int64_t k) { return k < static_cast<int64_t>(a->token_texts.size()) ? a->token_texts[static_cast<size_t>(k)] : std::string("?"); };
      ImGui::BeginTooltip();
      ImGui::Text("query %lld \"%s\"%s", static_cast<long long>(i), tok(i).c_str(), i >= a->prompt_len ? " (generated)" : "");
      ImGui::Text("key   %lld \"%s\"", static_cast<long long>(j), tok(j).c_str());
      const float va = a->values[static_cast<size_t>(i * a->cols + j)];
      if (b) {
        const float vb = b->values[static_cast<size_t>(i * b->cols + j)];
        ImGui::Text("baseline %.4f   steered %.4f   difference %+.4f", va, vb, vb - va);
      } else {
        ImGui::Text("attention %.4f%s", va, j > i ? " (causal: not attended)" : "");
      }
      ImGui::EndTooltip();
    }
  }

  // Colorbar.
  ImGui::SetCursorScreenPos(ImVec2(img1.x + 10, img0.y - fh * 1.3f));
  draw_colorbar(p.colormap, p.vmin, p.vmax, v.log_scale && !b, ImVec2(bar_w, side + fh * 1.3f), true,
                b ? "change" : "weight");
  ImGui::SetCursorScreenPos(ImVec2(o.x, img1.y + bottom));
  ImGui::Dummy(ImVec2(1, 1));
}

}  // namespace hl::gui
