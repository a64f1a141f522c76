// Steering panel: the method and its strengths, and the two continuations side by side. Every change goes to the
// workbench at once (it cancels the stale run and reuses its cached layers), so the steered text follows the
// slider while the baseline stays put. Tokens that differ from the baseline are highlighted.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include <imgui.h>
#include <imgui_stdlib.h>

#include "app/gui/panels.h"
#include "app/gui/token_chips.h"
#include "app/gui/token_diff.h"

namespace hl::gui {
namespace {

std::string layers_text(const LayerSelection& sel) {
  switch (sel.kind) {
    case LayerSelection::Kind::All: return "all";
    case LayerSelection::Kind::None: return "none";
    case LayerSelection::Kind::First: return "first";
    case LayerSelection::Kind::Last: return "last";
    case LayerSelection::Kind::List: break;
  }
  std::string out;
  for (size_t i = 0; i < sel.list.size(); ++i) out += (i ? "," : "") + std::to_string(sel.list[i]);
  return out;
}

bool parse_layers(const std::string& text, LayerSelection* out) {
  LayerSelection sel;
  if (text == "all") sel.kind = LayerSelection::Kind::All;
  else if (text == "none") sel.kind = LayerSelection::Kind::None;
  else if (text == "first") sel.kind = LayerSelection::Kind::First;
  else if (text == "last") sel.kind = LayerSelection::Kind::Last;
  else {
    sel.kind = LayerSelection::Kind::List;
    std::stringstream ss(text);
    std::string item;
    while (std::getline(ss, item, ',')) {
      item.erase(0, item.find_first_not_of(' '));
      item.erase(item.find_last_not_of(' ') + 1);
      if (item.empty() || item.find_first_not_of("0123456789") != std::string::npos || item.size() > 6) return false;
      sel.list.push_back(std::stoll(item));
    }
    if (sel.list.empty()) return false;
  }
  *out = sel;
  return true;
}

const char* status_of(const wb::Continuation& c) {
  if (c.cancelled) return "cancelled";
  if (c.finished) return "done";
  return "streaming...";
}

void draw_continuation(const char* title, const std::shared_ptr<const wb::VariantResult>& mine,
                       const std::shared_ptr<const wb::VariantResult>& other, bool steered_side,
                       const std::vector<char>& changed_flags) {
  ImGui::TextUnformatted(title);
  if (!mine) {
    ImGui::SameLine();
    ImGui::TextDisabled("(waiting)");
    return;
  }
  const auto& c = mine->continuation;
  ImGui::SameLine();
  ImGui::TextDisabled("%zu tokens, %s, %.2f s", c.ids.size(), status_of(c), c.seconds);
  const wb::Continuation* o = other ? &other->continuation : nullptr;
  const ChipsResult r = draw_token_chips(c.token_texts, [&](size_t i) {
    ChipStyle st;
    if (o && i < changed_flags.size() && changed_flags[i])
      st.background = steered_side ? IM_COL32(170, 70, 50, 255) : IM_COL32(45, 95, 175, 255);
    return st;
  });
  if (r.hovered >= 0) {
    const size_t i = static_cast<size_t>(r.hovered);
    const auto* base = steered_side ? o : &c;
    const auto* steer = steered_side ? &c : o;
    ImGui::BeginTooltip();
    ImGui::Text("generated token %zu", i);
    auto row = [&](const char* name, const wb::Continuation* k) {
      if (k && i < k->ids.size())
        ImGui::Text("%-9s \"%s\" (id %lld)  p = %.3f", name, k->token_texts[i].c_str(), static_cast<long long>(k->ids[i]),
                    i < k->probs.size() ? k->probs[i] : NAN);
      else
        ImGui::Text("%-9s -", name);
    };
    row("baseline", base);
    row("steered", steer);
    ImGui::TextDisabled("p: the probability each run gave the token it chose");
    ImGui::EndTooltip();
  }
}

}  // namespace

void draw_steering_panel(GuiState& s) {
  const auto& spec = s.doc().spec;
  const float label_w = 150;
  ImGui::PushItemWidth(-label_w);

  int method = static_cast<int>(spec.method);
  const char* methods[] = {"none", "PASTA (scale attention outside the span by alpha)", "GUIDE (add delta to the span's logits)",
                           "InstABoost (multiply attention on the span)"};
  if (ImGui::Combo("method", &method, methods, 4)) s.set_method(static_cast<SteeringMethod>(method));
  draw_field_issue(s, "method");

  const bool pasta = spec.method == SteeringMethod::Pasta;
  const bool guide = spec.method == SteeringMethod::Guide;
  const bool insta = spec.method == SteeringMethod::InstaBoost;

  ImGui::BeginDisabled(!pasta);
  float alpha = static_cast<float>(spec.alpha);
  if (ImGui::SliderFloat("alpha (PASTA)", &alpha, 1e-4f, 1.0f, "%.4g", ImGuiSliderFlags_Logarithmic)) s.set_alpha(alpha);
  ImGui::SameLine();
  help_marker("Attention to prompt tokens outside the span is multiplied by alpha\n(log alpha added to their logits) on the steered heads. 1 = no steering.");
  draw_field_issue(s, "alpha");
  int scale = static_cast<int>(spec.scale_position);
  const char* scales[] = {"exclude (official)", "include", "generation"};
  if (ImGui::Combo("scale position", &scale, scales, 3)) s.set_scale_position(static_cast<ScalePosition>(scale));
  for (const char* f : {"scale_position", "head_index", "multispan", "span_match"}) draw_field_issue(s, f);
  ImGui::EndDisabled();

  ImGui::BeginDisabled(!guide);
  float delta = static_cast<float>(spec.delta);
  if (ImGui::SliderFloat("delta (GUIDE, logits)", &delta, 0.f, 5.f, "%.2f")) s.set_delta(delta);
  draw_field_issue(s, "delta");
  ImGui::EndDisabled();

  ImGui::BeginDisabled(!insta);
  float mult = static_cast<float>(spec.multiplier);
  if (ImGui::SliderFloat("multiplier (InstABoost)", &mult, 1.f, 100.f, "x%.2f", ImGuiSliderFlags_Logarithmic)) s.set_multiplier(mult);
  draw_field_issue(s, "multiplier");
  ImGui::EndDisabled();

  ImGui::BeginDisabled(!(guide || insta));
  // The text field holds the user's edit until it parses; a bad entry is named next to it.
  if (!s.layers_edit_active) s.layers_edit = layers_text(spec.layers);
  ImGui::InputText("layers (all|first|last|0,2)", &s.layers_edit);
  s.layers_edit_active = ImGui::IsItemActive();
  if (ImGui::IsItemDeactivatedAfterEdit()) {
    LayerSelection sel;
    if (parse_layers(s.layers_edit, &sel)) {
      s.layers_error.clear();
      s.set_layers(sel);
    } else {
      s.layers_error = "layers: \"" + s.layers_edit + "\" is not all, none, first, last or a list like 0,2";
    }
  }
  if (!s.layers_error.empty()) ImGui::TextColored(ImVec4(1, 0.45f, 0.4f, 1), "%s", s.layers_error.c_str());
  draw_field_issue(s, "layers");
  ImGui::EndDisabled();

  ImGui::BeginDisabled(spec.method == SteeringMethod::None);
  int apply = static_cast<int>(spec.apply_at);
  const char* applies[] = {"prefill and every decode step", "prefill only"};
  if (ImGui::Combo("apply at", &apply, applies, 2)) s.set_apply_at(static_cast<ApplyAt>(apply));
  draw_field_issue(s, "apply_at");
  ImGui::EndDisabled();

  // Head ablation: a second operator on heads, with any method (none included); the Heads panel's ablate mode picks
  // the heads.
  int abl = spec.ablation == AblationMode::Mean ? 1 : 0;
  const char* ablations[] = {"zero (output x 0)", "mean (its mean over the prompt)"};
  if (ImGui::Combo("ablation", &abl, ablations, 2)) s.set_ablation(abl == 1 ? AblationMode::Mean : AblationMode::Zero);
  ImGui::SameLine();
  help_marker("An ablated head's output (before the output projection) is multiplied by 0 (zero)\n"
              "or replaced by its mean over the prompt's positions, unsteered (mean).\n"
              "Pick the heads in the Heads panel with \"click toggles: ablate\".");
  const HeadCount ab = count_heads(spec.ablate, s.n_layers(), s.n_heads());
  ImGui::Text("ablated heads: %lld%s", static_cast<long long>(ab.inside), ab.outside ? " (+ entries outside this model)" : "");
  if (ab.inside + ab.outside > 0) {
    ImGui::SameLine();
    if (ImGui::SmallButton("clear##ablate")) s.set_ablate(HeadSet{});
  } else {
    ImGui::SameLine();
    ImGui::TextDisabled("(Heads panel: click toggles ablate)");
  }
  draw_field_issue(s, "ablate");
  draw_field_issue(s, "ablation");

  int max_new = static_cast<int>(s.doc().sampling.max_new_tokens);
  if (ImGui::SliderInt("new tokens", &max_new, 1, 256)) s.set_max_new_tokens(max_new);
  draw_field_issue(s, "sampling");
  ImGui::PopItemWidth();
  if (ImGui::Button("Re-run both")) s.workbench().rerun();
  ImGui::SameLine();
  ImGui::TextDisabled("highlighted: tokens the other text lacks");
  ImGui::SameLine();
  help_marker("Tokens outside the longest common subsequence of the two continuations.\nHover a token for both runs' token and probability at that position.");

  ImGui::Separator();
  draw_stale_note(s);
  const auto& snap = s.snap();
  // The diff is recomputed when either continuation changes (a new token streamed in), not every frame.
  auto& dc = s.token_diff_cache;
  const wb::Continuation* bc = snap.baseline ? &snap.baseline->continuation : nullptr;
  const wb::Continuation* sc = snap.steered ? &snap.steered->continuation : nullptr;
  const size_t bn = bc ? bc->ids.size() : 0, sn = sc ? sc->ids.size() : 0;
  if (dc.baseline != bc || dc.steered != sc || dc.baseline_n != bn || dc.steered_n != sn) {
    dc = {bc, sc, bn, sn, bc && sc ? diff_tokens(bc->ids, sc->ids) : TokenDiff{}};
  }
  const float w = ImGui::GetContentRegionAvail().x;
  ImGui::BeginChild("baseline_text", ImVec2(w * 0.5f - 4, 0), true);
  draw_continuation("Baseline", snap.baseline, snap.steered, false, dc.diff.a_changed);
  ImGui::EndChild();
  ImGui::SameLine();
  ImGui::BeginChild("steered_text", ImVec2(0, 0), true);
  draw_continuation("Steered", snap.steered, snap.baseline, true, dc.diff.b_changed);
  ImGui::EndChild();
}

}  // namespace hl::gui
