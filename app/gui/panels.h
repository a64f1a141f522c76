// One function per panel (as Tracy splits its View into TracyView_<Feature>.cpp), each drawing one ImGui window
// from the GuiState. draw_panels() lays them out for a 1600 x 1000 window the first time and draws them all.
#pragma once
#include <string>
#include <vector>

#include "app/gui/gui_state.h"

namespace hl::gui {

void draw_model_panel(GuiState& s);
void draw_prompt_panel(GuiState& s);
void draw_heads_panel(GuiState& s);
void draw_steering_panel(GuiState& s);
void draw_heatmap_panel(GuiState& s);
void draw_influence_panel(GuiState& s);
void draw_runs_panel(GuiState& s);
void draw_status_bar(GuiState& s);

// All panels, in their default layout scaled to the display size (designed for 1600 x 1000).
void draw_panels(GuiState& s);

// Panel names as scripts name them ("model", "prompt", "heads", "steering", "heatmap", "influence", "runs") and the
// ImGui window titles they stand for.
const std::vector<std::string>& panel_names();
// The window title of a panel name, or empty for an unknown name.
std::string panel_title(const std::string& name);

// Shared small widgets.
void draw_field_issue(const GuiState& s, const char* field);   // red text under a field when the prompt has an issue
void help_marker(const char* text);                            // "(?)" with a tooltip
// Heads of a set on a model of L x H heads, counted by hand: HeadSet::count throws for a set that does not fit the
// model (a 32-layer config on a small model), and such a set is shown (as a heads issue), not refused.
struct HeadCount {
  int64_t inside = 0, outside = 0;  // heads in the model, entries outside it
};
HeadCount count_heads(const HeadSet& set, int64_t L, int64_t H);
// When the document has issues nothing runs, and results on screen are from the last document that did: say so.
void draw_stale_note(const GuiState& s);

}  // namespace hl::gui
