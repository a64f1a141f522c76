// Runs panel: what the store holds (Workbench::list_runs, read on a read-only connection when the count changes),
// reopen a run into the panels, delete it, or export it (CSV / JSON / PNG through the store's exporters).
#include <chrono>
#include <cstdio>
#include <future>

#include <imgui.h>
#include <imgui_stdlib.h>

#include "app/gui/panels.h"

namespace hl::gui {
namespace {

const char* kFormats[] = {"csv", "json", "png"};

const wb::JobInfo* find_job(const wb::Snapshot& snap, uint64_t id) {
  for (const auto& j : snap.jobs)
    if (j.id == id) return &j;
  return nullptr;
}

}  // namespace

void draw_runs_panel(GuiState& s) {
  const auto& snap = s.snap();
  auto& wb = s.workbench();
  if (wb.db_path().empty()) {
    ImGui::TextDisabled("No store: start with --db FILE to record runs.");
    return;
  }
  // A delete or export finished: say how, and re-read the list.
  if (s.runs_pending_job) {
    if (const wb::JobInfo* j = find_job(snap, s.runs_pending_job)) {
      if (j->state == wb::JobState::Done || j->state == wb::JobState::Failed || j->state == wb::JobState::Cancelled) {
        s.runs_message = j->label + ": " + (j->state == wb::JobState::Done ? std::string("done") : j->error.empty() ? to_string(j->state) : j->error);
        s.runs_pending_job = 0;
        s.runs_refresh = true;
      }
    }
  }
  // The store is read on a helper thread (list_runs opens its own read-only connection, and SQLite may wait on the
  // worker's write lock): the frame never waits for it. A failed read (e.g. the worker is still creating the store)
  // is shown and tried again with the next run.
  if (s.runs_future.valid() && s.runs_future.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
    try {
      s.runs = s.runs_future.get();
      s.runs_error.clear();
    } catch (const std::exception& e) {
      s.runs_error = e.what();
    }
  }
  if ((s.runs_refresh || s.runs_seen_recorded != snap.runs_recorded) && !s.runs_future.valid()) {
    s.runs_future = std::async(std::launch::async, [&wb] { return wb.list_runs(); });
    s.runs_seen_recorded = snap.runs_recorded;
    s.runs_refresh = false;
  }
  if (ImGui::Button("Refresh")) s.runs_refresh = true;
  ImGui::SameLine();
  ImGui::SetNextItemWidth(70);
  ImGui::Combo("export as", &s.export_format, kFormats, 3);
  ImGui::SameLine();
  ImGui::SetNextItemWidth(-1);
  ImGui::InputTextWithHint("##export_dir", "export folder", &s.export_dir);
  ImGui::TextDisabled("%s: %zu runs (%lld this session)", snap.store_path.empty() ? wb.db_path().c_str() : snap.store_path.c_str(),
                      s.runs.size(), static_cast<long long>(snap.runs_recorded));
  if (!snap.store_error.empty()) ImGui::TextColored(ImVec4(1, 0.45f, 0.4f, 1), "%s", snap.store_error.c_str());
  if (!s.runs_error.empty()) ImGui::TextColored(ImVec4(1, 0.45f, 0.4f, 1), "%s", s.runs_error.c_str());
  if (!s.runs_message.empty()) ImGui::TextWrapped("%s", s.runs_message.c_str());

  const ImGuiTableFlags flags = ImGuiTableFlags_RowBg | ImGuiTableFlags_ScrollY | ImGuiTableFlags_BordersInnerV |
                                ImGuiTableFlags_Resizable;
  if (!ImGui::BeginTable("runs", 5, flags, ImVec2(0, 0))) return;
  ImGui::TableSetupScrollFreeze(0, 1);
  const float fh = ImGui::GetFontSize();
  ImGui::TableSetupColumn("id", ImGuiTableColumnFlags_WidthFixed, fh * 1.8f);
  ImGui::TableSetupColumn("kind", ImGuiTableColumnFlags_WidthFixed, ImGui::CalcTextSize("generate").x + 4);
  ImGui::TableSetupColumn("status", ImGuiTableColumnFlags_WidthFixed, ImGui::CalcTextSize("status").x + 4);
  ImGui::TableSetupColumn("prompt", ImGuiTableColumnFlags_WidthStretch);
  ImGui::TableSetupColumn("", ImGuiTableColumnFlags_WidthFixed, ImGui::CalcTextSize("open export delete").x + 28);
  ImGui::TableHeadersRow();
  for (const auto& r : s.runs) {
    ImGui::PushID(static_cast<int>(r.id));
    ImGui::TableNextRow();
    ImGui::TableNextColumn();
    ImGui::Text("%lld", static_cast<long long>(r.id));
    ImGui::TableNextColumn();
    ImGui::TextUnformatted(r.kind.c_str());
    ImGui::TableNextColumn();
    ImGui::TextUnformatted(r.status.c_str());
    ImGui::TableNextColumn();
    ImGui::TextUnformatted(r.prompt_text.c_str());
    if (ImGui::IsItemHovered())
      ImGui::SetTooltip("%s\n%s\nmodel %s\n%lld generations", r.prompt_text.c_str(), r.created_at.c_str(), r.model_path.c_str(),
                        static_cast<long long>(r.n_generations));
    ImGui::TableNextColumn();
    if (ImGui::SmallButton("open")) s.reopen_run(r.id);
    ImGui::SameLine();
    if (ImGui::SmallButton("export")) {
      const std::string dir = s.export_dir.empty() ? "." : s.export_dir;
      s.export_run(r.id, kFormats[s.export_format], dir + "/run-" + std::to_string(r.id) + "." + kFormats[s.export_format]);
    }
    ImGui::SameLine();
    if (ImGui::SmallButton("delete")) s.delete_run(r.id);
    ImGui::PopID();
  }
  ImGui::EndTable();
}

}  // namespace hl::gui
