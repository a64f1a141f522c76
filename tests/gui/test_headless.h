// An ImGui context with no platform or renderer backend: frames are built (every widget, every draw list) and
// never shown. The panels run exactly as in the window, with the null heatmap renderer.
#pragma once
#include <chrono>
#include <thread>

#include <imgui.h>

#include "app/gui/panels.h"
#include "app/gui/script_player.h"

namespace hl_test {

class HeadlessImGui {
 public:
  HeadlessImGui() {
    ctx_ = ImGui::CreateContext();
    ImGuiIO& io = ImGui::GetIO();
    io.DisplaySize = ImVec2(1600, 1000);
    io.DeltaTime = 1.0f / 60.0f;
    io.IniFilename = nullptr;
    io.ConfigWindowsMoveFromTitleBarOnly = true;
    unsigned char* pixels = nullptr;
    int w = 0, h = 0;
    io.Fonts->GetTexDataAsRGBA32(&pixels, &w, &h);
  }
  ~HeadlessImGui() { ImGui::DestroyContext(ctx_); }
  HeadlessImGui(const HeadlessImGui&) = delete;
  HeadlessImGui& operator=(const HeadlessImGui&) = delete;

  // One frame of the whole window; a script player (if any) steps as in the frame loop.
  void frame(hl::gui::GuiState& s, hl::gui::ScriptPlayer* player = nullptr) {
    ImGui::NewFrame();
    s.begin_frame();
    if (player) {
      std::string shot;
      player->step(s, &shot);
    }
    hl::gui::draw_panels(s);
    ImGui::Render();
  }

  // Frames until the script has run (a frame every millisecond, as a window would; up to `timeout_s`).
  void play(hl::gui::GuiState& s, hl::gui::ScriptPlayer& player, double timeout_s = 300) {
    const auto start = std::chrono::steady_clock::now();
    while (!player.done() && std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < timeout_s) {
      frame(s, &player);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  // Frames until the workbench is idle and the last snapshot has been taken (as a user watching would see).
  // A frame may start work itself (the panels re-run a document after a failed load), hence the rounds.
  bool frames_until_idle(hl::gui::GuiState& s, double timeout_s = 300) {
    for (int round = 0; round < 5; ++round) {
      s.workbench().wait_idle(timeout_s);
      for (int i = 0; i < 3; ++i) frame(s);
      if (s.workbench().idle()) return true;
    }
    return false;
  }

 private:
  ImGuiContext* ctx_;
};

}  // namespace hl_test
