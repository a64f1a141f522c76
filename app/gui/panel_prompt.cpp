// Prompt panel: the text, where to steer, and the tokens as the model sees them. A span is marked by selecting
// characters in the text box (then "Emphasise" sets the spec's emphasis, "Instruction" wraps it in a GUIDE tag of
// the chosen level), by dragging over the token chips (a token range), or by typing **...** / <!-> <-!> markers.
#include <algorithm>
#include <cstdio>

#include <imgui.h>
#include <imgui_stdlib.h>

#include "app/gui/panels.h"
#include "app/gui/token_chips.h"

namespace hl::gui {
namespace {

// The text box reports its selection through the callback; it is the only place ImGui exposes it.
int capture_selection(ImGuiInputTextCallbackData* data) {
  auto* s = static_cast<GuiState*>(data->UserData);
  s->selection_begin = std::min(data->SelectionStart, data->SelectionEnd);
  s->selection_end = std::max(data->SelectionStart, data->SelectionEnd);
  return 0;
}

const char* kLevelNames[] = {"level 0.5  <!-> <-!>", "level 1  <!!-> <-!!>", "level 2  <!!!-> <-!!!>"};

// Which steered span (if any) covers token i, and its level.
const SteeringSpan* span_of(const wb::PreparedPrompt& p, int64_t i) {
  for (const auto& sp : p.spans)
    if (i >= sp.begin && i < sp.end) return &sp;
  return nullptr;
}

}  // namespace

void draw_prompt_panel(GuiState& s) {
  const auto& snap = s.snap();
  const float box_h = ImGui::GetTextLineHeight() * 5.5f;
  if (ImGui::InputTextMultiline("##prompt", &s.prompt_edit, ImVec2(-1, box_h), ImGuiInputTextFlags_CallbackAlways,
                                capture_selection, &s))
    s.set_prompt(s.prompt_edit);
  draw_field_issue(s, "prompt");

  const int n = static_cast<int>(s.prompt_edit.size());
  const bool has_selection = std::clamp(s.selection_end, 0, n) > std::clamp(s.selection_begin, 0, n);
  if (!has_selection) ImGui::BeginDisabled();
  if (ImGui::Button("Emphasise selection")) s.emphasize_selection();
  if (ImGui::IsItemHovered(ImGuiHoveredFlags_AllowWhenDisabled))
    ImGui::SetTooltip("Steer towards the selected text (spec.emphasis): PASTA keeps attention on it,\n"
                      "GUIDE and InstABoost add their bias to its tokens.");
  ImGui::SameLine();
  if (ImGui::Button("Mark as instruction")) s.mark_selection_as_instruction();
  if (!has_selection) ImGui::EndDisabled();
  ImGui::SameLine();
  ImGui::SetNextItemWidth(170);
  ImGui::Combo("##level", &s.guide_level, kLevelNames, 3);
  ImGui::SameLine();
  if (ImGui::Button("Clear marks")) s.clear_marks();

  // What is steered right now, in words.
  const auto& spec = s.doc().spec;
  if (!spec.emphasis.empty()) ImGui::TextWrapped("Emphasis: \"%s\"", spec.emphasis.front().c_str());
  else if (!spec.spans.empty()) ImGui::Text("Token span [%lld, %lld)", static_cast<long long>(spec.spans.front().begin), static_cast<long long>(spec.spans.front().end));
  else ImGui::TextDisabled("No span: select text, drag over tokens, or type **...** in the prompt.");
  for (const char* f : {"emphasis", "spans", "occurrence", "influence_span", "ids"}) draw_field_issue(s, f);

  ImGui::Separator();
  if (!snap.prompt) {
    ImGui::TextDisabled("(tokens appear once the model has loaded)");
    return;
  }
  const auto& p = *snap.prompt;
  ImGui::Text("%zu tokens", p.ids.size());
  ImGui::SameLine();
  ImGui::TextDisabled("- drag over tokens to mark a span; colour = steered span (darker: lower level)");
  ImGui::BeginChild("chips", ImVec2(0, 0), false);
  const int64_t d0 = std::min(s.chip_drag_begin, s.chip_drag_end), d1 = std::max(s.chip_drag_begin, s.chip_drag_end);
  const ChipsResult r = draw_token_chips(p.token_texts, [&](size_t i) {
    ChipStyle st;
    const int64_t k = static_cast<int64_t>(i);
    if (const SteeringSpan* sp = span_of(p, k)) {
      const int a = sp->level >= 2 ? 230 : sp->level >= 1 ? 190 : 140;
      st.background = IM_COL32(a, a * 55 / 100, 40, 255);
      st.text = IM_COL32(15, 15, 15, 255);
    }
    if (s.chip_drag_begin >= 0 && k >= d0 && k <= d1) st.border = IM_COL32(120, 200, 255, 255);
    return st;
  });
  s.prompt_chip_centres = r.centres;
  if (r.clicked >= 0) s.chip_drag_begin = s.chip_drag_end = r.clicked;
  if (s.chip_drag_begin >= 0) {
    if (r.hovered >= 0 && ImGui::IsMouseDown(ImGuiMouseButton_Left)) s.chip_drag_end = r.hovered;
    if (ImGui::IsMouseReleased(ImGuiMouseButton_Left)) {
      s.set_token_span(std::min(s.chip_drag_begin, s.chip_drag_end), std::max(s.chip_drag_begin, s.chip_drag_end) + 1);
      s.chip_drag_begin = s.chip_drag_end = -1;
    }
  }
  if (r.hovered >= 0 && s.chip_drag_begin < 0) {
    const size_t i = static_cast<size_t>(r.hovered);
    ImGui::BeginTooltip();
    ImGui::Text("token %zu: id %lld  \"%s\"", i, static_cast<long long>(p.ids[i]), p.token_texts[i].c_str());
    if (i < p.key_bias.size()) ImGui::Text("key bias on steered heads: %+.3f (added to the attention logit)", p.key_bias[i]);
    if (const SteeringSpan* sp = span_of(p, r.hovered)) ImGui::Text("in span [%lld, %lld), level %.1f", static_cast<long long>(sp->begin), static_cast<long long>(sp->end), sp->level);
    ImGui::EndTooltip();
  }
  ImGui::EndChild();
}

}  // namespace hl::gui
