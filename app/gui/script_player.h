// Plays a parsed script through GuiState, a few actions per frame, never blocking the frame loop: `wait` polls
// Workbench::idle() while frames keep rendering, and actions that need the model's shape wait for the load.
#pragma once
#include <chrono>
#include <string>
#include <vector>

#include "app/gui/gui_state.h"
#include "app/gui/script.h"

namespace hl::gui {

class ScriptPlayer {
 public:
  ScriptPlayer(std::vector<ScriptAction> actions, std::string where, double wait_timeout_s = 600);

  // Call once per frame after GuiState::begin_frame(). Runs actions until one needs later frames.
  // A screenshot action sets *screenshot (the frame loop writes this frame's pixels there).
  void step(GuiState& s, std::string* screenshot);

  bool done() const { return next_ >= actions_.size() || !error_.empty(); }
  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }

 private:
  enum class Progress { Next, Later };
  Progress run(GuiState& s, const ScriptAction& a, std::string* screenshot);
  void fail(const ScriptAction& a, const std::string& message);

  std::vector<ScriptAction> actions_;
  std::string where_;
  double wait_timeout_s_;
  size_t next_ = 0;
  int64_t frames_left_ = -1;  // `frames N` in progress
  bool waiting_ = false;
  std::chrono::steady_clock::time_point wait_start_;
  std::string error_;
};

}  // namespace hl::gui
