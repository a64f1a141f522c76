// --script files: one action a line, replayed through the panels' own state (GuiState), so a script does exactly
// what the mouse does. Blank lines and # comments are skipped. The whole file is parsed before anything runs; a bad
// line is a ScriptError naming the file, the line number and the line.
//
//   prompt TEXT          emphasize TEXT (first occurrence)     method pasta|guide|instaboost|none
//   alpha X              delta X          multiplier X         heads LIST|all|none   (L1H5,L2H0 names)
//   toggle LxHy          select LxHy|Lx   panel NAME           wait    (until every job has finished)
//   screenshot FILE.png  frames N  (render N frames)           load PATH (open a model)
//   tokens N  (new tokens per continuation)                    scan  (score every head steered alone)
//   heatmap baseline|steered|difference                        zoom N  (the heatmap shows N cells across; 0 = fit)
//   ablate LIST|all|none  (the ablated set)                    ablation zero|mean
//   click steer|ablate  (what a heads-grid click toggles)      colour NAME  (heads grid: a statistic such as
//                         attn_distance or future_influence, scan, or retrieval)
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/steering/steering_spec.h"

namespace hl::gui {

class ScriptError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class ScriptOp { Prompt, Emphasize, Method, Alpha, Delta, Multiplier, Heads, Toggle, Select, Panel, Wait, Screenshot, Frames, Load, Tokens, Scan, Heatmap, Zoom, Ablate, Ablation, Click, Colour };

struct ScriptAction {
  ScriptOp op = ScriptOp::Wait;
  int line = 0;          // 1-based, for messages
  std::string source;    // the line as written
  std::string text;      // prompt, emphasis, panel name, file
  double number = 0;     // alpha, delta, multiplier, frames
  SteeringMethod method = SteeringMethod::None;
  AblationMode ablation = AblationMode::Zero;
  HeadSet heads;         // heads, ablate
  int64_t layer = 0, head = 0;
  int variant = 0;       // heatmap: 0 baseline, 1 steered, 2 difference; click: 0 steer, 1 ablate
};

// `where` names the script in messages ("demo.script").
std::vector<ScriptAction> parse_script(const std::string& text, const std::string& where);
std::vector<ScriptAction> load_script(const std::string& path);  // ScriptError when unreadable

// "where:LINE: message: `source`", the one format of every script error.
std::string script_message(const std::string& where, int line, const std::string& message, const std::string& source);

}  // namespace hl::gui
