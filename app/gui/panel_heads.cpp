// Heads panel: every head of the model as one cell of an L x H grid, coloured by a per-head number of the current
// prompt. Click toggles a head in the steered set, drag sets a rectangle of heads, right-click (or a click on the
// layer label) picks the head the heatmap shows. Head sets load and save in PASTA's JSON format.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include <imgui.h>
#include <imgui_stdlib.h>

#include "app/gui/colormap.h"
#include "app/gui/panels.h"
#include "app/gui/plot_axes.h"
#include "core/error.h"

namespace hl::gui {
namespace {

// The statistics table's columns plus the head scan's KL, as the metric combo lists them.
struct MetricSource {
  std::vector<std::string> names;  // display names
  int scan_index = -1;             // the entry that reads Snapshot::scan
};

MetricSource metric_names(const wb::Snapshot& snap) {
  MetricSource m;
  const wb::HeadStatsTable* t = nullptr;
  if (snap.steered && snap.steered->stats) t = snap.steered->stats.get();
  else if (snap.baseline && snap.baseline->stats) t = snap.baseline->stats.get();
  if (t) m.names = t->names;
  else m.names = {"span_mass_after", "span_mass_last", "entropy", "max", "sink"};
  m.scan_index = static_cast<int>(m.names.size());
  m.names.push_back("scan: KL, steered alone (nats)");
  return m;
}

const wb::HeadStatsTable* table_of(const std::shared_ptr<const wb::VariantResult>& v) {
  return v && v->stats ? v->stats.get() : nullptr;
}

// The value of one cell, NaN when the variant has not been computed yet.
float cell_value(const GuiState& s, int metric, int scan_index, int64_t l, int64_t h) {
  const auto& snap = s.snap();
  if (metric == scan_index) {
    if (!snap.scan || l >= snap.scan->layers || h >= snap.scan->heads) return NAN;
    return snap.scan->kl[static_cast<size_t>(l * snap.scan->heads + h)];
  }
  auto read = [&](const wb::HeadStatsTable* t) {
    if (!t || l >= t->layers || h >= t->heads || metric >= static_cast<int>(t->names.size())) return NAN;
    return t->at(l, h, metric);
  };
  const float b = read(table_of(snap.baseline)), st = read(table_of(snap.steered));
  switch (s.head_variant) {
    case Variant::Baseline: return b;
    case Variant::Steered: return st;
    case Variant::Difference: return st - b;
  }
  return NAN;
}

// The published configs under head_config_dir, listed once (a directory walk is not for every frame).
void browse_configs(GuiState& s) {
  if (s.head_config_dir.empty()) return;
  ImGui::SetNextItemWidth(-1);
  if (!ImGui::BeginCombo("##configs", "published PASTA head configs...", ImGuiComboFlags_HeightLarge)) return;
  if (s.head_config_files.empty()) {
    std::error_code ec;
    for (auto it = std::filesystem::recursive_directory_iterator(s.head_config_dir, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
      if (it->is_regular_file() && it->path().extension() == ".json")
        s.head_config_files.push_back(std::filesystem::relative(it->path(), s.head_config_dir).string());
    std::sort(s.head_config_files.begin(), s.head_config_files.end());
    if (s.head_config_files.empty()) s.head_config_files.push_back("");  // looked: nothing there
  }
  for (const auto& f : s.head_config_files) {
    if (f.empty()) {
      ImGui::TextDisabled("(no .json files in %s)", s.head_config_dir.c_str());
      continue;
    }
    if (ImGui::Selectable(f.c_str())) {
      s.heads_file = (std::filesystem::path(s.head_config_dir) / f).string();
      s.load_heads_file();
    }
  }
  ImGui::EndCombo();
}

void heads_file_row(GuiState& s) {
  browse_configs(s);
  ImGui::SetNextItemWidth(-110);
  ImGui::InputTextWithHint("##heads_file", "head set file (PASTA JSON)", &s.heads_file);
  ImGui::SameLine();
  if (ImGui::Button("Load")) s.load_heads_file();
  ImGui::SameLine();
  if (ImGui::Button("Save")) s.save_heads_file();
}

}  // namespace

void draw_heads_panel(GuiState& s) {
  const auto& snap = s.snap();
  const MetricSource ms = metric_names(snap);
  if (s.head_metric != kHeadMetricScan) s.head_metric = std::clamp(s.head_metric, 0, ms.scan_index - 1);
  const int metric = s.head_metric == kHeadMetricScan ? ms.scan_index : s.head_metric;
  ImGui::SetNextItemWidth(std::max(120.f, ImGui::GetContentRegionAvail().x - 190));
  if (ImGui::BeginCombo("colour by", ms.names[static_cast<size_t>(metric)].c_str())) {
    for (int i = 0; i < static_cast<int>(ms.names.size()); ++i)
      if (ImGui::Selectable(ms.names[static_cast<size_t>(i)].c_str(), i == metric)) s.head_metric = i == ms.scan_index ? kHeadMetricScan : i;
    ImGui::EndCombo();
  }
  const bool scan = metric == ms.scan_index;
  if (!scan) {
    ImGui::SameLine();
    int v = static_cast<int>(s.head_variant);
    ImGui::SetNextItemWidth(-1);
    const char* variants[] = {"baseline", "steered", "steered - baseline"};
    if (ImGui::Combo("##variant", &v, variants, 3)) s.head_variant = static_cast<Variant>(v);
  } else {
    ImGui::SameLine();
    if (ImGui::Button("Scan heads")) s.workbench().scan_heads();
  }

  const int64_t L = s.n_layers(), H = s.n_heads();
  if (L == 0 || H == 0) {
    ImGui::TextDisabled("No model loaded.");
    heads_file_row(s);
    return;
  }
  // Colour range over the grid: symmetric around 0 for a difference.
  float lo = INFINITY, hi = -INFINITY;
  for (int64_t l = 0; l < L; ++l)
    for (int64_t h = 0; h < H; ++h) {
      const float v = cell_value(s, metric, ms.scan_index, l, h);
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
    }
  const bool diff = !scan && s.head_variant == Variant::Difference;
  const Colormap cmap = diff ? Colormap::Diverging : Colormap::Viridis;
  if (diff) {
    const float m = std::max({std::fabs(lo), std::fabs(hi), 1e-6f});
    lo = -m, hi = m;
  }
  const bool have_values = std::isfinite(lo);
  if (!have_values) lo = 0, hi = 1;
  if (!(hi > lo)) hi = lo + 1e-6f;

  // Geometry: a label column for layers and a header row for heads, square cells filling the width.
  const float fh = ImGui::GetFontSize();
  const float label_w = ImGui::CalcTextSize("L00").x + 8;
  const ImVec2 avail = ImGui::GetContentRegionAvail();
  const float grid_h_budget = avail.y - fh * 9.5f;  // colorbar, file row and the message below
  const float cell = std::clamp(std::min((avail.x - label_w) / static_cast<float>(H),
                                         (grid_h_budget - fh * 1.4f) / static_cast<float>(L)), 4.f, 44.f);
  const ImVec2 o = ImGui::GetCursorScreenPos();
  const ImVec2 g0(o.x + label_w, o.y + fh * 1.4f);
  s.grid_x = g0.x, s.grid_y = g0.y, s.grid_cell = cell;
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const ImU32 text = ImGui::GetColorU32(ImGuiCol_Text);
  ImGui::InvisibleButton("##grid", ImVec2(label_w + cell * H, fh * 1.4f + cell * L),
                         ImGuiButtonFlags_MouseButtonLeft | ImGuiButtonFlags_MouseButtonRight);
  const bool grid_hovered = ImGui::IsItemHovered();
  // Header labels, thinned when cells are narrow.
  const int head_step = std::max(1, static_cast<int>(std::ceil(ImGui::CalcTextSize("H00").x / cell)));
  for (int64_t h = 0; h < H; h += head_step) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "H%lld", static_cast<long long>(h));
    dl->AddText(ImVec2(g0.x + cell * h + 1, o.y), text, buf);
  }
  const int layer_step = std::max(1, static_cast<int>(std::ceil(fh / cell)));
  for (int64_t l = 0; l < L; l += layer_step) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "L%lld", static_cast<long long>(l));
    dl->AddText(ImVec2(o.x, g0.y + cell * l + (cell - fh) * 0.5f), s.doc().focus_layer == l && s.doc().focus_head < 0 ? IM_COL32(255, 220, 80, 255) : text, buf);
  }
  const HeadSet& set = s.doc().spec.heads;
  const bool pasta = s.doc().spec.method == SteeringMethod::Pasta;
  for (int64_t l = 0; l < L; ++l)
    for (int64_t h = 0; h < H; ++h) {
      const ImVec2 a(g0.x + cell * h, g0.y + cell * l), b(a.x + cell - 1, a.y + cell - 1);
      const float v = cell_value(s, metric, ms.scan_index, l, h);
      dl->AddRectFilled(a, b, std::isfinite(v) ? colormap_u32(cmap, (v - lo) / (hi - lo)) : IM_COL32(60, 60, 60, 255));
      if (wb::head_in_set(set, l, h)) {
        // Steered heads: a white frame (dimmed when the method ignores the head set).
        dl->AddRect(a, b, pasta ? IM_COL32(255, 255, 255, 255) : IM_COL32(255, 255, 255, 110), 0, 0, std::max(1.5f, cell * 0.12f));
      }
      if (s.doc().focus_layer == l && s.doc().focus_head == h)
        dl->AddRect(ImVec2(a.x + 2, a.y + 2), ImVec2(b.x - 2, b.y - 2), IM_COL32(255, 220, 80, 255), 0, 0, 2.f);
    }

  // Mouse: which cell is under it (clamped while dragging so a drag may leave the grid).
  const ImVec2 mp = ImGui::GetIO().MousePos;
  auto cell_at = [&](int64_t* l, int64_t* h, bool clamp) {
    const float fx = (mp.x - g0.x) / cell, fy = (mp.y - g0.y) / cell;
    *h = static_cast<int64_t>(std::floor(fx));
    *l = static_cast<int64_t>(std::floor(fy));
    if (clamp) {
      *h = std::clamp<int64_t>(*h, 0, H - 1);
      *l = std::clamp<int64_t>(*l, 0, L - 1);
      return true;
    }
    return *h >= 0 && *h < H && *l >= 0 && *l < L;
  };
  int64_t hl = -1, hh = -1;
  const bool over_cell = grid_hovered && cell_at(&hl, &hh, false);
  const bool over_label = grid_hovered && mp.x < g0.x && mp.y >= g0.y && mp.y < g0.y + cell * L;
  if (ImGui::IsItemClicked(ImGuiMouseButton_Left) && over_cell) {
    s.grid_drag_l0 = s.grid_drag_l1 = hl;
    s.grid_drag_h0 = s.grid_drag_h1 = hh;
    s.grid_drag_on = !wb::head_in_set(set, hl, hh);
  } else if (ImGui::IsItemClicked(ImGuiMouseButton_Left) && over_label) {
    s.select_head(static_cast<int64_t>((mp.y - g0.y) / cell), -1);
  }
  if (ImGui::IsItemClicked(ImGuiMouseButton_Right) && over_cell) s.select_head(hl, hh);
  if (s.grid_drag_l0 >= 0) {
    cell_at(&s.grid_drag_l1, &s.grid_drag_h1, true);
    const int64_t l0 = std::min(s.grid_drag_l0, s.grid_drag_l1), l1 = std::max(s.grid_drag_l0, s.grid_drag_l1);
    const int64_t h0 = std::min(s.grid_drag_h0, s.grid_drag_h1), h1 = std::max(s.grid_drag_h0, s.grid_drag_h1);
    dl->AddRect(ImVec2(g0.x + cell * h0, g0.y + cell * l0), ImVec2(g0.x + cell * (h1 + 1), g0.y + cell * (l1 + 1)),
                IM_COL32(120, 200, 255, 255), 0, 0, 2.f);
    if (!ImGui::IsMouseDown(ImGuiMouseButton_Left)) {
      if (l0 == l1 && h0 == h1) {
        s.toggle_head(l0, h0);
      } else {
        // One document change for the whole rectangle, so the workbench re-runs once.
        wb::Document d = s.doc();
        try {
          for (int64_t l = l0; l <= l1; ++l)
            for (int64_t h = h0; h <= h1; ++h) wb::set_head(d.spec.heads, l, h, s.grid_drag_on, L, H);
          s.set_document(d);
        } catch (const std::exception& e) {
          s.heads_message = e.what();  // a set with entries outside this model cannot be edited cell by cell
        }
      }
      s.grid_drag_l0 = -1;
    }
  }
  if (over_cell && s.grid_drag_l0 < 0) {
    ImGui::BeginTooltip();
    ImGui::Text("L%lldH%lld%s", static_cast<long long>(hl), static_cast<long long>(hh), wb::head_in_set(set, hl, hh) ? "  (steered)" : "");
    const wb::HeadStatsTable* tb = table_of(snap.baseline);
    const wb::HeadStatsTable* ts = table_of(snap.steered);
    const auto& names = tb ? tb->names : ts ? ts->names : ms.names;
    if ((tb || ts) && ImGui::BeginTable("tip", 3, ImGuiTableFlags_SizingFixedFit)) {
      ImGui::TableSetupColumn("statistic");
      ImGui::TableSetupColumn("baseline");
      ImGui::TableSetupColumn("steered");
      ImGui::TableHeadersRow();
      for (size_t k = 0; k < names.size(); ++k) {
        ImGui::TableNextRow();
        ImGui::TableNextColumn();
        ImGui::TextUnformatted(names[k].c_str());
        ImGui::TableNextColumn();
        if (tb && hl < tb->layers) ImGui::Text("%.4f", tb->at(hl, hh, static_cast<int64_t>(k))); else ImGui::TextDisabled("-");
        ImGui::TableNextColumn();
        if (ts && hl < ts->layers) ImGui::Text("%.4f", ts->at(hl, hh, static_cast<int64_t>(k))); else ImGui::TextDisabled("-");
      }
      ImGui::EndTable();
    }
    if (snap.scan && hl < snap.scan->layers) ImGui::Text("scan KL: %.4g nats", snap.scan->kl[static_cast<size_t>(hl * snap.scan->heads + hh)]);
    ImGui::TextDisabled("click: toggle steering   drag: set many   right-click: show in heatmap");
    ImGui::EndTooltip();
  }

  char title[160];
  std::snprintf(title, sizeof title, "%s%s%s", ms.names[static_cast<size_t>(metric)].c_str(), scan ? "" : ", ",
                scan ? "" : to_string(s.head_variant));
  draw_colorbar(cmap, lo, hi, false, ImVec2(std::min(avail.x, 360.f), fh * 3.2f), false, have_values ? title : "(not computed yet)");
  // Counted by hand: HeadSet::count throws for a set that does not fit this model (a 32-layer config here), and such
  // a set is shown (as a heads issue), not refused.
  int64_t count = 0, outside = 0;
  if (set.is_all()) count = L * H;
  for (const auto& e : set.entries()) {
    if (e.layer >= L) {
      outside += e.all_heads ? 1 : static_cast<int64_t>(e.heads.size());
      continue;
    }
    if (e.all_heads) count += H;
    for (int64_t h : e.heads) (h < H ? count : outside) += 1;
  }
  ImGui::TextWrapped("Steered set: %lld head%s%s%s", static_cast<long long>(count), count == 1 ? "" : "s",
                     outside ? " (+ entries outside this model)" : "",
                     pasta ? " (white frames)" : " (PASTA only; GUIDE and InstABoost steer whole layers)");
  draw_field_issue(s, "heads");
  heads_file_row(s);
  if (!s.heads_message.empty()) ImGui::TextWrapped("%s", s.heads_message.c_str());
}

}  // namespace hl::gui
