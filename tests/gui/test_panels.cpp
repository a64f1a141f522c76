// The panels on the real workbench and stories260K (5 layers x 8 heads), driven as a user drives them: mouse events
// on the heads grid, the same GuiState actions the widgets call, and scripts through the script player. No GL: the
// heatmap goes to the null renderer, which still counts uploads.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "app/gui/example.h"
#include "app/gui/head_metrics.h"
#include "app/gui/state_out.h"
#include "niah_store_fixture.h"
#include "scratch_dir.h"
#include "storage/store.h"
#include "test_headless.h"

using namespace hl::gui;
namespace wb = hl::wb;

namespace {

const std::string kModel = std::string(HEADLIGHT_SHARED_DIR) + "/models/stories260K";

struct Window {
  explicit Window(const std::string& tag) : dir(tag), bench(options(dir)), state(bench, make_null_heatmap_renderer()) {
    state.load_model(kModel);
    state.set_document(example_document());
    REQUIRE(ui.frames_until_idle(state));
    INFO("model error: " << state.snap().model_error);
    REQUIRE(state.snap().model);
  }
  static wb::WorkbenchOptions options(const hl_test::ScratchDir& d) {
    wb::WorkbenchOptions o;
    o.db_path = d.file("runs.db");
    o.threads = 1;  // as the window runs on a 2-core machine: one core for the model, one for the frames
    return o;
  }
  std::vector<int64_t> baseline_ids() const { return state.snap().baseline ? state.snap().baseline->continuation.ids : std::vector<int64_t>{}; }
  std::vector<int64_t> steered_ids() const { return state.snap().steered ? state.snap().steered->continuation.ids : std::vector<int64_t>{}; }

  // Mouse on a heads-grid cell: move there, press, (optionally drag to another cell), release. One frame each.
  void grid_drag(int64_t l0, int64_t h0, int64_t l1, int64_t h1) {
    ImGuiIO& io = ImGui::GetIO();
    auto at = [&](int64_t l, int64_t h) {
      return ImVec2(state.grid_x + (static_cast<float>(h) + 0.5f) * state.grid_cell, state.grid_y + (static_cast<float>(l) + 0.5f) * state.grid_cell);
    };
    io.MousePos = at(l0, h0);
    ui.frame(state);
    io.MouseDown[0] = true;
    ui.frame(state);
    io.MousePos = at(l1, h1);
    ui.frame(state);
    io.MouseDown[0] = false;
    ui.frame(state);
    io.MousePos = ImVec2(-1, -1);
    ui.frame(state);
  }

  hl_test::ScratchDir dir;
  hl_test::HeadlessImGui ui;
  wb::Workbench bench;
  GuiState state;
};

}  // namespace

