// Influence panel: how much of the steered span reaches each token, per layer (GUIDE's Influence, and attention
// rollout for comparison), baseline against steered, with a token strip coloured by the last layer's Influence.
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

const wb::InfluenceCurves* curves_of(const std::shared_ptr<const wb::VariantResult>& v) {
  return v && v->influence && v->influence->tokens > 0 ? v->influence.get() : nullptr;
}

const float* row(const std::vector<float>& a, const wb::InfluenceCurves& c, int layer) {
  return a.data() + static_cast<size_t>(layer) * static_cast<size_t>(c.tokens);
}

}  // namespace

void draw_influence_panel(GuiState& s) {
  const auto& snap = s.snap();
  const wb::InfluenceCurves* base = curves_of(snap.baseline);
  const wb::InfluenceCurves* steer = curves_of(snap.steered);
  const wb::InfluenceCurves* any = steer ? steer : base;
  auto& v = s.influence;
  draw_stale_note(s);
  ImGui::Checkbox("log scale", &v.log_scale);
  ImGui::SameLine();
  ImGui::Checkbox("rollout (dashed)", &v.show_rollout);
  if (!any) {
    const bool has_issue = snap.prompt && !snap.prompt->issues.empty();
    ImGui::TextDisabled("%s", has_issue ? "(no Influence: the document has an issue)"
                              : snap.prompt && snap.prompt->spans.empty() && !snap.prompt->influence_span
                                  ? "(no span: mark one in the Prompt panel)"
                              : s.workbench().idle() ? "(no Influence for this document)"
                                                     : "(Influence is being computed)");
    return;
  }
  const int layers = static_cast<int>(any->layers);
  if (v.layer < 0 || v.layer > layers) v.layer = layers;
  ImGui::SameLine();
  ImGui::SetNextItemWidth(std::max(80.f, ImGui::GetContentRegionAvail().x - 60));
  ImGui::SliderInt("layer", &v.layer, 0, layers, v.layer == 0 ? "0 (embeddings)" : "%d");

  const int tokens = static_cast<int>(any->tokens);
  double ymax = 0, ymin = 1e30;
  std::vector<PlotSeries> series;
  auto add = [&](const char* label, const wb::InfluenceCurves* c, bool rollout, ImU32 color) {
    if (!c || v.layer > c->layers) return;
    const auto& arr = rollout ? c->rollout : c->influence;
    if (arr.size() < static_cast<size_t>((c->layers + 1) * c->tokens)) return;
    const float* y = row(arr, *c, v.layer);
    for (int i = 0; i < c->tokens; ++i) {
      ymax = std::max<double>(ymax, y[i]);
      if (y[i] > 0) ymin = std::min<double>(ymin, y[i]);
    }
    series.push_back({label, y, static_cast<int>(c->tokens), color, rollout});
  };
  const ImU32 blue = IM_COL32(90, 160, 255, 255), red = IM_COL32(255, 110, 90, 255);
  add("Influence, baseline", base, false, blue);
  add("Influence, steered", steer, false, red);
  if (v.show_rollout) {
    add("rollout, baseline", base, true, IM_COL32(90, 160, 255, 170));
    add("rollout, steered", steer, true, IM_COL32(255, 110, 90, 170));
  }
  if (ymin > ymax) ymin = 1e-4;

  const float fh = ImGui::GetFontSize();
  const float plot_h = std::max(120.f, ImGui::GetContentRegionAvail().y - fh * 5.2f);
  char ytitle[96];
  std::snprintf(ytitle, sizeof ytitle, "share of the span at layer %d (%s)", v.layer, v.log_scale ? "log" : "linear");
  PlotFrame plot("##influence", ImVec2(ImGui::GetContentRegionAvail().x, plot_h), 0, std::max(1, tokens - 1),
                 v.log_scale ? ymin : 0.0, ymax * 1.05, v.log_scale, "token position", ytitle);
  plot.shade_x(any->span.begin - 0.5, any->span.end - 0.5, IM_COL32(230, 170, 60, 60));
  for (const auto& ps : series) plot.line(ps);
  plot.legend(series);
  const auto& tok_texts = snap.prompt ? snap.prompt->token_texts : std::vector<std::string>{};
  if (plot.hovered()) {
    const int i = static_cast<int>(std::lround(plot.x_at(ImGui::GetIO().MousePos.x)));
    if (i >= 0 && i < tokens) {
      plot.vertical_marker(i, IM_COL32(255, 255, 255, 120));
      ImGui::BeginTooltip();
      ImGui::Text("token %d%s%s%s", i, i < static_cast<int>(tok_texts.size()) ? " \"" : "",
                  i < static_cast<int>(tok_texts.size()) ? tok_texts[static_cast<size_t>(i)].c_str() : "",
                  i < static_cast<int>(tok_texts.size()) ? "\"" : "");
      for (const auto& ps : series)
        if (i < ps.n) ImGui::Text("%-20s %.4g", ps.label.c_str(), ps.y[i]);
      ImGui::EndTooltip();
    }
  }

  // Token strip: the last layer's steered Influence (baseline when nothing is steered), one colour per token.
  const wb::InfluenceCurves* strip = steer ? steer : base;
  const float* last = row(strip->influence, *strip, static_cast<int>(strip->layers));
  float m = 1e-9f;
  for (int i = 0; i < strip->tokens; ++i) m = std::max(m, last[i]);
  ImGui::Text("Last-layer Influence (%s) per token, span [%lld, %lld) shaded above; colour: 0 .. %.3g",
              steer ? "steered" : "baseline", static_cast<long long>(any->span.begin), static_cast<long long>(any->span.end), m);
  ImGui::BeginChild("strip", ImVec2(0, 0), false);
  std::vector<std::string> texts(static_cast<size_t>(strip->tokens));
  for (size_t i = 0; i < texts.size(); ++i) texts[i] = i < tok_texts.size() ? tok_texts[i] : std::to_string(i);
  const ChipsResult r = draw_token_chips(texts, [&](size_t i) {
    ChipStyle st;
    const float t = last[i] / m;
    st.background = colormap_u32(Colormap::Viridis, t);
    st.text = t > 0.6f ? IM_COL32(0, 0, 0, 255) : IM_COL32(255, 255, 255, 255);
    return st;
  });
  if (r.hovered >= 0) ImGui::SetTooltip("token %d: last-layer Influence %.4g", r.hovered, last[r.hovered]);
  ImGui::EndChild();
}

}  // namespace hl::gui
