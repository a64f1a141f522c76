// One real window: bin/headlight under Xvfb with Mesa's software GL runs tests/gui/window.script on stories260K with a fresh
// store, then: the screenshot is a picture (not one flat colour), the state file's steered ids differ from the
// baseline's, and the runs landed in the store. A second start runs the 4096 x 4096 heatmap zoom benchmark. The
// measured frame times and the benchmark's frames/s are printed.
#include <doctest/doctest.h>

#include <sqlite3.h>
#include <stb/stb_image.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "scratch_dir.h"

namespace {

const std::string kBinary = std::string(HEADLIGHT_BINARY_DIR) + "/bin/headlight";
const std::string kScript = std::string(HEADLIGHT_SOURCE_DIR) + "/tests/gui/window.script";

std::string slurp(const std::string& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Runs headlight under a fresh Xvfb; returns the exit status, output in dir/out.txt.
int run_headlight(const hl_test::ScratchDir& dir, const std::string& args) {
  const std::string cmd = "cd '" + dir.dir.string() + "' && XDG_DATA_HOME='" + dir.dir.string() +
                          "' LIBGL_ALWAYS_SOFTWARE=1 xvfb-run -a -s '-screen 0 1600x1000x24' '" + kBinary + "' --model '" +
                          std::string(HEADLIGHT_SHARED_DIR) + "/models/stories260K' " + args +
                          " > out.txt 2>&1";
  const int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

int64_t count_runs(const std::string& db) {
  sqlite3* h = nullptr;
  int64_t n = -1;
  if (sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(h, "SELECT COUNT(*) FROM runs", -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
      n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
  }
  sqlite3_close(h);
  return n;
}

}  // namespace

TEST_SUITE("window") {

TEST_CASE("the real window under Xvfb runs the demo script, shows it, records it") {
  REQUIRE_MESSAGE(std::system("command -v xvfb-run > /dev/null") == 0, "xvfb-run is not installed (scripts/bootstrap.sh installs xvfb)");
  hl_test::ScratchDir dir("gui_window");
  const int rc = run_headlight(dir, "--db runs.db --script '" + kScript + "' --frames 40 --screenshot shot.png --state-out state.json");
  INFO("headlight output:\n" << slurp(dir.file("out.txt")));
  REQUIRE(rc == 0);

  int w = 0, h = 0, comp = 0;
  unsigned char* px = stbi_load(dir.file("shot.png").c_str(), &w, &h, &comp, 3);
  REQUIRE(px != nullptr);
  CHECK(w == 1600);
  CHECK(h == 1000);
  double sum = 0, sum2 = 0;
  const size_t n = static_cast<size_t>(w) * h;
  for (size_t i = 0; i < n; ++i) {
    const double y = 0.299 * px[i * 3] + 0.587 * px[i * 3 + 1] + 0.114 * px[i * 3 + 2];
    sum += y, sum2 += y * y;
  }
  stbi_image_free(px);
  const double stddev = std::sqrt(std::max(0.0, sum2 / n - (sum / n) * (sum / n)));
  MESSAGE("screenshot luminance: mean " << sum / n << ", standard deviation " << stddev);
  CHECK(stddev > 10);  // a blank or single-colour frame has ~0

  const nlohmann::json st = nlohmann::json::parse(slurp(dir.file("state.json")));
  CHECK(st["spec"]["method"] == "guide");
  CHECK(st["prompt_ids"].size() == 25);
  CHECK(st["baseline_ids"].size() > 48);  // `tokens 160` (a story may end earlier at its EOS)
  CHECK(st["steered_ids"].size() > 48);
  CHECK(st["steered_ids"] != st["baseline_ids"]);
  CHECK(st["selected_head"] == "L1H0");
  CHECK(st["runs_recorded"].get<int64_t>() >= 1);
  CHECK(count_runs(dir.file("runs.db")) >= st["runs_recorded"].get<int64_t>());
  // Frame times: every frame, split by whether a job was running; and the frames that were rendered and presented
  // (the loop skips rendering a frame identical to the one on screen).
  const auto& idle = st["frame_ms_idle"];
  const auto& busy = st["frame_ms_busy"];
  const auto& drawn = st["frame_ms_presented"];
  const auto& drawn_busy = st["frame_ms_presented_busy"];
  MESSAGE("frames " << st["frames"] << " (" << st["frames_presented"] << " rendered); frame ms:\n"
          << "  idle  p50 " << idle["p50"] << " p95 " << idle["p95"] << " max " << idle["max"] << " (" << idle["count"] << " frames)\n"
          << "  busy  p50 " << busy["p50"] << " p95 " << busy["p95"] << " max " << busy["max"] << " (" << busy["count"] << " frames)\n"
          << "  rendered       p50 " << drawn["p50"] << " p95 " << drawn["p95"] << " max " << drawn["max"] << " (" << drawn["count"] << ")\n"
          << "  rendered, busy p50 " << drawn_busy["p50"] << " p95 " << drawn_busy["p95"] << " max " << drawn_busy["max"] << " (" << drawn_busy["count"] << ")");
  CHECK(idle["count"].get<int64_t>() >= 40);
  CHECK(busy["count"].get<int64_t>() >= 20);  // the script's slider sweep, long text and scan keep the worker busy
  // The targets (p95 <= 20 ms idle, <= 50 ms while a job runs) are warnings: the machine is shared, and two other
  // builds on its two cores can double any frame. The hard limits catch what is broken, not what is busy (a frame
  // that uploads or re-renders everything every time lands in the hundreds of ms under Mesa).
  WARN(idle["p95"].get<double>() <= 20.0);
  WARN(busy["p95"].get<double>() <= 50.0);
  CHECK(idle["p95"].get<double>() <= 100.0);
  CHECK(busy["p95"].get<double>() <= 200.0);
  // A steering change -> its first steered token on screen, against the engine's own time to that token: the UI's
  // share (prepare, queue, the frame that shows it) should be about one frame.
  const auto& change = st["change_to_first_token_ms"];
  const auto& engine = st["engine_first_token_ms"];
  MESSAGE("steering change -> first steered token on screen: p50 " << change["p50"] << " ms (" << change["count"]
                                                                   << " changes); the engine's share p50 "
                                                                   << engine["p50"] << " ms");
  REQUIRE(change["count"].get<int64_t>() >= 1);
  const double ui_share = change["p50"].get<double>() - engine["p50"].get<double>();
  WARN(ui_share <= 2 * busy["p50"].get<double>() + 5.0);  // the target: about one frame
  CHECK(ui_share <= 250.0);
}

TEST_CASE("a 4096 x 4096 heatmap uploads once and stays interactive while zooming (target: 30 frames/s)") {
  REQUIRE(std::system("command -v xvfb-run > /dev/null") == 0);
  hl_test::ScratchDir dir("gui_bench");
  const int rc = run_headlight(dir, "--bench-heatmap 90 --frames 0 --state-out bench.json");
  INFO("headlight output:\n" << slurp(dir.file("out.txt")));
  REQUIRE(rc == 0);
  const nlohmann::json st = nlohmann::json::parse(slurp(dir.file("bench.json")));
  REQUIRE(st.contains("heatmap_bench"));
  const auto& b = st["heatmap_bench"];
  MESSAGE("heatmap 4096x4096: first frame (upload + mipmaps) " << b["first_frame_ms"] << " ms, " << b["fps"] << " frames/s while zooming");
  CHECK(b["uploads"] == 1);  // the map went up once; zooming changed uniforms only
  WARN(b["fps"].get<double>() >= 30.0);  // the target (see the frame-time note above)
  CHECK(b["fps"].get<double>() >= 10.0);
}

}  // TEST_SUITE
