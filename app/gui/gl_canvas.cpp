#define GL_GLEXT_PROTOTYPES
#include <GL/gl.h>
#include <GL/glext.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include <imgui.h>

#include "app/gui/frame_damage.h"
#include "app/gui/gl_canvas.h"
#include "backends/imgui_impl_opengl3.h"

namespace hl::gui {

GlCanvas::~GlCanvas() {
  if (fbo_) glDeleteFramebuffers(1, &fbo_);
  if (tex_) glDeleteTextures(1, &tex_);
}

void GlCanvas::probe(void (*swap)(void*), void* window) {
  const float colours[2][3] = {{1.f, 0.f, 0.f}, {0.f, 1.f, 0.f}};
  bool kept = true;
  glBindFramebuffer(GL_FRAMEBUFFER, 0);
  for (const auto& c : colours) {
    glClearColor(c[0], c[1], c[2], 1.f);
    glClear(GL_COLOR_BUFFER_BIT);
    swap(window);
    unsigned char px[4] = {0, 0, 0, 0};
    glReadBuffer(GL_BACK);
    glReadPixels(0, 0, 1, 1, GL_RGBA, GL_UNSIGNED_BYTE, px);
    kept = kept && px[0] == static_cast<unsigned char>(c[0] * 255) && px[1] == static_cast<unsigned char>(c[1] * 255) && px[2] == 0;
  }
  glClearColor(0.f, 0.f, 0.f, 1.f);
  glClear(GL_COLOR_BUFFER_BIT);
  direct_ = kept;
}

bool GlCanvas::resize(int width, int height) {
  if (direct_) {
    const bool changed = width != width_ || height != height_;
    width_ = width, height_ = height;
    return changed;
  }
  if (fbo_ && width == width_ && height == height_) return false;
  if (!fbo_) {
    glGenFramebuffers(1, &fbo_);
    glGenTextures(1, &tex_);
  }
  width_ = width, height_ = height;
  glBindTexture(GL_TEXTURE_2D, tex_);
  glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_NEAREST);
  glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_NEAREST);
  glTexImage2D(GL_TEXTURE_2D, 0, GL_RGBA8, width, height, 0, GL_RGBA, GL_UNSIGNED_BYTE, nullptr);
  glBindTexture(GL_TEXTURE_2D, 0);
  glBindFramebuffer(GL_FRAMEBUFFER, fbo_);
  glFramebufferTexture2D(GL_FRAMEBUFFER, GL_COLOR_ATTACHMENT0, GL_TEXTURE_2D, tex_, 0);
  glBindFramebuffer(GL_FRAMEBUFFER, 0);
  return true;
}

void GlCanvas::render(ImDrawData& dd, const Damage& damage, const float clear_rgb[3]) {
  // Each pass clips the commands to its rectangle; the original clip rectangles are restored between passes.
  std::vector<ImVec4> clips;
  for (int i = 0; i < dd.CmdListsCount; ++i)
    for (const ImDrawCmd& c : dd.CmdLists[i]->CmdBuffer) clips.push_back(c.ClipRect);
  auto restore = [&] {
    size_t k = 0;
    for (int i = 0; i < dd.CmdListsCount; ++i)
      for (ImDrawCmd& c : dd.CmdLists[i]->CmdBuffer) c.ClipRect = clips[k++];
  };
  glBindFramebuffer(GL_FRAMEBUFFER, direct_ ? 0 : fbo_);
  glViewport(0, 0, width_, height_);
  glClearColor(clear_rgb[0], clear_rgb[1], clear_rgb[2], 1.f);
  const float sx = dd.FramebufferScale.x, sy = dd.FramebufferScale.y;
  for (const DamageRect& r : damage.rects()) {
    // Display coordinates (y down) to framebuffer pixels (y up), rounded outwards.
    const int x0 = std::max(0, static_cast<int>(std::floor((r.x0 - dd.DisplayPos.x) * sx)));
    const int x1 = std::min(width_, static_cast<int>(std::ceil((r.x1 - dd.DisplayPos.x) * sx)));
    const int top = std::max(0, static_cast<int>(std::floor((r.y0 - dd.DisplayPos.y) * sy)));
    const int bottom = std::min(height_, static_cast<int>(std::ceil((r.y1 - dd.DisplayPos.y) * sy)));
    if (x1 <= x0 || bottom <= top) continue;
    glEnable(GL_SCISSOR_TEST);
    glScissor(x0, height_ - bottom, x1 - x0, bottom - top);
    glClear(GL_COLOR_BUFFER_BIT);
    glDisable(GL_SCISSOR_TEST);
    restore();
    clip_draw_data(dd, r);
    ImGui_ImplOpenGL3_RenderDrawData(&dd);
    glBindFramebuffer(GL_FRAMEBUFFER, direct_ ? 0 : fbo_);  // in case the backend restored another binding
  }
  restore();
  glBindFramebuffer(GL_FRAMEBUFFER, 0);
}

void GlCanvas::present() const {
  if (direct_) return;  // the back buffer is the picture
  glBindFramebuffer(GL_READ_FRAMEBUFFER, fbo_);
  glBindFramebuffer(GL_DRAW_FRAMEBUFFER, 0);
  glBlitFramebuffer(0, 0, width_, height_, 0, 0, width_, height_, GL_COLOR_BUFFER_BIT, GL_NEAREST);
  glBindFramebuffer(GL_FRAMEBUFFER, 0);
}

}  // namespace hl::gui
