// The Model panel's recent list: one path a line in ~/.local/share/headlight/recent_models.txt, newest first.
#pragma once
#include <string>
#include <vector>

namespace hl::gui {

// The default file ($XDG_DATA_HOME or ~/.local/share)/headlight/recent_models.txt; empty when no home is known.
std::string default_recent_models_file();
std::vector<std::string> read_recent_models(const std::string& file);
// Moves `path` to the front (at most `keep` entries) and rewrites the file; failures to write are ignored (the
// list is a convenience, never a reason to stop).
void remember_model(std::vector<std::string>& list, const std::string& path, const std::string& file, size_t keep = 10);

}  // namespace hl::gui
