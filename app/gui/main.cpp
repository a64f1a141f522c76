// headlight: the window. GLFW + OpenGL 3.3 core + Dear ImGui; the model runs on the workbench's worker thread and
// this loop only draws what the latest snapshot holds. --script, --frames, --screenshot and --state-out make every
// view reproducible from the command line (tests, README figures); see app_args.h.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <GLFW/glfw3.h>
#include <imgui.h>

#include "backends/imgui_impl_glfw.h"
#include "backends/imgui_impl_opengl3.h"

#include "app/gui/app_args.h"
#include "app/gui/example.h"
#include "app/gui/frame_damage.h"
#include "app/gui/gl_canvas.h"
#include "app/gui/gl_heatmap_renderer.h"
#include "app/gui/panels.h"
#include "app/gui/recent_models.h"
#include "app/gui/screenshot.h"
#include "app/gui/script_player.h"
#include "app/gui/state_out.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr int64_t kStartupFrames = 5;
double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

void glfw_error(int code, const char* what) { std::fprintf(stderr, "headlight: GLFW error %d: %s\n", code, what); }

void setup_imgui_style() {
  ImGuiIO& io = ImGui::GetIO();
  io.IniFilename = nullptr;                    // the layout is the fixed default every start
  io.ConfigWindowsMoveFromTitleBarOnly = true;  // drags inside panels (grid, chips, heatmap) never move windows
  const char* font = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
  if (std::filesystem::exists(font)) io.Fonts->AddFontFromFileTTF(font, 15.0f);
  else io.Fonts->AddFontDefault();
  ImGui::StyleColorsDark();
  ImGuiStyle& st = ImGui::GetStyle();
  st.WindowRounding = 0;
  st.Colors[ImGuiCol_WindowBg].w = 1.0f;
  st.FrameRounding = 2;
  st.WindowPadding = ImVec2(8, 6);
  st.ItemSpacing = ImVec2(6, 5);
}

