// Heads panel: every head of the model as one cell of an L x H grid, coloured by a per-head number of the current
// prompt (head statistics, the head scan's KL) or of the store (retrieval scores of the model's latest NIAH sweep).
// A click toggles a head in the steered set or, in ablate mode, the ablated set; a drag sets a rectangle of heads;
// right-click (or a click on the layer label) picks the head the heatmap shows. Steered heads have a white frame,
// ablated ones a red cross. Head sets load and save in PASTA's JSON format (the steered set).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include <imgui.h>
#include <imgui_stdlib.h>

#include "app/gui/colormap.h"
#include "app/gui/head_metrics.h"
#include "app/gui/panels.h"
#include "app/gui/plot_axes.h"
#include "core/error.h"

namespace hl::gui {
namespace {

// The statistics table's columns, then the head scan's KL and the store's retrieval scores, as the colour menu
// lists them.
struct MetricSource {
  std::vector<std::string> names;  // statistic names, then "scan", "retrieval"
  int scan_index = -1, retrieval_index = -1;
  int index_of(int head_metric) const {
    if (head_metric == kHeadMetricScan) return scan_index;
    if (head_metric == kHeadMetricRetrieval) return retrieval_index;
    return std::clamp(head_metric, 0, scan_index - 1);
  }
  int head_metric_of(int index) const {
    return index == scan_index ? kHeadMetricScan : index == retrieval_index ? kHeadMetricRetrieval : index;
  }
};

MetricSource metric_names(const wb::Snapshot& snap) {
  MetricSource m;
  m.names = head_stat_names(snap);
  m.scan_index = static_cast<int>(m.names.size());
  m.names.push_back("scan");
  m.retrieval_index = static_cast<int>(m.names.size());
  m.names.push_back("retrieval");
  return m;
}

// The retrieval scores when they are for this model's shape (a read for the previous model may still be on screen
// for a frame).
const wb::RetrievalScores* retrieval_of(const GuiState& s) {
  const auto& r = s.retrieval;
  if (!r.available() || r.layers != s.n_layers() || r.heads != s.n_heads()) return nullptr;
  return &r;
}

const wb::HeadStatsTable* table_of(const std::shared_ptr<const wb::VariantResult>& v) {
  return v && v->stats ? v->stats.get() : nullptr;
}

// The value of one cell, NaN when the variant has not been computed yet.
float cell_value(const GuiState& s, int metric, const MetricSource& ms, int64_t l, int64_t h) {
  const auto& snap = s.snap();
  if (metric == ms.retrieval_index) {
    const wb::RetrievalScores* r = retrieval_of(s);
    if (!r) return NAN;
    return r->score[static_cast<size_t>(l * r->heads + h)];
  }
  if (metric == ms.scan_index) {
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

// The two marks on a cell: steered = a white frame (dimmed when the method ignores the head set); ablated = a red
// cross with a dark edge, readable on every colour of the map.
void draw_steered_mark(ImDrawList* dl, ImVec2 a, ImVec2 b, float width, bool active) {
  dl->AddRect(a, b, active ? IM_COL32(255, 255, 255, 255) : IM_COL32(255, 255, 255, 110), 0, 0, width);
}
void draw_ablated_mark(ImDrawList* dl, ImVec2 a, ImVec2 b, float cell) {
  const float in = std::max(2.f, cell * 0.18f), w = std::max(1.5f, cell * 0.09f);
  const ImVec2 p0(a.x + in, a.y + in), p1(b.x - in, b.y - in), q0(a.x + in, b.y - in), q1(b.x - in, a.y + in);
  for (int pass = 0; pass < 2; ++pass) {
    const ImU32 c = pass == 0 ? IM_COL32(0, 0, 0, 200) : IM_COL32(255, 80, 60, 255);
    const float t = pass == 0 ? w + 2 : w;
    dl->AddLine(p0, p1, c, t);
    dl->AddLine(q0, q1, c, t);
  }
}

// One legend row: a sample cell with each mark, and how many heads carry it.
void draw_marks_legend(GuiState& s, int64_t L, int64_t H, float frame_w, bool pasta) {
  const auto& spec = s.doc().spec;
  const HeadCount st = count_heads(spec.heads, L, H), ab = count_heads(spec.ablate, L, H);
  const float fh = ImGui::GetFontSize(), box = fh;
  ImDrawList* dl = ImGui::GetWindowDrawList();
  auto sample = [&](bool ablated_mark) {
    const ImVec2 a = ImGui::GetCursorScreenPos();
    const ImVec2 b(a.x + box, a.y + box);
    dl->AddRectFilled(a, b, colormap_u32(Colormap::Viridis, 0.45f));
    if (ablated_mark) draw_ablated_mark(dl, a, b, box);
    else draw_steered_mark(dl, a, b, std::min(frame_w, 2.f), true);
    ImGui::Dummy(ImVec2(box, box));
    ImGui::SameLine();
  };
  char buf[200];
  sample(false);
  std::snprintf(buf, sizeof buf, "steered: %lld head%s%s%s", static_cast<long long>(st.inside), st.inside == 1 ? "" : "s",
                st.outside ? " (+ entries outside this model)" : "", pasta ? "" : ", used by PASTA only");
  ImGui::TextUnformatted(buf);
  sample(true);
  std::snprintf(buf, sizeof buf, "ablated (%s): %lld head%s%s", to_string(spec.ablation), static_cast<long long>(ab.inside),
                ab.inside == 1 ? "" : "s", ab.outside ? " (+ entries outside this model)" : "");
  ImGui::TextUnformatted(buf);
}

// The store's ISO-8601 UTC time ("2026-05-01T12:00:00.123Z") as "2026-05-01 12:00:00 UTC".
std::string readable_time(std::string t) {
  if (t.size() >= 19 && t[10] == 'T') return t.substr(0, 10) + " " + t.substr(11, 8) + " UTC";
  return t;
}

void head_tooltip(const GuiState& s, const MetricSource& ms, int64_t hl, int64_t hh) {
  const auto& snap = s.snap();
  const auto& spec = s.doc().spec;
  const bool steered = wb::head_in_set(spec.heads, hl, hh), ablated = wb::head_in_set(spec.ablate, hl, hh);
  ImGui::BeginTooltip();
  ImGui::Text("L%lldH%lld%s%s", static_cast<long long>(hl), static_cast<long long>(hh), steered ? "  (steered)" : "",
              ablated ? (spec.ablation == AblationMode::Mean ? "  (ablated: mean)" : "  (ablated: zero)") : "");
  const wb::HeadStatsTable* tb = table_of(snap.baseline);
  const wb::HeadStatsTable* ts = table_of(snap.steered);
  const auto& names = tb ? tb->names : ts ? ts->names : ms.names;
  if ((tb || ts) && ImGui::BeginTable("tip", 4, ImGuiTableFlags_SizingFixedFit)) {
    ImGui::TableSetupColumn("statistic");
    ImGui::TableSetupColumn("unit");
    ImGui::TableSetupColumn("baseline");
    ImGui::TableSetupColumn("steered");
    ImGui::TableHeadersRow();
    for (size_t k = 0; k < names.size(); ++k) {
      const HeadMetricInfo info = head_metric_info(names[k]);
      ImGui::TableNextRow();
      ImGui::TableNextColumn();
      ImGui::TextUnformatted(info.label.c_str());
      ImGui::TableNextColumn();
      ImGui::TextDisabled("%s", info.unit.c_str());
      ImGui::TableNextColumn();
      if (tb && hl < tb->layers) ImGui::Text("%.4f", tb->at(hl, hh, static_cast<int64_t>(k))); else ImGui::TextDisabled("-");
      ImGui::TableNextColumn();
      if (ts && hl < ts->layers) ImGui::Text("%.4f", ts->at(hl, hh, static_cast<int64_t>(k))); else ImGui::TextDisabled("-");
    }
    ImGui::EndTable();
  }
  if (snap.scan && hl < snap.scan->layers) ImGui::Text("scan KL: %.4g nats", snap.scan->kl[static_cast<size_t>(hl * snap.scan->heads + hh)]);
  if (const wb::RetrievalScores* r = retrieval_of(s)) {
    const auto k = static_cast<size_t>(hl * r->heads + hh);
    ImGui::Text("retrieval score: %.3f (%lld of %lld copy steps), NIAH run #%lld", r->score[k],
                static_cast<long long>(r->hits[k]), static_cast<long long>(r->copy_steps), static_cast<long long>(r->run_id));
  }
  ImGui::TextDisabled(s.head_click == HeadClick::Ablate
                          ? "click: toggle ablation   drag: set many   right-click: show in heatmap"
                          : "click: toggle steering   drag: set many   right-click: show in heatmap");
  ImGui::EndTooltip();
}

}  // namespace

void draw_heads_panel(GuiState& s) {
  const auto& snap = s.snap();
  const MetricSource ms = metric_names(snap);
  const int metric = ms.index_of(s.head_metric);
  s.head_metric = ms.head_metric_of(metric);
  const bool scan = metric == ms.scan_index, retrieval = metric == ms.retrieval_index;
  const std::string metric_name = ms.names[static_cast<size_t>(metric)];
  ImGui::SetNextItemWidth(std::max(120.f, ImGui::GetContentRegionAvail().x - ImGui::CalcTextSize("colour by").x - 8));
  if (ImGui::BeginCombo("colour by", head_metric_info(metric_name).label.c_str(), ImGuiComboFlags_HeightLarge)) {
    if (ImGui::IsWindowAppearing()) s.refresh_retrieval();  // the store may have a new NIAH run since the last read
    for (int i = 0; i < static_cast<int>(ms.names.size()); ++i) {
      const std::string& name = ms.names[static_cast<size_t>(i)];
      const HeadMetricInfo info = head_metric_info(name);
      if (i == ms.scan_index || i == ms.retrieval_index) ImGui::Separator();
      const bool off = i == ms.retrieval_index && !retrieval_of(s);
      if (ImGui::Selectable(head_metric_title(name).c_str(), i == metric, off ? ImGuiSelectableFlags_Disabled : 0))
        s.set_head_colour(name);
      if (ImGui::IsItemHovered(ImGuiHoveredFlags_AllowWhenDisabled)) {
        ImGui::BeginTooltip();
        ImGui::PushTextWrapPos(ImGui::GetFontSize() * 36);
        if (off)
          ImGui::TextUnformatted(s.retrieval_pending() ? "reading the store..." : s.retrieval.missing.c_str());
        else
          ImGui::TextUnformatted(info.help.c_str());
        ImGui::PopTextWrapPos();
        ImGui::EndTooltip();
      }
    }
    ImGui::EndCombo();
  }
  if (scan) {
    if (ImGui::Button("Scan heads")) s.workbench().scan_heads();
  } else if (retrieval) {
    if (ImGui::Button("Re-read store")) s.refresh_retrieval();
  } else {
    int v = static_cast<int>(s.head_variant);
    ImGui::SetNextItemWidth(-1);
    const char* variants[] = {"baseline", "steered", "steered - baseline"};
    if (ImGui::Combo("##variant", &v, variants, 3)) s.head_variant = static_cast<Variant>(v);
  }
  // What a click edits.
  ImGui::TextUnformatted("click toggles:");
  ImGui::SameLine();
  if (ImGui::RadioButton("steer", s.head_click == HeadClick::Steer)) s.head_click = HeadClick::Steer;
  ImGui::SameLine();
  if (ImGui::RadioButton("ablate", s.head_click == HeadClick::Ablate)) s.head_click = HeadClick::Ablate;
  ImGui::SameLine();
  help_marker("steer: the head joins or leaves the steered set (PASTA's heads).\n"
              "ablate: the head's output is zeroed or replaced by its mean (Steering panel: ablation),\n"
              "with any steering method, none included. The steered continuation re-runs at once.");

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
      const float v = cell_value(s, metric, ms, l, h);
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
    }
  const bool stats = !scan && !retrieval;
  const bool diff = stats && s.head_variant == Variant::Difference;
  const Colormap cmap = diff ? Colormap::Diverging : Colormap::Viridis;
  if (diff) {
    const float m = std::max({std::fabs(lo), std::fabs(hi), 1e-6f});
    lo = -m, hi = m;
  }
  const bool have_values = std::isfinite(lo) && std::isfinite(hi);
  if (!have_values || retrieval) lo = 0, hi = 1;  // retrieval scores are fractions: one fixed scale, 0 to 1
  if (!(hi > lo)) hi = lo + 1e-6f;

  // Geometry: a label column for layers and a header row for heads, square cells filling the width.
  const float fh = ImGui::GetFontSize();
  const float label_w = ImGui::CalcTextSize("L00").x + 8;
  const ImVec2 avail = ImGui::GetContentRegionAvail();
  const float grid_h_budget = avail.y - fh * (retrieval ? 11.5f : 9.5f);  // colorbar, legend, source line, file row and the message below
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
  const HeadSet& ablated = s.doc().spec.ablate;
  const bool pasta = s.doc().spec.method == SteeringMethod::Pasta;
  const float frame_w = std::max(1.5f, cell * 0.12f);
  for (int64_t l = 0; l < L; ++l)
    for (int64_t h = 0; h < H; ++h) {
      const ImVec2 a(g0.x + cell * h, g0.y + cell * l), b(a.x + cell - 1, a.y + cell - 1);
      const float v = cell_value(s, metric, ms, l, h);
      dl->AddRectFilled(a, b, std::isfinite(v) ? colormap_u32(cmap, (v - lo) / (hi - lo)) : IM_COL32(60, 60, 60, 255));
      // Steered heads: a white frame (dimmed when the method ignores the head set).
      if (wb::head_in_set(set, l, h)) draw_steered_mark(dl, a, b, frame_w, pasta);
      if (wb::head_in_set(ablated, l, h)) draw_ablated_mark(dl, a, b, cell);
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
  const bool ablate_mode = s.head_click == HeadClick::Ablate;
  const HeadSet& edited = ablate_mode ? ablated : set;
  int64_t hl = -1, hh = -1;
  const bool over_cell = grid_hovered && cell_at(&hl, &hh, false);
  const bool over_label = grid_hovered && mp.x < g0.x && mp.y >= g0.y && mp.y < g0.y + cell * L;
  if (ImGui::IsItemClicked(ImGuiMouseButton_Left) && over_cell) {
    s.grid_drag_l0 = s.grid_drag_l1 = hl;
    s.grid_drag_h0 = s.grid_drag_h1 = hh;
    s.grid_drag_on = !wb::head_in_set(edited, hl, hh);
  } else if (ImGui::IsItemClicked(ImGuiMouseButton_Left) && over_label) {
    s.select_head(static_cast<int64_t>((mp.y - g0.y) / cell), -1);
  }
  if (ImGui::IsItemClicked(ImGuiMouseButton_Right) && over_cell) s.select_head(hl, hh);
  if (s.grid_drag_l0 >= 0) {
    cell_at(&s.grid_drag_l1, &s.grid_drag_h1, true);
    const int64_t l0 = std::min(s.grid_drag_l0, s.grid_drag_l1), l1 = std::max(s.grid_drag_l0, s.grid_drag_l1);
    const int64_t h0 = std::min(s.grid_drag_h0, s.grid_drag_h1), h1 = std::max(s.grid_drag_h0, s.grid_drag_h1);
    dl->AddRect(ImVec2(g0.x + cell * h0, g0.y + cell * l0), ImVec2(g0.x + cell * (h1 + 1), g0.y + cell * (l1 + 1)),
                ablate_mode ? IM_COL32(255, 120, 90, 255) : IM_COL32(120, 200, 255, 255), 0, 0, 2.f);
    if (!ImGui::IsMouseDown(ImGuiMouseButton_Left)) {
      if (l0 == l1 && h0 == h1) {
        s.click_head(l0, h0);
      } else {
        // One document change for the whole rectangle, so the workbench re-runs once.
        wb::Document d = s.doc();
        HeadSet& target = ablate_mode ? d.spec.ablate : d.spec.heads;
        try {
          for (int64_t l = l0; l <= l1; ++l)
            for (int64_t h = h0; h <= h1; ++h) wb::set_head(target, l, h, s.grid_drag_on, L, H);
          s.set_document(d);
        } catch (const std::exception& e) {
          s.heads_message = e.what();  // a set with entries outside this model cannot be edited cell by cell
        }
      }
      s.grid_drag_l0 = -1;
    }
  }
  if (over_cell && s.grid_drag_l0 < 0) head_tooltip(s, ms, hl, hh);

  // The colour scale, then the legend of the marks and where the colours come from.
  // The variant is in the combo above; the title names the number and its unit (the label alone if that is too wide).
  const float bar_w = std::min(avail.x, 360.f);
  std::string title = head_metric_title(metric_name);
  if (ImGui::CalcTextSize(title.c_str()).x > bar_w) title = head_metric_info(metric_name).label;
  if (!have_values && !retrieval) title = scan ? "scan: press Scan heads" : "(not computed yet)";
  if (retrieval && !retrieval_of(s)) title = "retrieval scores: not available (below)";
  draw_colorbar(cmap, lo, hi, false, ImVec2(bar_w, fh * 3.2f), false, title.c_str());
  draw_marks_legend(s, L, H, frame_w, pasta);
  if (retrieval) {
    if (const wb::RetrievalScores* r = retrieval_of(s))
      ImGui::TextWrapped("from NIAH run #%lld (%s), sweep %lld, method %s: %lld copy steps over %lld cell%s",
                         static_cast<long long>(r->run_id), readable_time(r->run_created_at).c_str(), static_cast<long long>(r->sweep_id),
                         r->method.c_str(), static_cast<long long>(r->copy_steps), static_cast<long long>(r->cells),
                         r->cells == 1 ? "" : "s");
    else
      ImGui::TextDisabled("%s", s.retrieval_pending() ? "reading the store..." : s.retrieval.missing.c_str());
  }
  draw_field_issue(s, "heads");
  draw_field_issue(s, "ablate");
  heads_file_row(s);
  if (!s.heads_message.empty()) ImGui::TextWrapped("%s", s.heads_message.c_str());
}

}  // namespace hl::gui
