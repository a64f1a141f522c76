// The layout (fixed tiles designed for 1600 x 1000 and scaled to the display; Debian's ImGui 1.86 has no docking) and the shared small widgets.
#include "app/gui/panels.h"

#include <algorithm>

#include <imgui.h>

namespace hl::gui {
namespace {

struct PanelSlot {
  const char* name;
  const char* title;
  float x, y, w, h;  // in a 1600 x 1000 window
  void (*draw)(GuiState&);
};

constexpr float kStatusH = 30;
const PanelSlot kSlots[] = {
    {"model", "Model", 0, 0, 400, 250, draw_model_panel},
    {"heads", "Heads", 0, 250, 400, 420, draw_heads_panel},
    {"runs", "Runs", 0, 670, 400, 300, draw_runs_panel},
    {"prompt", "Prompt", 400, 0, 600, 290, draw_prompt_panel},
    {"steering", "Steering", 400, 290, 600, 680, draw_steering_panel},
    {"heatmap", "Attention heatmap", 1000, 0, 600, 560, draw_heatmap_panel},
    {"influence", "Influence", 1000, 560, 600, 410, draw_influence_panel},
};

}  // namespace

const std::vector<std::string>& panel_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const auto& p : kSlots) v.push_back(p.name);
    return v;
  }();
  return names;
}

std::string panel_title(const std::string& name) {
  for (const auto& p : kSlots)
    if (name == p.name) return p.title;
  return {};
}

void draw_panels(GuiState& s) {
  const ImVec2 ds = ImGui::GetIO().DisplaySize;
  const float sx = ds.x / 1600.f, sy = (ds.y - kStatusH) / (1000.f - kStatusH);
  const std::string focus = s.take_panel_request();
  // Tiled like docked panels: fixed slots that follow the window's size. They never overlap, so they draw no
  // background of their own: the frame's clear colour is their background. (Under Mesa's software GL, eight
  // full-size window backgrounds alone cost ~12 ms a frame at 1600 x 1000.)
  const ImGuiWindowFlags flags = ImGuiWindowFlags_NoCollapse | ImGuiWindowFlags_NoMove | ImGuiWindowFlags_NoResize |
                                 ImGuiWindowFlags_NoBackground | ImGuiWindowFlags_NoSavedSettings;
  for (const auto& p : kSlots) {
    ImGui::SetNextWindowPos(ImVec2(p.x * sx, p.y * sy));
    ImGui::SetNextWindowSize(ImVec2(p.w * sx, p.h * sy));
    if (focus == p.name) ImGui::SetNextWindowFocus();
    if (ImGui::Begin(p.title, nullptr, flags)) p.draw(s);
    ImGui::End();
  }
  ImGui::SetNextWindowPos(ImVec2(0, ds.y - kStatusH));
  ImGui::SetNextWindowSize(ImVec2(ds.x, kStatusH));
  const ImGuiWindowFlags bar = ImGuiWindowFlags_NoDecoration | ImGuiWindowFlags_NoMove | ImGuiWindowFlags_NoSavedSettings |
                               ImGuiWindowFlags_NoFocusOnAppearing | ImGuiWindowFlags_NoBringToFrontOnFocus |
                               ImGuiWindowFlags_NoBackground;
  if (ImGui::Begin("##status", nullptr, bar)) draw_status_bar(s);
  ImGui::End();
}

void draw_field_issue(const GuiState& s, const char* field) {
  const std::string msg = field_issue(s.snap(), field);
  if (msg.empty()) return;
  ImGui::PushStyleColor(ImGuiCol_Text, IM_COL32(255, 110, 100, 255));
  ImGui::TextWrapped("%s", msg.c_str());
  ImGui::PopStyleColor();
}

void draw_stale_note(const GuiState& s) {
  const auto& snap = s.snap();
  if (!snap.prompt || snap.prompt->issues.empty()) return;
  if (!snap.baseline && !snap.steered) return;
  ImGui::TextColored(ImVec4(1.f, 0.7f, 0.3f, 1.f), "Not re-run: the document has an issue (in red). Shown: the last run.");
}

void help_marker(const char* text) {
  ImGui::TextDisabled("(?)");
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", text);
}

HeadCount count_heads(const HeadSet& set, int64_t L, int64_t H) {
  HeadCount c;
  if (set.is_all()) c.inside = L * H;
  for (const auto& e : set.entries()) {
    if (e.layer >= L) {
      c.outside += e.all_heads ? 1 : static_cast<int64_t>(e.heads.size());
      continue;
    }
    if (e.all_heads) c.inside += H;
    for (int64_t h : e.heads) (h < H ? c.inside : c.outside) += 1;
  }
  return c;
}

}  // namespace hl::gui
