#define GL_GLEXT_PROTOTYPES
#include <GL/gl.h>

#include <algorithm>
#include <stdexcept>
#include <vector>

// Debian's libstb is a compiled library: the header only declares, nothing to define here.
#include <stb/stb_image_write.h>

#include "app/gui/screenshot.h"

namespace hl::gui {

void write_screenshot_png(const std::string& path, int width, int height) {
  std::vector<unsigned char> pixels(static_cast<size_t>(width) * height * 3);
  glBindFramebuffer(GL_READ_FRAMEBUFFER, 0);
  glReadBuffer(GL_BACK);
  glPixelStorei(GL_PACK_ALIGNMENT, 1);
  glReadPixels(0, 0, width, height, GL_RGB, GL_UNSIGNED_BYTE, pixels.data());
  // GL's row 0 is the bottom of the window; PNG's is the top.
  const size_t stride = static_cast<size_t>(width) * 3;
  std::vector<unsigned char> flipped(pixels.size());
  for (int y = 0; y < height; ++y)
    std::copy_n(pixels.data() + static_cast<size_t>(height - 1 - y) * stride, stride, flipped.data() + static_cast<size_t>(y) * stride);
  if (!stbi_write_png(path.c_str(), width, height, 3, flipped.data(), static_cast<int>(stride)))
    throw std::runtime_error("screenshot " + path + ": cannot be written");
}

}  // namespace hl::gui
