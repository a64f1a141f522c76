#include "app/gui/script_player.h"

namespace hl::gui {
namespace {

bool load_in_progress(const wb::Snapshot& snap) {
  for (const auto& j : snap.jobs)
    if (j.kind == wb::JobKind::Load && (j.state == wb::JobState::Queued || j.state == wb::JobState::Running)) return true;
  return false;
}

bool needs_model(ScriptOp op) {
  return op == ScriptOp::Toggle || op == ScriptOp::Select || op == ScriptOp::Heads || op == ScriptOp::Ablate ||
         op == ScriptOp::Scan;
}

}  // namespace

ScriptPlayer::ScriptPlayer(std::vector<ScriptAction> actions, std::string where, double wait_timeout_s)
    : actions_(std::move(actions)), where_(std::move(where)), wait_timeout_s_(wait_timeout_s) {}

void ScriptPlayer::fail(const ScriptAction& a, const std::string& message) {
  error_ = script_message(where_, a.line, message, a.source);
}

void ScriptPlayer::step(GuiState& s, std::string* screenshot) {
  while (!done()) {
    if (run(s, actions_[next_], screenshot) == Progress::Later) return;
    ++next_;
    if (screenshot && !screenshot->empty()) return;  // the frame loop writes it before the next action runs
  }
}

ScriptPlayer::Progress ScriptPlayer::run(GuiState& s, const ScriptAction& a, std::string* screenshot) {
  const auto& snap = s.snap();
  if (needs_model(a.op) && !snap.model) {
    if (load_in_progress(snap) || snap.version == 0) return Progress::Later;
    fail(a, "no model is loaded" + (snap.model_error.empty() ? std::string() : " (" + snap.model_error + ")"));
    return Progress::Later;
  }
  auto check_head = [&](bool allow_mean) {
    if (a.layer >= s.n_layers() || (a.head >= 0 && a.head >= s.n_heads()) || (!allow_mean && a.head < 0)) {
      fail(a, "the model has " + std::to_string(s.n_layers()) + " layers x " + std::to_string(s.n_heads()) + " heads");
      return false;
    }
    return true;
  };
  switch (a.op) {
    case ScriptOp::Prompt: s.set_prompt(a.text); break;
    case ScriptOp::Emphasize:
      if (s.doc().prompt.find(a.text) == std::string::npos) {
        fail(a, "\"" + a.text + "\" does not occur in the prompt");
        return Progress::Later;
      }
      s.emphasize(a.text);
      break;
    case ScriptOp::Method: s.set_method(a.method); break;
    case ScriptOp::Alpha: s.set_alpha(a.number); break;
    case ScriptOp::Delta: s.set_delta(a.number); break;
    case ScriptOp::Multiplier: s.set_multiplier(a.number); break;
    case ScriptOp::Heads:
    case ScriptOp::Ablate: {
      const bool ablate = a.op == ScriptOp::Ablate;
      try {
        if (!a.heads.empty()) a.heads.validate(s.n_layers(), s.n_heads(), ablate ? "ablate" : "heads");
      } catch (const std::exception& e) {
        fail(a, e.what());
        return Progress::Later;
      }
      ablate ? s.set_ablate(a.heads) : s.set_heads(a.heads);
      break;
    }
    case ScriptOp::Ablation: s.set_ablation(a.ablation); break;
    case ScriptOp::Click: s.head_click = a.variant == 1 ? HeadClick::Ablate : HeadClick::Steer; break;
    case ScriptOp::Colour: s.set_head_colour(a.text); break;
    case ScriptOp::Toggle:
      if (!check_head(false)) return Progress::Later;
      s.toggle_head(a.layer, a.head);
      break;
    case ScriptOp::Select:
      if (!check_head(true)) return Progress::Later;
      s.select_head(a.layer, a.head);
      break;
    case ScriptOp::Panel: s.request_panel(a.text); break;
    case ScriptOp::Load: s.load_model(a.text); break;
    case ScriptOp::Heatmap: s.heatmap.variant = static_cast<Variant>(a.variant); break;
    case ScriptOp::Zoom:
      s.heatmap.span = a.number;
      s.heatmap.x0 = s.heatmap.y0 = 0;
      break;
    case ScriptOp::Tokens: s.set_max_new_tokens(static_cast<int64_t>(a.number)); break;
    case ScriptOp::Scan:
      s.workbench().scan_heads();
      s.show_scan_scores();
      break;
    case ScriptOp::Screenshot:
      if (screenshot) *screenshot = a.text;
      break;
    case ScriptOp::Frames:
      if (frames_left_ < 0) frames_left_ = static_cast<int64_t>(a.number);
      if (frames_left_-- > 0) return Progress::Later;
      frames_left_ = -1;
      break;
    case ScriptOp::Wait: {
      const auto now = std::chrono::steady_clock::now();
      if (!waiting_) waiting_ = true, wait_start_ = now;
      if (!s.workbench().idle() || s.retrieval_pending()) {
        if (std::chrono::duration<double>(now - wait_start_).count() > wait_timeout_s_) {
          fail(a, "the workbench was still busy after " + std::to_string(static_cast<int>(wait_timeout_s_)) + " s");
        }
        return Progress::Later;
      }
      // Idle: let this frame take the final snapshot before the next action reads it.
      waiting_ = false;
      if (s.snap().version != s.workbench().version()) return Progress::Later;
      break;
    }
  }
  return Progress::Next;
}

}  // namespace hl::gui
