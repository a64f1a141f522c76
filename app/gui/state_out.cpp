#include "app/gui/state_out.h"

#include <fstream>
#include <stdexcept>

namespace hl::gui {
namespace {

nlohmann::json summary(const FrameTimeSummary& f) {
  return {{"p50", f.p50}, {"p95", f.p95}, {"max", f.max}, {"count", f.count}};
}

}  // namespace

nlohmann::json state_json(const GuiState& s) {
  const auto& snap = s.snap();
  const auto& doc = s.doc();
  nlohmann::json j;
  j["spec"] = nlohmann::json::parse(steering_spec_to_json(doc.spec));
  j["prompt"] = doc.prompt;
  j["prompt_ids"] = snap.prompt ? snap.prompt->ids : std::vector<int64_t>{};
  nlohmann::json issues = nlohmann::json::array();
  if (snap.prompt)
    for (const auto& i : snap.prompt->issues) issues.push_back({{"field", i.field}, {"message", i.message}});
  j["issues"] = issues;
  j["baseline_ids"] = snap.baseline ? snap.baseline->continuation.ids : std::vector<int64_t>{};
  j["steered_ids"] = snap.steered ? snap.steered->continuation.ids : std::vector<int64_t>{};
  j["baseline_text"] = snap.baseline ? snap.baseline->continuation.text : "";
  j["steered_text"] = snap.steered ? snap.steered->continuation.text : "";
  j["selected_head"] = doc.focus_head < 0 ? "L" + std::to_string(doc.focus_layer) : head_name(doc.focus_layer, doc.focus_head);
  j["model"] = snap.model ? snap.model->path : "";
  j["model_error"] = snap.model_error;
  j["runs_recorded"] = snap.runs_recorded;
  j["frames"] = s.frames.frames();
  j["frame_ms"] = summary(s.frames.all());
  j["frame_ms_busy"] = summary(s.frames.busy());
  j["frame_ms_idle"] = summary(s.frames.idle());
  // Frames whose picture changed (rendered and presented); the others only built the UI and compared it.
  j["frames_presented"] = s.presented_frames.frames();
  j["frame_ms_presented"] = summary(s.presented_frames.all());
  j["frame_ms_presented_busy"] = summary(s.presented_frames.busy());
  j["heatmap_uploads"] = s.renderer().uploads();
  // Steering change -> first steered token on screen, and the engine's share (its job's first token).
  j["change_to_first_token_ms"] = summary(FrameStats::summarize(s.change_to_token_ms));
  j["engine_first_token_ms"] = summary(FrameStats::summarize(s.engine_first_token_ms));
  return j;
}

void write_state_file(const GuiState& s, const std::string& path, const nlohmann::json& extra) {
  nlohmann::json j = state_json(s);
  for (auto it = extra.begin(); it != extra.end(); ++it) j[it.key()] = it.value();
  std::ofstream f(path, std::ios::trunc);
  if (!f) throw std::runtime_error("--state-out " + path + ": cannot be written");
  f << j.dump(2) << '\n';
  if (!f) throw std::runtime_error("--state-out " + path + ": write failed");
}

}  // namespace hl::gui
