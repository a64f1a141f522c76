// Model panel: open an HF directory or a llama2.c .bin, pick device and dtype, see the shapes and the load's
// progress. A failed load shows the loader's own message here; the previous model stays usable.
#include <cinttypes>
#include <cstdio>

#include <imgui.h>
#include <imgui_stdlib.h>

#include "app/gui/panels.h"
#include "app/gui/recent_models.h"

namespace hl::gui {
namespace {

const wb::JobInfo* latest_load_job(const wb::Snapshot& snap) {
  for (const auto& j : snap.jobs)
    if (j.kind == wb::JobKind::Load) return &j;  // running and queued come first, then the newest finished
  return nullptr;
}

void shape_row(const char* name, const std::string& value) {
  ImGui::TableNextRow();
  ImGui::TableNextColumn();
  ImGui::TextDisabled("%s", name);
  ImGui::TableNextColumn();
  ImGui::TextUnformatted(value.c_str());
}

std::string num(int64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%" PRId64, v);
  return buf;
}

}  // namespace

void draw_model_panel(GuiState& s) {
  const auto& snap = s.snap();
  // Remember a model once it has loaded (not when the user merely typed a path).
  if (snap.model && snap.model->path != s.remembered_model) {
    s.remembered_model = snap.model->path;
    remember_model(s.recent_models, snap.model->path, s.recent_file);
    if (s.model_path_input.empty()) s.model_path_input = snap.model->path;
  }

  ImGui::TextUnformatted("Path (HF directory, llama2.c .bin, or a folder holding one)");
  ImGui::SetNextItemWidth(-70);
  const bool enter = ImGui::InputText("##model_path", &s.model_path_input, ImGuiInputTextFlags_EnterReturnsTrue);
  ImGui::SameLine();
  if ((ImGui::Button("Load", ImVec2(-1, 0)) || enter) && !s.model_path_input.empty()) s.load_model(s.model_path_input);

  static const char* devices[] = {"cpu", "cuda"};
  static const char* dtypes[] = {"auto", "f32", "bf16", "f16"};
  ImGui::SetNextItemWidth(80);
  if (ImGui::BeginCombo("device", s.device.c_str())) {
    for (const char* d : devices)
      if (ImGui::Selectable(d, s.device == d)) s.device = d;
    ImGui::EndCombo();
  }
  ImGui::SameLine();
  ImGui::SetNextItemWidth(80);
  if (ImGui::BeginCombo("dtype", s.dtype.c_str())) {
    for (const char* d : dtypes)
      if (ImGui::Selectable(d, s.dtype == d)) s.dtype = d;
    ImGui::EndCombo();
  }
  ImGui::SameLine();
  ImGui::SetNextItemWidth(-1);
  if (ImGui::BeginCombo("##recent", "recent models")) {
    if (s.recent_models.empty()) ImGui::TextDisabled("(none yet)");
    for (const auto& p : s.recent_models)
      if (ImGui::Selectable(p.c_str())) s.load_model(p);
    ImGui::EndCombo();
  }

  if (const wb::JobInfo* job = latest_load_job(snap)) {
    if (job->state == wb::JobState::Running || job->state == wb::JobState::Queued) {
      const auto& p = job->progress;
      const float f = p.total > 0 ? static_cast<float>(p.done) / static_cast<float>(p.total) : 0.f;
      char over[96];
      std::snprintf(over, sizeof over, "loading %" PRId64 "/%" PRId64 " %s", p.done, p.total, p.what.c_str());
      ImGui::ProgressBar(f, ImVec2(-1, 0), over);
    }
  }
  if (!snap.model_error.empty()) {
    ImGui::PushStyleColor(ImGuiCol_Text, IM_COL32(255, 110, 100, 255));
    ImGui::TextWrapped("Load failed: %s", snap.model_error.c_str());
    ImGui::PopStyleColor();
  }

  draw_field_issue(s, "model");
  if (!snap.model) {
    ImGui::TextDisabled("No model loaded.");
    return;
  }
  const auto& m = *snap.model;
  if (ImGui::BeginTable("shapes", 4, ImGuiTableFlags_SizingStretchProp | ImGuiTableFlags_RowBg)) {
    char buf[96];
    shape_row("type", m.model_type);
    ImGui::TableNextColumn();
    ImGui::TextDisabled("params");
    ImGui::TableNextColumn();
    std::snprintf(buf, sizeof buf, "%.3g M", static_cast<double>(m.params) / 1e6);
    ImGui::TextUnformatted(buf);
    shape_row("layers", num(m.n_layers));
    ImGui::TableNextColumn();
    ImGui::TextDisabled("heads (kv)");
    ImGui::TableNextColumn();
    std::snprintf(buf, sizeof buf, "%" PRId64 " (%" PRId64 ")", m.n_heads, m.n_kv_heads);
    ImGui::TextUnformatted(buf);
    shape_row("hidden", num(m.hidden));
    ImGui::TableNextColumn();
    ImGui::TextDisabled("head dim");
    ImGui::TableNextColumn();
    ImGui::TextUnformatted(num(m.head_dim).c_str());
    shape_row("vocab", num(m.vocab));
    ImGui::TableNextColumn();
    ImGui::TextDisabled("context");
    ImGui::TableNextColumn();
    ImGui::TextUnformatted(num(m.max_positions).c_str());
    std::snprintf(buf, sizeof buf, "%s / %s%s", m.device.c_str(), m.dtype.c_str(), m.packed ? ", packed" : "");
    shape_row("device", buf);
    ImGui::TableNextColumn();
    ImGui::TextDisabled("loaded in");
    ImGui::TableNextColumn();
    if (m.load_seconds < 1) std::snprintf(buf, sizeof buf, "%.0f ms", m.load_seconds * 1e3);
    else std::snprintf(buf, sizeof buf, "%.2f s", m.load_seconds);
    ImGui::TextUnformatted(buf);
    ImGui::EndTable();
  }
  ImGui::TextDisabled("%s", m.path.c_str());
}

}  // namespace hl::gui