// The --bench-heatmap zoom: in and out around the diagonal, one step per frame.
void bench_zoom_step(hl::gui::HeatmapViewState& v, int64_t frame, double n) {
  const double t = 0.5 + 0.5 * std::cos(static_cast<double>(frame) * 0.07);
  v.span = std::max(16.0, n * t);
  v.x0 = v.y0 = (n - v.span) * 0.5;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace hl::gui;
  AppArgs args;
  std::vector<ScriptAction> script;
  try {
    args = parse_app_args(std::vector<std::string>(argv + 1, argv + argc));
    if (args.help) {
      std::fputs(app_usage(), stdout);
      return 0;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "headlight: %s\n%s", e.what(), app_usage());
    return 2;
  }
  try {
    if (!args.script.empty()) script = load_script(args.script);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "headlight: %s\n", e.what());
    return 2;
  }
  const std::string model = args.model.empty() ? HEADLIGHT_DEFAULT_MODEL : args.model;
  if (!std::filesystem::exists(model)) {
    std::fprintf(stderr, "headlight: --model %s: no such file or directory\n", model.c_str());
    return 2;
  }
  const bool scripted = !args.script.empty() || args.frames >= 0 || args.bench_heatmap > 0;

  glfwSetErrorCallback(glfw_error);
  if (!glfwInit()) {
    const char* display = std::getenv("DISPLAY");
    std::fprintf(stderr, "headlight: cannot open a window (%s); without a display run it under Xvfb: "
                 "xvfb-run -a -s \"-screen 0 1600x1000x24\" headlight ... (or: bash scripts/bootstrap.sh run)\n",
                 display && *display ? "the display refused" : "$DISPLAY is not set");
    return 1;
  }
  glfwWindowHint(GLFW_CONTEXT_VERSION_MAJOR, 3);
  glfwWindowHint(GLFW_CONTEXT_VERSION_MINOR, 3);
  glfwWindowHint(GLFW_OPENGL_PROFILE, GLFW_OPENGL_CORE_PROFILE);
  glfwWindowHint(GLFW_OPENGL_FORWARD_COMPAT, GLFW_TRUE);
  GLFWwindow* window = glfwCreateWindow(args.width, args.height, "headlight", nullptr, nullptr);
  if (!window) {
    std::fprintf(stderr, "headlight: cannot create a %dx%d OpenGL 3.3 core window\n", args.width, args.height);
    glfwTerminate();
    return 1;
  }
  glfwMakeContextCurrent(window);
  glfwSwapInterval(scripted ? 0 : 1);

  IMGUI_CHECKVERSION();
  ImGui::CreateContext();
  setup_imgui_style();
  ImGui_ImplGlfw_InitForOpenGL(window, true);
  ImGui_ImplOpenGL3_Init("#version 330 core");

  int exit_code = 0;
  {
    hl::wb::WorkbenchOptions opt;
    opt.db_path = args.db;
    // The model leaves one core to the window on small machines (Mesa draws on the CPU): --threads overrides.
    const int cores = static_cast<int>(std::thread::hardware_concurrency());
    opt.threads = args.threads > 0 ? args.threads : cores > 1 && cores <= 4 ? cores - 1 : 0;
    hl::wb::Workbench wb(opt);
    std::unique_ptr<HeatmapRenderer> renderer;
    try {
      renderer = make_gl_heatmap_renderer();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "headlight: %s (the heatmap stays blank)\n", e.what());
    }
    GuiState state(wb, std::move(renderer));
    state.recent_file = default_recent_models_file();
    state.recent_models = read_recent_models(state.recent_file);
    state.head_config_dir = HEADLIGHT_HEAD_CONFIG_DIR;
    state.load_model(model);
    try {
      state.set_document(example_document_for(model));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "headlight: %s (showing the built-in example instead)\n", e.what());
      state.set_document(example_document());
    }
    const int64_t bench_n = 4096;
    double bench_first_ms = 0;
    Clock::time_point bench_start;
    if (args.bench_heatmap > 0) state.bench_map = synthetic_attention_map(bench_n);

    ScriptPlayer player(std::move(script), args.script);
    int64_t frames_after = args.frames;  // counts down once the script is done
    int64_t frame = 0, bench_frame = 0;
    GlCanvas canvas;
    canvas.probe([](void* w) { glfwSwapBuffers(static_cast<GLFWwindow*>(w)); }, window);
    std::FILE* frame_log = args.frame_log.empty() ? nullptr : std::fopen(args.frame_log.c_str(), "w");
    if (frame_log) std::fputs("frame,busy,presented,damage_px,ms_snapshot,ms_script,ms_built,ms_rendered,ms_total\n", frame_log);
    FrameDamage damage_tracker;
    // The window system asks for a repaint (uncovered, restored): everything is damaged. ImGui's GLFW backend
    // installs no refresh callback, so this one is ours alone.
    static bool refresh_requested = false;
    glfwSetWindowRefreshCallback(window, [](GLFWwindow*) { refresh_requested = true; });
    double wait_timeout = 0;
    nlohmann::json extra = nlohmann::json::object();
    while (!glfwWindowShouldClose(window)) {
      if (wait_timeout > 0) glfwWaitEventsTimeout(wait_timeout);
      else glfwPollEvents();
      const auto t0 = Clock::now();  // after the wait: a frame's time is the work it does
      const bool busy = !wb.idle();
      ImGui_ImplOpenGL3_NewFrame();
      ImGui_ImplGlfw_NewFrame();
      ImGui::NewFrame();
      state.begin_frame();
      const double ms_snapshot = ms_since(t0);
      std::string shot;
      player.step(state, &shot);
      if (player.failed()) {
        std::fprintf(stderr, "headlight: %s\n", player.error().c_str());
        exit_code = 1;
        ImGui::EndFrame();
        break;
      }
      // The benchmark waits for the worker to finish loading (its threads would share the cores with Mesa's).
      const bool benching = state.bench_map && bench_frame < args.bench_heatmap;
      const bool bench_step = benching && !busy;
      if (bench_step) {
        if (bench_frame == 1) bench_start = Clock::now();
        bench_zoom_step(state.heatmap, bench_frame, static_cast<double>(bench_n));
      }
      const int64_t uploads_before = state.renderer().uploads();
      const double ms_before_draw = ms_since(t0);
      draw_panels(state);
      ImGui::Render();
      const double ms_built = ms_since(t0);
      int fbw = 0, fbh = 0;
      glfwGetFramebufferSize(window, &fbw, &fbh);
      const bool script_done = player.done() && !benching;
      const bool last = script_done && scripted && frames_after <= 0 && args.frames >= 0;
      const bool want_shot = !shot.empty() || (last && !args.screenshot.empty());
      // Re-render only what changed (into the persistent canvas); present only when something did, or for a PNG.
      if (canvas.resize(fbw, fbh) || refresh_requested) damage_tracker.reset();
      refresh_requested = false;
      ImDrawData& dd = *ImGui::GetDrawData();
      const Damage damage = damage_tracker.update(dd, state.renderer().texture(), state.renderer().draws());
      const bool present = want_shot || !damage.empty();
      if (!damage.empty()) {
        const ImVec4 bg = ImGui::GetStyle().Colors[ImGuiCol_WindowBg];  // the panels' background (they draw none)
        const float rgb[3] = {bg.x, bg.y, bg.z};
        canvas.render(dd, damage, rgb);
      }
      const double ms_rendered = ms_since(t0);
      if (present) canvas.present();
      bool wrote = false;
      try {
        if (!shot.empty()) write_screenshot_png(shot, fbw, fbh), wrote = true;
        if (last && !args.screenshot.empty()) write_screenshot_png(args.screenshot, fbw, fbh), wrote = true;
      } catch (const std::exception& e) {
        std::fprintf(stderr, "headlight: %s\n", e.what());
        exit_code = 1;
        break;
      }
      if (present) glfwSwapBuffers(window);
      const double ms = ms_since(t0);
      if (frame_log) {
        std::fprintf(frame_log, "%lld,%d,%d,%.0f,%.3f,%.3f,%.3f,%.3f,%.3f\n", static_cast<long long>(frame), busy ? 1 : 0,
                     present ? 1 : 0, static_cast<double>(damage.area()),
                     ms_snapshot, ms_before_draw, ms_built, ms_rendered, ms);
      }
      // Not counted: start-up frames (GL objects, Mesa compiling each shader at its first draw, the first layout of
      // every panel; ~100 ms each here) and frames that wrote a PNG.
      if (!wrote && frame >= kStartupFrames) {
        state.frames.add(ms, busy);
        if (present) state.presented_frames.add(ms, busy);
      }
      // Nothing changed on screen: wait for input (or the worker's news) instead of spinning, which would take a core
      // from the model. Briefly while a job runs (tokens stream in), longer when idle; scripts keep a quick pace.
      wait_timeout = present ? 0.0 : scripted ? 0.004 : busy ? 0.008 : 0.05;
      ++frame;
      if (state.bench_map && state.renderer().uploads() > uploads_before) bench_first_ms = ms;
      if (bench_step) {
        if (++bench_frame == args.bench_heatmap) {
          const double secs = std::chrono::duration<double>(Clock::now() - bench_start).count();
          const double fps = args.bench_heatmap > 1 ? static_cast<double>(args.bench_heatmap - 1) / secs : 0;
          std::printf("heatmap %lldx%lld: first frame (upload + mipmaps) %.1f ms, then %.1f frames/s while zooming (%lld frames, %lld uploads)\n",
                      static_cast<long long>(bench_n), static_cast<long long>(bench_n), bench_first_ms, fps,
                      static_cast<long long>(args.bench_heatmap), static_cast<long long>(state.renderer().uploads()));
          std::fflush(stdout);
          extra["heatmap_bench"] = {{"size", bench_n}, {"first_frame_ms", bench_first_ms}, {"fps", fps},
                                    {"frames", args.bench_heatmap}, {"uploads", state.renderer().uploads()}};
        }
      }
      if (last) break;
      if (script_done && args.frames >= 0) --frames_after;
    }
    if (args.print_texts) {
      const auto& snap = state.snap();
      std::printf("prompt:   %s\n", state.doc().prompt.c_str());
      std::printf("steering: %s\n", hl::steering_spec_to_json(state.doc().spec, -1).c_str());
      std::printf("baseline: %s\n", snap.baseline ? snap.baseline->continuation.text.c_str() : "(not computed)");
      std::printf("steered:  %s\n", snap.steered ? snap.steered->continuation.text.c_str() : "(not computed)");
    }
    if (!args.state_out.empty()) {
      try {
        write_state_file(state, args.state_out, extra);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "headlight: %s\n", e.what());
        exit_code = 1;
      }
    }
    wb.cancel_all();
    if (frame_log) std::fclose(frame_log);
  }
  ImGui_ImplOpenGL3_Shutdown();
  ImGui_ImplGlfw_Shutdown();
  ImGui::DestroyContext();
  glfwDestroyWindow(window);
  glfwTerminate();
  return exit_code;
}
