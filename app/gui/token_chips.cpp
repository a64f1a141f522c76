#include "app/gui/token_chips.h"

#include <algorithm>

namespace hl::gui {

std::string chip_label(const std::string& token) {
  std::string out;
  for (char c : token) {
    if (c == '\n') out += "\\n";
    else if (c == ' ') out += "\xC2\xB7";  // U+00B7 middle dot, in the default font's Latin-1 range
    else if (c == '\t') out += "\\t";
    else out += c;
  }
  if (out.empty()) out = "\xE2\x88\x85";  // an empty token still gets a chip (U+2205 falls back to '?')
  return out;
}

ChipsResult draw_token_chips(const std::vector<std::string>& texts, const std::function<ChipStyle(size_t)>& style) {
  ChipsResult r;
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const ImVec2 pad(3, 1);
  const float spacing = 3;
  const float line_h = ImGui::GetTextLineHeight() + pad.y * 2;
  const ImVec2 start = ImGui::GetCursorScreenPos();
  const float right = start.x + ImGui::GetContentRegionAvail().x;
  ImVec2 pos = start;
  const ImU32 frame = IM_COL32(58, 60, 66, 255);  // neutral grey: colour is kept for what a chip means
  const ImU32 text_col = ImGui::GetColorU32(ImGuiCol_Text);
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::string label = chip_label(texts[i]);
    const ImVec2 ts = ImGui::CalcTextSize(label.c_str());
    const float w = ts.x + pad.x * 2;
    if (pos.x + w > right && pos.x > start.x) {
      pos.x = start.x;
      pos.y += line_h + spacing;
    }
    const ImVec2 a = pos, b(pos.x + w, pos.y + line_h);
    r.centres.push_back(ImVec2((a.x + b.x) * 0.5f, (a.y + b.y) * 0.5f));
    const ChipStyle st = style(i);
    dl->AddRectFilled(a, b, st.background ? st.background : frame, 3);
    if (st.border) dl->AddRect(a, b, st.border, 3, 0, 1.5f);
    dl->AddText(ImVec2(a.x + pad.x, a.y + pad.y), st.text ? st.text : text_col, label.c_str());
    if (ImGui::IsWindowHovered(ImGuiHoveredFlags_AllowWhenBlockedByActiveItem) && ImGui::IsMouseHoveringRect(a, b)) {
      r.hovered = static_cast<int>(i);
      if (ImGui::IsMouseClicked(ImGuiMouseButton_Left)) r.clicked = static_cast<int>(i);
    }
    pos.x += w + spacing;
  }
  // One invisible button over the chips reserves their space and owns the mouse, so a drag over them marks
  // tokens instead of moving the window.
  const float height = texts.empty() ? line_h : pos.y + line_h - start.y;
  ImGui::SetCursorScreenPos(start);
  ImGui::InvisibleButton("##chips", ImVec2(std::max(1.0f, right - start.x), height));
  return r;
}

}  // namespace hl::gui
