// The small pieces every panel leans on: colormaps, tick placement, frame-time percentiles, head names, the recent
// list.
#include <algorithm>
#include <cmath>

#include <doctest/doctest.h>

#include "app/gui/colormap.h"
#include "app/gui/frame_stats.h"
#include "app/gui/gui_state.h"
#include "app/gui/plot_axes.h"
#include "app/gui/recent_models.h"
#include "scratch_dir.h"

using namespace hl::gui;

TEST_SUITE("panels") {

TEST_CASE("colormaps: viridis dark purple to yellow, the diverging map white at its middle") {
  const Rgba8 lo = colormap_color(Colormap::Viridis, 0), hi = colormap_color(Colormap::Viridis, 1);
  CHECK(lo.r == 68);
  CHECK(lo.b == 84);
  CHECK(hi.r == 253);
  CHECK(hi.g == 231);
  const Rgba8 mid = colormap_color(Colormap::Diverging, 0.5f);
  CHECK(mid.r > 240);
  CHECK(mid.g > 240);
  CHECK(mid.b > 240);
  CHECK(colormap_color(Colormap::Diverging, 0).b > colormap_color(Colormap::Diverging, 0).r);  // negative: blue
  CHECK(colormap_color(Colormap::Diverging, 1).r > colormap_color(Colormap::Diverging, 1).b);  // positive: red
  CHECK(colormap_u32(Colormap::Magma, -3) == colormap_u32(Colormap::Magma, 0));               // clamped
  // Magma gets brighter along its length.
  for (int i = 1; i < kColormapSize; ++i) {
    const auto& a = colormap_table(Colormap::Magma)[i - 1];
    const auto& b = colormap_table(Colormap::Magma)[i];
    CHECK(a.r + a.g + a.b <= b.r + b.g + b.b + 2);
  }
}

TEST_CASE("ticks land on 1-2-5 steps inside the range") {
  const auto t = nice_ticks(0, 1, 5);
  REQUIRE(t.size() == 6);
  CHECK(t[1] == doctest::Approx(0.2));
  CHECK(t.back() == doctest::Approx(1.0));
  const auto u = nice_ticks(-0.37, 0.37, 4);
  for (double v : u) CHECK(std::fabs(v) <= 0.37);
  CHECK(std::find(u.begin(), u.end(), 0.0) != u.end());
  CHECK(nice_ticks(1, 1, 4).empty());
  CHECK(tick_label(0.25) == "0.25");
  CHECK(tick_label(0.001) == "1e-03");
  CHECK(tick_label(12000) == "12k");
}

TEST_CASE("frame statistics: nearest-rank percentiles, busy and idle apart") {
  FrameStats f;
  for (int i = 1; i <= 20; ++i) f.add(i, i > 15);
  CHECK(f.all().p50 == 10);
  CHECK(f.all().p95 == 19);
  CHECK(f.all().max == 20);
  CHECK(f.busy().count == 5);
  CHECK(f.busy().p50 == 18);
  CHECK(f.idle().max == 15);
  CHECK(FrameStats::summarize({}).count == 0);
}

TEST_CASE("head names as scripts and tooltips write them") {
  int64_t l = -5, h = -5;
  CHECK(parse_head_name("L12H3", &l, &h));
  CHECK(l == 12);
  CHECK(h == 3);
  CHECK(parse_head_name("L4", &l, &h));
  CHECK(h == -1);
  CHECK_FALSE(parse_head_name("H3", &l, &h));
  CHECK_FALSE(parse_head_name("L3H", &l, &h));
  CHECK_FALSE(parse_head_name("L3H2x", &l, &h));
  CHECK_FALSE(parse_head_name("", &l, &h));
}

TEST_CASE("the recent models list keeps the newest first, without duplicates") {
  hl_test::ScratchDir dir("gui_recent");
  const std::string file = (dir.dir / "sub" / "recent.txt").string();
  std::vector<std::string> list;
  remember_model(list, "/a", file);
  remember_model(list, "/b", file);
  remember_model(list, "/a", file);
  CHECK(list == std::vector<std::string>{"/a", "/b"});
  CHECK(read_recent_models(file) == list);
  for (int i = 0; i < 20; ++i) remember_model(list, "/m" + std::to_string(i), file, 5);
  CHECK(read_recent_models(file).size() == 5);
  CHECK(read_recent_models(file).front() == "/m19");
  CHECK(read_recent_models(dir.file("none.txt")).empty());
}

}  // TEST_SUITE

