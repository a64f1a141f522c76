// GL side of the heatmap: two R32F value textures (a map, or baseline and steered for a difference), a 256 x 3
// colormap texture, and an FBO-backed colour texture the panel shows with ImGui. A new map is uploaded once (with
// mipmaps for zoomed-out views); zoom and pan only change uniforms, and an unchanged view is not redrawn at all.
#define GL_GLEXT_PROTOTYPES
#include <GL/gl.h>
#include <GL/glext.h>

#include <stdexcept>
#include <string>

#include "app/gui/colormap.h"
#include "app/gui/gl_heatmap_renderer.h"

namespace hl::gui {

extern const char* const kHeatmapVertexShader;
extern const char* const kHeatmapFragmentShader;

namespace {

GLuint compile(GLenum kind, const char* src, const char* name) {
  const GLuint sh = glCreateShader(kind);
  glShaderSource(sh, 1, &src, nullptr);
  glCompileShader(sh);
  GLint ok = 0;
  glGetShaderiv(sh, GL_COMPILE_STATUS, &ok);
  if (!ok) {
    char log[2048];
    glGetShaderInfoLog(sh, sizeof log, nullptr, log);
    glDeleteShader(sh);
    throw std::runtime_error(std::string("shaders/") + name + ": " + log);
  }
  return sh;
}

bool same(const HeatmapParams& a, const HeatmapParams& b) {
  return a.difference == b.difference && a.colormap == b.colormap && a.vmin == b.vmin && a.vmax == b.vmax &&
         a.log_scale == b.log_scale && a.log_floor == b.log_floor && a.mask_sink == b.mask_sink && a.x0 == b.x0 &&
         a.y0 == b.y0 && a.x1 == b.x1 && a.y1 == b.y1 && a.rows == b.rows && a.cols == b.cols;
}

class GlHeatmapRenderer final : public HeatmapRenderer {
 public:
  GlHeatmapRenderer() {
    const GLuint vs = compile(GL_VERTEX_SHADER, kHeatmapVertexShader, "heatmap.vert");
    const GLuint fs = compile(GL_FRAGMENT_SHADER, kHeatmapFragmentShader, "heatmap.frag");
    program_ = glCreateProgram();
    glAttachShader(program_, vs);
    glAttachShader(program_, fs);
    glLinkProgram(program_);
    glDeleteShader(vs);
    glDeleteShader(fs);
    GLint ok = 0;
    glGetProgramiv(program_, GL_LINK_STATUS, &ok);
    if (!ok) {
      char log[2048];
      glGetProgramInfoLog(program_, sizeof log, nullptr, log);
      throw std::runtime_error(std::string("heatmap shaders: link failed: ") + log);
    }
    const float quad[] = {-1, -1, 1, -1, -1, 1, 1, 1};
    glGenVertexArrays(1, &vao_);
    glGenBuffers(1, &vbo_);
    glBindVertexArray(vao_);
    glBindBuffer(GL_ARRAY_BUFFER, vbo_);
    glBufferData(GL_ARRAY_BUFFER, sizeof quad, quad, GL_STATIC_DRAW);
    glEnableVertexAttribArray(0);
    glVertexAttribPointer(0, 2, GL_FLOAT, GL_FALSE, 0, nullptr);
    glBindVertexArray(0);

    // Colormaps: one row each, in Colormap's order.
    unsigned char rgba[kColormapSize * 3 * 4];
    for (int m = 0; m < 3; ++m) {
      const auto& t = colormap_table(static_cast<Colormap>(m));
      for (int i = 0; i < kColormapSize; ++i) {
        unsigned char* p = rgba + (m * kColormapSize + i) * 4;
        p[0] = t[i].r, p[1] = t[i].g, p[2] = t[i].b, p[3] = 255;
      }
    }
    glGenTextures(1, &cmap_);
    glBindTexture(GL_TEXTURE_2D, cmap_);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_NEAREST);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_NEAREST);
    glTexImage2D(GL_TEXTURE_2D, 0, GL_RGBA8, kColormapSize, 3, 0, GL_RGBA, GL_UNSIGNED_BYTE, rgba);
    glGenTextures(2, values_);
    glGenTextures(1, &color_);
    glGenFramebuffers(1, &fbo_);
    glBindTexture(GL_TEXTURE_2D, 0);
  }

  ~GlHeatmapRenderer() override {
    glDeleteFramebuffers(1, &fbo_);
    glDeleteTextures(1, &color_);
    glDeleteTextures(2, values_);
    glDeleteTextures(1, &cmap_);
    glDeleteBuffers(1, &vbo_);
    glDeleteVertexArrays(1, &vao_);
    glDeleteProgram(program_);
  }

