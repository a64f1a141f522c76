// Status bar: the job the worker is running (progress, ETA, cancel), what is queued, the frame time.
#include <cstdio>

#include <imgui.h>

#include "app/gui/panels.h"

namespace hl::gui {

void draw_status_bar(GuiState& s) {
  const auto& snap = s.snap();
  const wb::JobInfo* running = nullptr;
  int queued = 0;
  for (const auto& j : snap.jobs) {
    if (j.state == wb::JobState::Running && !running) running = &j;
    if (j.state == wb::JobState::Queued) ++queued;
  }
  if (running) {
    const auto& p = running->progress;
    ImGui::Text("%s: %s", to_string(running->kind), running->label.c_str());
    ImGui::SameLine();
    const float f = p.total > 0 ? static_cast<float>(p.done) / static_cast<float>(p.total) : 0.f;
    char over[128];
    if (p.eta_s >= 0) std::snprintf(over, sizeof over, "%lld/%lld %s, ETA %.1f s", static_cast<long long>(p.done), static_cast<long long>(p.total), p.what.c_str(), p.eta_s);
    else std::snprintf(over, sizeof over, "%lld/%lld %s", static_cast<long long>(p.done), static_cast<long long>(p.total), p.what.c_str());
    ImGui::SetNextItemWidth(320);
    ImGui::ProgressBar(f, ImVec2(320, 0), over);
    ImGui::SameLine();
    ImGui::Text("%.1f s", running->seconds);
    ImGui::SameLine();
    if (ImGui::SmallButton("cancel")) s.workbench().cancel(running->id);
    if (queued) {
      ImGui::SameLine();
      ImGui::TextDisabled("+%d queued", queued);
    }
  } else {
    const wb::JobInfo* last = snap.jobs.empty() ? nullptr : &snap.jobs.front();
    if (last && last->state == wb::JobState::Failed)
      ImGui::TextColored(ImVec4(1, 0.45f, 0.4f, 1), "%s failed: %s", to_string(last->kind), last->error.c_str());
    else
      ImGui::TextDisabled("idle");
  }
  // Right-aligned: frame time and the store.
  // The frame time shown changes twice a second: a number that changes every frame is unreadable, and it would
  // make every frame differ from the last (the loop skips rendering frames that show nothing new).
  const double now = ImGui::GetTime();
  if (now - s.status_frame_ms_at >= 0.5 || s.status_frame_ms_at < 0 || (s.status_frame_ms == 0 && s.presented_frames.frames() > 0)) {
    s.status_frame_ms = s.presented_frames.recent_ms();
    s.status_frame_ms_at = now;
  }
  char frame_text[64] = "frame: not measured yet";
  if (s.status_frame_ms > 0) std::snprintf(frame_text, sizeof frame_text, "frame %.1f ms (median, last 30 drawn)", s.status_frame_ms);
  char right[160];
  std::snprintf(right, sizeof right, "%s   runs recorded: %lld", frame_text, static_cast<long long>(snap.runs_recorded));
  const float w = ImGui::CalcTextSize(right).x;
  ImGui::SameLine(std::max(ImGui::GetCursorPosX() + 20, ImGui::GetWindowContentRegionMax().x - w));
  ImGui::TextUnformatted(right);
}

}  // namespace hl::gui
