// Whether a frame would draw exactly what is already on screen. The window builds every frame (ImGui is immediate
// mode) but only renders and presents one whose draw data differs from the last presented frame: under Mesa's
// software GL, rendering is most of a frame's cost, and an unchanged window needs none of it.
#pragma once
#include <cstdint>

struct ImDrawData;

namespace hl::gui {

// A 64-bit hash of every vertex, index and draw command (clip rectangle, texture, ranges) of the frame.
uint64_t draw_data_hash(const ImDrawData& dd);

}  // namespace hl::gui