#include "app/gui/frame_damage.h"
#include "test_headless.h"

namespace {

// One frame with two fixed windows; `text` goes into the second, `tooltip` opens a tooltip.
ImDrawData* two_windows(const char* text, bool tooltip) {
  ImGui::NewFrame();
  ImGui::SetNextWindowPos(ImVec2(0, 0));
  ImGui::SetNextWindowSize(ImVec2(400, 300));
  ImGui::Begin("left");
  ImGui::TextUnformatted("always the same");
  ImGui::End();
  ImGui::SetNextWindowPos(ImVec2(800, 500));
  ImGui::SetNextWindowSize(ImVec2(300, 200));
  ImGui::Begin("right");
  ImGui::TextUnformatted(text);
  if (tooltip) ImGui::SetTooltip("a tooltip");
  ImGui::End();
  ImGui::Render();
  return ImGui::GetDrawData();
}

}  // namespace

TEST_SUITE("panels") {

TEST_CASE("frame damage: nothing for an unchanged frame, only the changed window's rectangle otherwise") {
  hl_test::HeadlessImGui ui;
  FrameDamage fd;
  const Damage first = fd.update(*two_windows("a", false));
  REQUIRE(first.rects().size() == 1);
  CHECK(first.area() == doctest::Approx(1600.f * 1000.f));  // the first frame draws everything
  for (int i = 0; i < 3; ++i) fd.update(*two_windows("a", false));  // new windows settle over their first frames
  CHECK(fd.update(*two_windows("a", false)).empty());
  const Damage changed = fd.update(*two_windows("b", false));
  REQUIRE_FALSE(changed.empty());
  for (const DamageRect& r : changed.rects()) {  // the right window (and its anti-aliased border), not the left one
    CHECK(r.x0 >= 796);
    CHECK(r.y0 >= 496);
    CHECK(r.x1 <= 1104);
    CHECK(r.y1 <= 704);
  }
  CHECK(fd.update(*two_windows("b", false)).empty());
  bool tooltip_drawn = false;
  for (int i = 0; i < 3; ++i) tooltip_drawn = !fd.update(*two_windows("b", true)).empty() || tooltip_drawn;
  CHECK(tooltip_drawn);
  CHECK(fd.update(*two_windows("b", true)).empty());
  const Damage closed = fd.update(*two_windows("b", false));  // where the tooltip was must be drawn again
  CHECK_FALSE(closed.empty());
  // The heatmap's texture changing under an unchanged quad is damage too.
  CHECK(fd.update(*two_windows("b", false), 77, 1).empty());  // no list draws texture 77
}

TEST_CASE("damage rectangles merge when they overlap and collapse past the limit") {
  Damage d(3);
  d.add({0, 0, 10, 10});
  d.add({5, 5, 20, 20});
  REQUIRE(d.rects().size() == 1);
  CHECK(d.rects()[0].x1 == 20);
  d.add({100, 100, 110, 110});
  d.add({200, 200, 210, 210});
  CHECK(d.rects().size() == 3);
  d.add({300, 300, 310, 310});
  REQUIRE(d.rects().size() == 1);
  CHECK(d.rects()[0].x0 == 0);
  CHECK(d.rects()[0].x1 == 310);
  d.add({});
  CHECK(d.rects().size() == 1);
}

}  // TEST_SUITE
