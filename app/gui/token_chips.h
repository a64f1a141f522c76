// Tokens drawn as small boxes ("chips") wrapped to the window width, used for the prompt (span marking by drag)
// and for the continuations (changed tokens highlighted). Whitespace is made visible so chip borders never hide it.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include <imgui.h>

namespace hl::gui {

struct ChipStyle {
  ImU32 background = 0;  // 0: the frame colour
  ImU32 border = 0;      // 0: none
  ImU32 text = 0;        // 0: the text colour
};

struct ChipsResult {
  int hovered = -1;   // the chip under the mouse (by rectangle, so it works while another item holds the mouse)
  int clicked = -1;   // the chip the left button went down on this frame
  std::vector<ImVec2> centres;  // where each chip was drawn (screen pixels), for tests that drag over them
};

ChipsResult draw_token_chips(const std::vector<std::string>& texts, const std::function<ChipStyle(size_t)>& style);

// The token as shown on a chip: leading/trailing spaces as a middle dot, newlines as \n.
std::string chip_label(const std::string& token);

}  // namespace hl::gui
