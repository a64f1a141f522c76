// --state-out: what the window shows, as JSON, written at exit for tests and README figures:
// {"spec", "prompt_ids", "baseline_ids", "steered_ids", "baseline_text", "steered_text", "selected_head",
//  "runs_recorded", "frames", "frame_ms": {p50, p95, max}, "frame_ms_busy", "frame_ms_idle", ...}
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "app/gui/gui_state.h"

namespace hl::gui {

nlohmann::json state_json(const GuiState& s);
// Writes state_json(s) plus `extra` (merged at the top level). Throws std::runtime_error naming the file.
void write_state_file(const GuiState& s, const std::string& path, const nlohmann::json& extra = nlohmann::json::object());

}  // namespace hl::gui
