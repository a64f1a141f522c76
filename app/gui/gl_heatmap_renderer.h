// The OpenGL 3.3 heatmap renderer (the window only; tests use make_null_heatmap_renderer). Needs a current context.
#pragma once
#include <memory>

#include "app/gui/heatmap_renderer.h"

namespace hl::gui {

// Throws std::runtime_error with the compiler's log when the shaders do not build.
std::unique_ptr<HeatmapRenderer> make_gl_heatmap_renderer();

}  // namespace hl::gui
