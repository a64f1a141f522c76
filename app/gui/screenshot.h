// Writes the current back buffer (the frame just rendered, before the swap) as a PNG.
#pragma once
#include <string>

namespace hl::gui {

// Throws std::runtime_error naming the file when it cannot be written.
void write_screenshot_png(const std::string& path, int width, int height);

}  // namespace hl::gui