TEST_SUITE("panels") {

TEST_CASE("the window opens on the example: shapes, tokens, the span, both continuations, one heatmap upload") {
  Window w("gui_open");
  const auto& snap = w.state.snap();
  CHECK(snap.model->n_layers == 5);
  CHECK(snap.model->n_heads == 8);
  REQUIRE(snap.prompt);
  CHECK(snap.prompt->issues.empty());
  CHECK(snap.prompt->ids.size() == 25);
  REQUIRE(snap.prompt->spans.size() == 1);
  CHECK(snap.prompt->spans[0].begin == 16);  // "She loved her red ball." as the CLI resolves it
  CHECK(snap.prompt->spans[0].end == 25);
  CHECK(w.baseline_ids().size() == 48);
  CHECK(w.steered_ids().size() == 48);
  CHECK(w.steered_ids() != w.baseline_ids());  // GUIDE delta 1 changes the story on stories260K
  // The heatmap's map arrived and went up once; frames without a new map upload nothing.
  const int64_t uploads = w.state.renderer().uploads();
  CHECK(uploads >= 1);
  for (int i = 0; i < 10; ++i) w.ui.frame(w.state);
  CHECK(w.state.renderer().uploads() == uploads);
  CHECK(w.state.renderer().draws() >= 10);
}

TEST_CASE("heads grid: a click toggles a head, a drag sets a rectangle, and the steered text follows") {
  Window w("gui_heads");
  w.state.set_method(hl::SteeringMethod::Pasta);
  w.state.set_heads({});
  REQUIRE(w.ui.frames_until_idle(w.state));
  CHECK(w.steered_ids() == w.baseline_ids());  // PASTA with no heads steers nothing

  w.grid_drag(1, 0, 1, 0);  // a click on L1H0
  CHECK(wb::head_in_set(w.state.doc().spec.heads, 1, 0));
  CHECK(w.state.doc().spec.heads.count(5, 8) == 1);
  CHECK(w.bench.document().spec.heads.count(5, 8) == 1);  // handed to the workbench at once

  w.grid_drag(0, 0, 4, 7);  // a drag over the whole grid, starting on an unsteered head: every head on
  CHECK(w.state.doc().spec.heads.count(5, 8) == 40);
  REQUIRE(w.ui.frames_until_idle(w.state));
  CHECK(w.steered_ids() != w.baseline_ids());

  w.grid_drag(1, 0, 1, 0);  // a click on a steered head turns it off
  CHECK_FALSE(wb::head_in_set(w.state.doc().spec.heads, 1, 0));
  CHECK(w.state.doc().spec.heads.count(5, 8) == 39);
}

TEST_CASE("right-click on a head picks it for the heatmap; the map that arrives is that head's") {
  Window w("gui_focus");
  ImGuiIO& io = ImGui::GetIO();
  io.MousePos = ImVec2(w.state.grid_x + 3.5f * w.state.grid_cell, w.state.grid_y + 2.5f * w.state.grid_cell);
  w.ui.frame(w.state);
  io.MouseDown[1] = true;
  w.ui.frame(w.state);
  io.MouseDown[1] = false;
  w.ui.frame(w.state);
  CHECK(w.state.doc().focus_layer == 2);
  CHECK(w.state.doc().focus_head == 3);
  REQUIRE(w.ui.frames_until_idle(w.state));
  REQUIRE(w.state.snap().steered->map);
  CHECK(w.state.snap().steered->map->layer == 2);
  CHECK(w.state.snap().steered->map->head == 3);
  CHECK(w.state.snap().steered->map->rows == 25 + 48);
}

TEST_CASE("prompt: emphasis, a token span, and markers typed by hand all resolve to steered spans") {
  Window w("gui_prompt");
  w.state.set_token_span(3, 6);  // what a drag over chips 3..5 calls
  REQUIRE(w.ui.frames_until_idle(w.state));
  REQUIRE(w.state.snap().prompt->spans.size() == 1);
  CHECK(w.state.snap().prompt->spans[0].begin == 3);
  CHECK(w.state.snap().prompt->spans[0].end == 6);
  CHECK(w.state.doc().spec.emphasis.empty());

  w.state.clear_marks();
  w.state.set_prompt("Once upon a time, there was a little girl named Lily. **She loved her red ball.**");
  REQUIRE(w.ui.frames_until_idle(w.state));
  REQUIRE(w.state.snap().prompt->spans.size() == 1);
  CHECK(w.state.snap().prompt->clean_text.find("**") == std::string::npos);
  CHECK(w.state.snap().prompt->spans[0].end == static_cast<int64_t>(w.state.snap().prompt->ids.size()));
}

TEST_CASE("a bad model directory shows the loader's message; the loaded model stays") {
  Window w("gui_badmodel");
  hl_test::ScratchDir empty("gui_empty_model");
  w.state.load_model(empty.dir.string());
  REQUIRE(w.ui.frames_until_idle(w.state));
  CHECK_FALSE(w.state.snap().model_error.empty());
  REQUIRE(w.state.snap().model);
  CHECK(w.state.snap().model->n_layers == 5);
  for (int i = 0; i < 3; ++i) w.ui.frame(w.state);  // the Model panel draws the message without trouble
  // The document runs again on the model that stayed: its results are whole, not the ones the load cut short.
  REQUIRE(w.ui.frames_until_idle(w.state));
  REQUIRE(w.state.snap().prompt);
  REQUIRE(w.state.snap().steered);
  CHECK(w.state.snap().steered->continuation.finished);
  CHECK(w.steered_ids().size() == 48);
}

TEST_CASE("a prompt changed while a bad load runs is the prompt the panels end up showing") {
  Window w("gui_badload_prompt");
  w.state.set_prompt("Once upon a time there was a dog named Max.");
  w.state.load_model("/nonexistent/model/dir");
  REQUIRE(w.ui.frames_until_idle(w.state));
  REQUIRE(w.ui.frames_until_idle(w.state));  // the document's run after the failed load
  REQUIRE(w.state.snap().prompt);
  // The new prompt was prepared on the model that stayed: the emphasis it lacks is named next to its field.
  CHECK(field_issue(w.state.snap(), "emphasis").find("She loved her red ball.") != std::string::npos);
}

TEST_CASE("a script drives the same state as the mouse, and a head the model lacks is named with its line") {
  Window w("gui_script_run");
  ScriptPlayer ok(parse_script("method pasta\nalpha 0.05\nheads L1H0,L2H3\ntoggle L4H7\nselect L3\npanel influence\nwait\n", "s"), "s");
  w.ui.play(w.state, ok);
  REQUIRE(ok.done());
  CHECK_FALSE(ok.failed());
  const auto& spec = w.state.doc().spec;
  CHECK(spec.method == hl::SteeringMethod::Pasta);
  CHECK(spec.alpha == doctest::Approx(0.05));
  CHECK(spec.heads.count(5, 8) == 3);
  CHECK(wb::head_in_set(spec.heads, 4, 7));
  CHECK(w.state.doc().focus_layer == 3);
  CHECK(w.state.doc().focus_head == -1);
  CHECK(w.bench.idle());

  ScriptPlayer bad(parse_script("wait\ntoggle L9H0\n", "bad.script"), "bad.script");
  w.ui.play(w.state, bad);
  CHECK(bad.failed());
  CHECK(bad.error() == "bad.script:2: the model has 5 layers x 8 heads: `toggle L9H0`");
}

TEST_CASE("runs: the store's runs are listed, one reopens into the document; the state file says what is shown") {
  Window w("gui_runs");
  CHECK(w.state.snap().runs_recorded >= 1);
  // The panel reads the store on a helper thread: frames go on until the list arrives.
  for (int i = 0; i < 500 && w.state.runs.empty(); ++i) {
    w.ui.frame(w.state);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  REQUIRE_FALSE(w.state.runs.empty());
  CHECK(w.state.runs_error.empty());
  const int64_t id = w.state.runs.front().id;
  w.state.set_prompt("A different prompt about a cat.");
  REQUIRE(w.ui.frames_until_idle(w.state));
  REQUIRE(w.state.reopen_run(id));  // the panel's "open" button
  CHECK(w.state.doc().prompt.find("Lily") != std::string::npos);

  const nlohmann::json j = state_json(w.state);
  CHECK(j["spec"]["method"] == "guide");
  CHECK(j["selected_head"] == "L0H0");
  CHECK(j["frames"].is_number());
  CHECK(j.contains("frame_ms_busy"));
}

}  // TEST_SUITE

TEST_SUITE("panels") {

TEST_CASE("prompt buttons: the text box's selection becomes the emphasis, or a GUIDE tag of the chosen level") {
  Window w("gui_selection");
  const std::string sentence = "She loved her red ball.";
  w.state.selection_begin = static_cast<int>(w.state.prompt_edit.find(sentence));
  w.state.selection_end = w.state.selection_begin + static_cast<int>(sentence.size());
  w.state.clear_marks();
  REQUIRE(w.state.emphasize_selection());
  CHECK(w.state.doc().spec.emphasis == std::vector<std::string>{sentence});

  const std::string girl = "a little girl";
  w.state.clear_marks();
  w.state.selection_begin = static_cast<int>(w.state.prompt_edit.find(girl));
  w.state.selection_end = w.state.selection_begin + static_cast<int>(girl.size());
  w.state.guide_level = 2;
  REQUIRE(w.state.mark_selection_as_instruction());
  CHECK(w.state.doc().prompt.find("<!!!->a little girl<-!!!>") != std::string::npos);
  REQUIRE(w.ui.frames_until_idle(w.state));
  const auto& p = *w.state.snap().prompt;
  REQUIRE(p.spans.size() == 1);
  CHECK(p.spans[0].level == 2.0);
  CHECK(p.clean_text.find("<!") == std::string::npos);
  CHECK_FALSE(w.state.emphasize_selection());  // the selection was used up
}

TEST_CASE("heatmap: the wheel zooms and a drag pans without uploading the map again") {
  Window w("gui_zoom");
  const int64_t uploads = w.state.renderer().uploads();
  REQUIRE(w.state.heatmap_side > 0);
  ImGuiIO& io = ImGui::GetIO();
  const ImVec2 centre(w.state.heatmap_x + w.state.heatmap_side * 0.5f, w.state.heatmap_y + w.state.heatmap_side * 0.5f);
  io.MousePos = centre;
  w.ui.frame(w.state);
  io.MouseWheel = 3;
  w.ui.frame(w.state);
  io.MouseWheel = 0;
  const double n = 25 + 48;
  CHECK(w.state.heatmap.span > 0);
  CHECK(w.state.heatmap.span < n);
  CHECK(w.state.heatmap.x0 > 0);  // zoomed around the mouse, not the corner
  const double x0 = w.state.heatmap.x0, y0 = w.state.heatmap.y0;
  io.MouseDown[0] = true;
  w.ui.frame(w.state);
  io.MousePos = ImVec2(centre.x + 40, centre.y + 40);
  w.ui.frame(w.state);
  io.MouseDown[0] = false;
  w.ui.frame(w.state);
  CHECK(w.state.heatmap.x0 < x0);  // dragging right shows what is to the left
  CHECK(w.state.heatmap.y0 < y0);
  CHECK(w.state.renderer().uploads() == uploads);
  io.MousePos = ImVec2(-1, -1);
}

TEST_CASE("runs: export as PNG, CSV and JSON, then delete") {
  Window w("gui_export");
  for (int i = 0; i < 500 && w.state.runs.empty(); ++i) {
    w.ui.frame(w.state);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  REQUIRE_FALSE(w.state.runs.empty());
  const int64_t id = w.state.runs.front().id;
  for (const char* fmt : {"png", "csv", "json"}) {
    const std::string out = w.dir.file(std::string("run.") + fmt);
    w.state.export_run(id, fmt, out);
    REQUIRE(w.ui.frames_until_idle(w.state));
    INFO(w.state.runs_message);
    CHECK(std::filesystem::file_size(out) > 0);
    CHECK(w.state.runs_message.find("done") != std::string::npos);
  }
  const size_t before = w.state.runs.size();
  w.state.delete_run(id);
  REQUIRE(w.ui.frames_until_idle(w.state));
  for (int i = 0; i < 500 && w.state.runs.size() == before; ++i) {
    w.ui.frame(w.state);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  CHECK(w.state.runs.size() == before - 1);
}

}  // TEST_SUITE

TEST_SUITE("panels") {

TEST_CASE("head sets: save and load PASTA files; every published config opens; one that does not fit is named") {
  Window w("gui_headfiles");
  w.state.set_method(hl::SteeringMethod::Pasta);
  w.state.set_heads(hl::parse_head_set_text("L3H1,L0H7,L3H0", "test"));
  w.state.heads_file = w.dir.file("heads.json");
  REQUIRE(w.state.save_heads_file());
  w.state.set_heads({});
  REQUIRE(w.state.load_heads_file());
  CHECK(w.state.doc().spec.heads == hl::parse_head_set_text("L3H1,L0H7,L3H0", "test"));
  CHECK(w.state.heads_message.find("loaded") == 0);

  w.state.heads_file = w.dir.file("missing.json");
  CHECK_FALSE(w.state.load_heads_file());
  CHECK(w.state.heads_message.find("missing.json") != std::string::npos);

  // The 201 published PASTA configs (LLaMA-7B, GPT-J) open unchanged through the panel's loader ...
  const std::filesystem::path published = std::filesystem::path(HEADLIGHT_SHARED_DIR) / "data" / "pasta_head_configs";
  int opened = 0;
  std::string big;
  for (const auto& e : std::filesystem::recursive_directory_iterator(published)) {
    if (!e.is_regular_file() || e.path().extension() != ".json") continue;
    w.state.heads_file = e.path().string();
    INFO(e.path());
    CHECK(w.state.load_heads_file());
    if (big.empty() && w.state.doc().spec.heads.count(32, 32) > 0) big = e.path().string();
    ++opened;
  }
  CHECK(opened == 201);
  // ... and one for a 32-layer model, on stories260K, is named next to the heads field instead of being run.
  REQUIRE_FALSE(big.empty());
  w.state.heads_file = big;
  REQUIRE(w.state.load_heads_file());
  REQUIRE(w.ui.frames_until_idle(w.state));
  CHECK_FALSE(field_issue(w.state.snap(), "heads").empty());
}

}  // TEST_SUITE

TEST_SUITE("panels") {

TEST_CASE("prompt: a drag over token chips marks that token range as the span") {
  Window w("gui_chips");
  REQUIRE(w.state.prompt_chip_centres.size() == 25);
  ImGuiIO& io = ImGui::GetIO();
  io.MousePos = w.state.prompt_chip_centres[5];
  w.ui.frame(w.state);
  io.MouseDown[0] = true;
  w.ui.frame(w.state);
  io.MousePos = w.state.prompt_chip_centres[7];
  w.ui.frame(w.state);
  io.MousePos = w.state.prompt_chip_centres[3];  // dragging back past the start: the range is [3, 5]
  w.ui.frame(w.state);
  io.MouseDown[0] = false;
  w.ui.frame(w.state);
  io.MousePos = ImVec2(-1, -1);
  REQUIRE(w.state.doc().spec.spans.size() == 1);
  CHECK(w.state.doc().spec.spans[0].begin == 3);
  CHECK(w.state.doc().spec.spans[0].end == 6);
  CHECK(w.state.doc().spec.emphasis.empty());
  REQUIRE(w.ui.frames_until_idle(w.state));
  REQUIRE(w.state.snap().prompt->spans.size() == 1);
  CHECK(w.state.snap().prompt->spans[0].begin == 3);
  CHECK(w.state.snap().prompt->spans[0].end == 6);
}

TEST_CASE("heads grid: the click mode switch edits the ablated set; ablation alone re-runs the steered text") {
  Window w("gui_ablate");
  w.state.set_method(hl::SteeringMethod::None);
  REQUIRE(w.ui.frames_until_idle(w.state));
  CHECK(w.steered_ids() == w.baseline_ids());  // nothing steered, nothing ablated

  CHECK(w.state.head_click == HeadClick::Steer);
  w.state.head_click = HeadClick::Ablate;
  w.grid_drag(1, 0, 1, 0);  // a click on L1H0 in ablate mode
  const auto& spec = w.state.doc().spec;
  CHECK(wb::head_in_set(spec.ablate, 1, 0));
  CHECK(spec.heads.empty());                            // the steered set is untouched
  CHECK(w.bench.document().spec.ablate == spec.ablate);  // handed to the workbench at once
  w.grid_drag(1, 3, 2, 5);  // a drag sets a rectangle of ablated heads: L1H3..L2H5
  CHECK(spec.ablate.count(5, 8) == 1 + 6);
  REQUIRE(w.ui.frames_until_idle(w.state));
  CHECK(w.steered_ids() != w.baseline_ids());
  // The document's spec carries the ablation, as the state file and the store's run say.
  const auto& snap = w.state.snap();
  REQUIRE(snap.prompt);
  const auto resolved = nlohmann::json::parse(snap.prompt->spec_json);
  CHECK(resolved["method"] == "none");
  CHECK(resolved["ablation"] == "zero");
  CHECK(resolved["ablate"]["1"] == nlohmann::json::array({0, 3, 4, 5}));
  {
    hl::store::Store st = hl::store::Store::open(w.bench.db_path(), hl::store::Store::Access::ReadOnly);
    hl::store::RunFilter f;
    f.limit = 1;
    const auto runs = st.list_runs(f);
    REQUIRE(runs.size() == 1);
    REQUIRE(runs[0].run.spec_id);
    CHECK(nlohmann::json::parse(*st.get_spec(*runs[0].run.spec_id))["ablate"] == resolved["ablate"]);
  }

  // Mean ablation: the Steering panel's kind, a re-run with a different continuation.
  const auto zero_ids = w.steered_ids();
  w.state.set_ablation(hl::AblationMode::Mean);
  CHECK(w.state.doc().spec.ablation == hl::AblationMode::Mean);
  REQUIRE(w.ui.frames_until_idle(w.state));
  CHECK(w.steered_ids() != zero_ids);
  for (const auto& j : w.state.snap().jobs) CHECK_MESSAGE(j.state != wb::JobState::Failed, j.label << ": " << j.error);

  // Back to steer mode: a click toggles the steered set, the ablated set stays; Save writes the steered set only.
  w.state.head_click = HeadClick::Steer;
  w.grid_drag(4, 7, 4, 7);
  CHECK(wb::head_in_set(spec.heads, 4, 7));
  CHECK(spec.heads.count(5, 8) == 1);
  CHECK(spec.ablate.count(5, 8) == 7);
  w.state.heads_file = w.dir.file("steered.json");
  REQUIRE(w.state.save_heads_file());
  CHECK(wb::Workbench::load_heads(w.state.heads_file) == spec.heads);
  w.state.set_heads({});
  REQUIRE(w.state.load_heads_file());
  CHECK(wb::head_in_set(w.state.doc().spec.heads, 4, 7));
  CHECK(w.state.doc().spec.ablate.count(5, 8) == 7);

  // A click on an ablated head in ablate mode restores it.
  w.state.head_click = HeadClick::Ablate;
  w.grid_drag(1, 0, 1, 0);
  CHECK_FALSE(wb::head_in_set(w.state.doc().spec.ablate, 1, 0));
  CHECK(w.state.doc().spec.ablate.count(5, 8) == 6);
}

TEST_CASE("heads grid colour: statistics with units, and the store's retrieval scores of this model's NIAH run") {
  Window w("gui_colour");
  // The new statistics are on the menu, by name.
  REQUIRE(w.state.set_head_colour("attn_distance"));
  const auto names = hl::gui::head_stat_names(w.state.snap());
  const auto at = std::find(names.begin(), names.end(), "attn_distance");
  REQUIRE(at != names.end());
  CHECK(w.state.head_metric == static_cast<int>(at - names.begin()));
  REQUIRE(w.state.set_head_colour("future_influence"));
  CHECK(names[static_cast<size_t>(w.state.head_metric)] == "future_influence");
  CHECK(hl::gui::head_metric_info("attn_distance").unit.find("tokens") != std::string::npos);
  CHECK(hl::gui::head_metric_info("entropy").unit == "nats");
  CHECK_FALSE(w.state.set_head_colour("no_such_stat"));
  CHECK(names[static_cast<size_t>(w.state.head_metric)] == "future_influence");
  w.ui.frame(w.state);

  // No NIAH run in the store: the retrieval entry says why.
  REQUIRE(w.state.set_head_colour("retrieval"));
  CHECK(w.state.head_metric == kHeadMetricRetrieval);
  for (int i = 0; i < 2000 && w.state.retrieval_pending(); ++i) {
    w.ui.frame(w.state);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  REQUIRE_FALSE(w.state.retrieval_pending());
  CHECK_FALSE(w.state.retrieval.available());
  CHECK(w.state.retrieval.missing.find("no NIAH run of this model") != std::string::npos);

  // A NIAH sweep with retrieval scores for this model (its store identity) lands in the store; a re-read shows it.
  const auto& model = *w.state.snap().model;
  std::vector<int32_t> hits(40, 1);
  hits[3 * 8 + 2] = 4;  // L3H2 retrieved 4 of 5
  const int64_t run_id = hl_test::record_retrieval_run(w.bench.db_path(), model.record_path, model.config_hash, 5, hits);
  w.state.refresh_retrieval();
  for (int i = 0; i < 2000 && w.state.retrieval_pending(); ++i) {
    w.ui.frame(w.state);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  REQUIRE(w.state.retrieval.available());
  CHECK(w.state.retrieval.run_id == run_id);
  CHECK(w.state.retrieval.score[3 * 8 + 2] == doctest::Approx(0.8));
  CHECK(w.state.retrieval.score[0] == doctest::Approx(0.2));
  w.ui.frame(w.state);
  CHECK(w.state.head_metric == kHeadMetricRetrieval);

  // A script switches the colour source and the click mode, and ablates, as the mouse does.
  ScriptPlayer sp(parse_script("colour span_mass_after\nclick ablate\nablate L0H1,L2\nablation mean\nwait\ncolour retrieval\nwait\n", "c"), "c");
  w.ui.play(w.state, sp);
  REQUIRE(sp.done());
  CHECK_MESSAGE(!sp.failed(), sp.error());
  CHECK(w.state.head_click == HeadClick::Ablate);
  CHECK(w.state.doc().spec.ablate.count(5, 8) == 9);
  CHECK(w.state.doc().spec.ablation == hl::AblationMode::Mean);
  CHECK(w.state.head_metric == kHeadMetricRetrieval);
  CHECK(w.state.retrieval.available());
}

}  // TEST_SUITE