  void set_values(int slot, const float* values, int64_t rows, int64_t cols, const void* key) override {
    if (slot < 0 || slot > 1 || keys_[slot] == key || rows <= 0 || cols <= 0) return;
    keys_[slot] = key;
    shape_[slot][0] = cols, shape_[slot][1] = rows;
    glBindTexture(GL_TEXTURE_2D, values_[slot]);
    glPixelStorei(GL_UNPACK_ALIGNMENT, 4);
    glTexImage2D(GL_TEXTURE_2D, 0, GL_R32F, static_cast<GLsizei>(cols), static_cast<GLsizei>(rows), 0, GL_RED, GL_FLOAT, values);
    glGenerateMipmap(GL_TEXTURE_2D);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_NEAREST_MIPMAP_NEAREST);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_NEAREST);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_S, GL_CLAMP_TO_EDGE);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_T, GL_CLAMP_TO_EDGE);
    glBindTexture(GL_TEXTURE_2D, 0);
    ++uploads_;
    dirty_ = true;
  }

  void draw(const HeatmapParams& p, int width, int height) override {
    if (width <= 0 || height <= 0) return;
    if (!dirty_ && width == width_ && height == height_ && same(p, last_)) return;
    // What ImGui's backend (or anyone) had bound, put back at the end.
    GLint prev_fbo = 0, prev_viewport[4], prev_program = 0, prev_vao = 0, prev_active = 0;
    glGetIntegerv(GL_FRAMEBUFFER_BINDING, &prev_fbo);
    glGetIntegerv(GL_VIEWPORT, prev_viewport);
    glGetIntegerv(GL_CURRENT_PROGRAM, &prev_program);
    glGetIntegerv(GL_VERTEX_ARRAY_BINDING, &prev_vao);
    glGetIntegerv(GL_ACTIVE_TEXTURE, &prev_active);
    const GLboolean blend = glIsEnabled(GL_BLEND), scissor = glIsEnabled(GL_SCISSOR_TEST);
    if (width != width_ || height != height_) {
      width_ = width, height_ = height;
      glBindTexture(GL_TEXTURE_2D, color_);
      glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_NEAREST);
      glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_NEAREST);
      glTexImage2D(GL_TEXTURE_2D, 0, GL_RGBA8, width, height, 0, GL_RGBA, GL_UNSIGNED_BYTE, nullptr);
      glBindFramebuffer(GL_FRAMEBUFFER, fbo_);
      glFramebufferTexture2D(GL_FRAMEBUFFER, GL_COLOR_ATTACHMENT0, GL_TEXTURE_2D, color_, 0);
    }
    last_ = p;
    dirty_ = false;

    glBindFramebuffer(GL_FRAMEBUFFER, fbo_);
    glViewport(0, 0, width, height);
    glDisable(GL_BLEND);
    glDisable(GL_SCISSOR_TEST);
    glUseProgram(program_);
    const int second = p.difference ? 1 : 0;
    bind(0, values_[0], "u_values0");
    bind(1, values_[second], "u_values1");
    bind(2, cmap_, "u_colormap");
    glUniform1i(loc("u_colormap_row"), static_cast<int>(p.colormap));
    glUniform4f(loc("u_view"), static_cast<float>(p.x0), static_cast<float>(p.y0), static_cast<float>(p.x1), static_cast<float>(p.y1));
    glUniform2f(loc("u_shape"), static_cast<float>(p.cols), static_cast<float>(p.rows));
    glUniform2f(loc("u_size0"), static_cast<float>(shape_[0][0]), static_cast<float>(shape_[0][1]));
    glUniform2f(loc("u_size1"), static_cast<float>(shape_[second][0]), static_cast<float>(shape_[second][1]));
    glUniform1i(loc("u_difference"), p.difference ? 1 : 0);
    glUniform1i(loc("u_log"), p.log_scale ? 1 : 0);
    glUniform1i(loc("u_mask_sink"), p.mask_sink ? 1 : 0);
    glUniform1f(loc("u_vmin"), p.vmin);
    glUniform1f(loc("u_vmax"), p.vmax);
    glUniform1f(loc("u_log_floor"), p.log_floor);
    glBindVertexArray(vao_);
    glDrawArrays(GL_TRIANGLE_STRIP, 0, 4);
    ++draws_;

    glBindVertexArray(static_cast<GLuint>(prev_vao));
    glUseProgram(static_cast<GLuint>(prev_program));
    glActiveTexture(static_cast<GLenum>(prev_active));
    glBindFramebuffer(GL_FRAMEBUFFER, static_cast<GLuint>(prev_fbo));
    glViewport(prev_viewport[0], prev_viewport[1], prev_viewport[2], prev_viewport[3]);
    if (blend) glEnable(GL_BLEND);
    if (scissor) glEnable(GL_SCISSOR_TEST);
  }

  uint64_t texture() const override { return width_ > 0 && uploads_ > 0 ? color_ : 0; }
  int64_t uploads() const override { return uploads_; }
  int64_t draws() const override { return draws_; }

 private:
  GLint loc(const char* name) const { return glGetUniformLocation(program_, name); }
  void bind(int unit, GLuint tex, const char* name) {
    glActiveTexture(GL_TEXTURE0 + unit);
    glBindTexture(GL_TEXTURE_2D, tex);
    glUniform1i(loc(name), unit);
  }

  GLuint program_ = 0, vao_ = 0, vbo_ = 0, cmap_ = 0, values_[2] = {0, 0}, color_ = 0, fbo_ = 0;
  const void* keys_[2] = {nullptr, nullptr};
  int64_t shape_[2][2] = {{1, 1}, {1, 1}};
  int width_ = 0, height_ = 0;
  HeatmapParams last_{};
  bool dirty_ = true;
  int64_t uploads_ = 0, draws_ = 0;
};

}  // namespace

std::unique_ptr<HeatmapRenderer> make_gl_heatmap_renderer() { return std::make_unique<GlHeatmapRenderer>(); }

}  // namespace hl::gui
