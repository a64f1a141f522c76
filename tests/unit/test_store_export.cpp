// Exports: JSON and CSV of a run, PNG heatmaps of an attention map and of a NIAH grid with a colorbar.
#include <doctest/doctest.h>
#include <stb/stb_image.h>

#include <cmath>
#include <sstream>

#include "core/error.h"
#include "core/safetensors.h"
#include "storage/heatmap_png.h"
#include "storage/run_export.h"
#include "test_store_fixture.h"

using namespace hl::store;
using store_test::ScratchDir;

namespace {

struct Fixture {
  ScratchDir dir{"export"};
  Store s = Store::open(dir.file("h.db"));
  int64_t gen_run = 0, niah_run = 0, prof_run = 0, map_id = 0;
  Fixture() {
    RunRecord r;
    r.model_id = store_test::add_model(s);
    r.kind = "generate";
    r.status = "done";
    r.created_at = "2024-06-01T10:00:00.000Z";
    r.spec_id = s.record_spec(R"({"method":"pasta","alpha":0.01})");
    PromptRecord p{0, "Hello, world", {1, 15043, 29892, 3186}, {{0, 0}, {0, 5}, {5, 6}, {6, 12}}};
    r.prompt_id = s.record_prompt(p);
    gen_run = s.record_run(r,
                           {{"baseline", {450, 11}, "a \"quoted\", text\n", {0.5f, 0.4f}},
                            {"steered", {451}, "b", {0.75f}}},
                           {{0, 0, "span_mass", 0.3}, {1, 2, "entropy", std::nan("")}});
    FloatMatrix m{4, 4, {}};
    for (int i = 0; i < 16; ++i) m.values.push_back(i / 15.f);
    map_id = s.add_attention_map(gen_run, 1, 2, "prefill", m, BlobDtype::F32);
    s.add_trace(gen_run, "1:3", "influence", std::nullopt, FloatMatrix{2, 4, std::vector<float>(8, 0.5f)});

    r.kind = "niah";
    r.spec_id.reset();
    r.prompt_id.reset();
    niah_run = s.record_run(r, {}, {});
    const int64_t sweep = s.create_niah_sweep(niah_run, "guide", R"({"deltas":[0,1]})");
    for (int d = 0; d <= 100; d += 50)
      for (int len = 1000; len <= 3000; len += 1000)
        if (!(d == 50 && len == 2000)) s.record_niah_cell(sweep, store_test::v1_cell(0.0, len, double(d), 4, (d + len / 1000) / 103.0, 0.1));
    s.record_niah_cell(sweep, store_test::v1_cell(1.0, 1000, 0.0, 4, 1.0, 0.2));

    r.kind = "profile";
    prof_run = s.record_run(r, {}, {});
    const int64_t job = s.create_profiling_job(prof_run, R"({"tasks":["json"]})", 2);
    s.record_unit(job, {"json", 0, 1, 10, 0.5, {{"acc", 0.5}}});
    s.record_unit(job, {"json", 1, 0, 10, 0.5, {{"acc", 0.25}}});
    s.record_exported_profile({0, job, "task_specific", 1, R"({"0":[1]})", ""});
  }
};

struct Png {
  int w = 0, h = 0;
  std::vector<unsigned char> px;
  Rgb at(int x, int y) const {
    const unsigned char* p = &px[(size_t(y) * w + x) * 3];
    return {p[0], p[1], p[2]};
  }
};

Png load_png(const std::string& path) {
  Png img;
  int n = 0;
  unsigned char* data = stbi_load(path.c_str(), &img.w, &img.h, &n, 3);
  REQUIRE(data != nullptr);
  img.px.assign(data, data + size_t(img.w) * img.h * 3);
  stbi_image_free(data);
  return img;
}

bool same(Rgb a, Rgb b) { return a.r == b.r && a.g == b.g && a.b == b.b; }

}  // namespace

TEST_CASE("store export: JSON of a run carries everything, blobs by reference") {
  Fixture f;
  const auto j = run_to_json(f.s, f.gen_run);
  CHECK(j["run"]["kind"] == "generate");
  CHECK(j["run"]["created_at"] == "2024-06-01T10:00:00.000Z");
  CHECK(j["model"]["architecture"] == "LlamaForCausalLM");
  CHECK(j["prompt"]["token_ids"].size() == 4);
  CHECK(j["prompt"]["offsets"][3][1] == 12);
  CHECK(j["steering_spec"]["alpha"] == 0.01);
  REQUIRE(j["generations"].size() == 2);
  CHECK(j["generations"][0]["text"] == "a \"quoted\", text\n");
  CHECK(j["generations"][0]["step_probs"][1] == 0.4);  // the float 0.4f, printed shortest
  CHECK(j["head_stats"].size() == 2);
  CHECK(j["head_stats"][1]["value"].is_null());  // NaN
  REQUIRE(j["attention_maps"].size() == 1);
  CHECK(j["attention_maps"][0]["shape"][0] == 4);
  CHECK(j["attention_maps"][0]["dtype"] == "f32");
  CHECK(j["traces"][0]["layer"] == "all");
  const auto p = run_to_json(f.s, f.prof_run);
  CHECK(p["profiling"]["recorded_units"] == 2);
  CHECK(p["profiling"]["exported_profiles"][0]["heads"]["0"][0] == 1);
  const auto n = run_to_json(f.s, f.niah_run);
  CHECK(n["niah_sweeps"][0]["cells"].size() == 9);
  CHECK_THROWS_WITH_AS(run_to_json(f.s, 999), doctest::Contains("no run 999"), hl::Error);
  const auto list = run_list_to_json(f.s.list_runs());
  CHECK(list.size() == 3);
  CHECK(list[0]["model_path"] == "/models/tiny");
}

TEST_CASE("store export: CSV tables have a header row and quote text") {
  Fixture f;
  CHECK(default_csv_table(f.s, f.gen_run) == "head_stats");
  CHECK(default_csv_table(f.s, f.niah_run) == "niah_cells");
  CHECK(default_csv_table(f.s, f.prof_run) == "head_scores");
  CHECK(run_to_csv(f.s, f.gen_run, "head_stats") == "layer,head,stat,value\n0,0,span_mass,0.3\n1,2,entropy,\n");
  CHECK(run_to_csv(f.s, f.gen_run, "generations") ==
        "variant,step,token_id,token_prob\nbaseline,0,450,0.5\nbaseline,1,11,0.4\nsteered,0,451,0.75\n");
  CHECK(run_to_csv(f.s, f.prof_run, "head_scores") == "task,layer,head,metric,value\njson,0,1,acc,0.5\njson,1,0,acc,0.25\n");
  const std::string niah = run_to_csv(f.s, f.niah_run, "niah_cells");
  CHECK(niah.rfind("sweep_id,method,strength,context_length,depth_percent,realised_depth,n_samples,mean_score,", 0) == 0);
  CHECK(std::count(niah.begin(), niah.end(), '\n') == 10);
  CHECK_THROWS_WITH_AS(run_to_csv(f.s, f.gen_run, "maps"), doctest::Contains("unknown table"), hl::Error);
}

TEST_CASE("store export: PNG of an attention map uses viridis and has a colorbar") {
  Fixture f;
  const std::string out = f.dir.file("map.png");
  // The plot itself (render_heatmap with no texts): 4x4 map, 48-pixel cells (512/4 clamps to 48) after an 8-pixel
  // margin.
  const hl::store::Image img = render_heatmap(f.s.load_attention_map(f.map_id));
  CHECK(img.height == 4 * 48 + 16);
  CHECK(same(img.at(8 + 10, 8 + 10), viridis(0.f)));             // value 0, the minimum
  CHECK(same(img.at(8 + 3 * 48 + 10, 8 + 3 * 48 + 10), viridis(1.f)));  // value 1, the maximum
  // Colorbar right of the map: yellow (max) at the top, purple (min) at the bottom.
  const int bar_x = 8 + 4 * 48 + 12 + 8;
  CHECK(same(img.at(bar_x, 8), viridis(1.f)));
  CHECK(same(img.at(bar_x, 8 + 4 * 48 - 1), viridis(0.f)));
  // Tick labels are drawn in dark ink to the right of the bar.
  int ink = 0;
  for (int y = 0; y < img.height; ++y)
    for (int x = bar_x + 16; x < img.width; ++x) ink += img.at(x, y).r == 0x20;
  CHECK(ink > 20);
  // The export adds what a reader needs: a title above (run, head, method and strength), axis labels and the
  // prompt's tokens on the axes.
  export_run_png(f.s, f.gen_run, {}, out);
  const Png fig = load_png(out);
  CHECK(fig.h > img.height + 20);
  CHECK(fig.w > img.width);
  int title_ink = 0;
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < fig.w; ++x) title_ink += fig.at(x, y).r == 0x20;
  CHECK(title_ink > 50);
  PngChoice map42;
  map42.map_id = 42;
  CHECK_THROWS_WITH_AS(export_run_png(f.s, f.gen_run, map42, out),
                       doctest::Contains("no attention map 42"), hl::Error);
  CHECK_THROWS_WITH_AS(export_run_png(f.s, f.prof_run, {}, out), doctest::Contains("nothing to draw"), hl::Error);
  CHECK_THROWS_WITH_AS(export_run_png(f.s, f.gen_run, {}, f.dir.file("no/such/dir/x.png")),
                       doctest::Contains("does not exist"), hl::Error);
}

TEST_CASE("store export: PNG of a NIAH grid: depth rows, length columns, missing cells grey") {
  Fixture f;
  NiahGrid g = niah_grid(f.s.get_niah_cells(f.s.list_niah_sweeps(f.niah_run)[0].id), 0.0, false);
  CHECK(g.depths == std::vector<double>{0, 50, 100});
  CHECK(g.lengths == std::vector<int64_t>{1000, 2000, 3000});
  CHECK(std::isnan(g.values.values[4]));  // depth 50, length 2000 never recorded
  CHECK(g.values.values[0] == doctest::Approx(1 / 103.0));
  const std::string out = f.dir.file("niah.png");
  const hl::store::Image img = render_heatmap(g.values);
  const int cell = 512 / 3 > 48 ? 48 : 512 / 3;
  CHECK(img.height == 3 * cell + 16);
  CHECK(same(img.at(8 + cell + cell / 2, 8 + cell + cell / 2), Rgb{0x80, 0x80, 0x80}));
  CHECK(same(img.at(8 + 2, 8 + 2), viridis(0.f)));  // depth 0, length 1000 is the minimum
  // The export: the same grid with a title, "context length" / "depth" labels and their values as ticks.
  export_run_png(f.s, f.niah_run, {}, out);
  CHECK(load_png(out).h > img.height + 2 * 16);
  // The other panel has one cell.
  PngChoice other;
  other.strength = 1.0;
  export_run_png(f.s, f.niah_run, other, out);
  CHECK(load_png(out).h > 48 + 16);  // one 48-px cell, with its title and labels
  other.strength = 0.25;
  CHECK_THROWS_WITH_AS(export_run_png(f.s, f.niah_run, other, out), doctest::Contains("no NIAH cells with strength"),
                       hl::Error);
}

TEST_CASE("store export: viridis endpoints and monotone lightness") {
  CHECK(same(viridis(0.f), Rgb{0x44, 0x01, 0x54}));
  CHECK(same(viridis(1.f), Rgb{0xfd, 0xe7, 0x25}));
  CHECK(same(viridis(2.f), viridis(1.f)));
  CHECK(same(viridis(std::nanf("")), Rgb{0x80, 0x80, 0x80}));
  int prev = -1;
  for (int i = 0; i <= 100; ++i) {
    const Rgb c = viridis(i / 100.f);
    const int g = c.g;  // viridis' green channel rises monotonically
    CHECK(g >= prev);
    prev = g;
  }
}

TEST_CASE("store export: maps, traces and NIAH cells carry their numbers (CSV long format, JSON values, safetensors)") {
  Fixture f;
  const std::string maps = run_to_csv(f.s, f.gen_run, "attention_maps");
  CHECK(maps.rfind("map_id,layer,head,phase,query,key,value\n", 0) == 0);
  CHECK(std::count(maps.begin(), maps.end(), '\n') == 1 + 4 * 4);  // the fixture's one 4 x 4 map, every value
  const std::string traces = run_to_csv(f.s, f.gen_run, "traces");
  CHECK(traces.rfind("trace_id,span,variant,layer,position,value\n", 0) == 0);
  CHECK(std::count(traces.begin(), traces.end(), '\n') > 1);
  CHECK(traces.find(",-1,0,") != std::string::npos);  // row 0 of a whole-stack trace is layer -1
  const auto j = run_to_json(f.s, f.gen_run, true);
  REQUIRE(j["attention_maps"][0]["values"].size() == 4);
  CHECK(j["attention_maps"][0]["values"][0].size() == 4);
  CHECK(j["traces"][0].contains("values"));
  CHECK_FALSE(run_to_json(f.s, f.gen_run)["attention_maps"][0].contains("values"));  // by reference unless asked
  const std::string niah = run_to_csv(f.s, f.niah_run, "niah_cells");
  CHECK(niah.rfind("sweep_id,method,strength,context_length,depth_percent,realised_depth,n_samples,mean_score,"
                   "mean_influence,mean_rollout,answer,influence_by_layer\n", 0) == 0);
  CHECK(run_to_json(f.s, f.niah_run)["niah_sweeps"][0]["cells"][0].contains("influence_by_layer"));
  const std::string st = f.dir.file("run.safetensors");
  export_run_safetensors(f.s, f.gen_run, st);
  hl::SafetensorsFile file(st);
  bool saw_map = false, saw_trace = false;
  for (const auto& t : file.tensors()) {
    saw_map = saw_map || t.name.rfind("map.", 0) == 0;
    saw_trace = saw_trace || t.name.rfind("trace.", 0) == 0;
  }
  CHECK(saw_map);
  CHECK(saw_trace);
  CHECK_THROWS_WITH_AS(export_run_safetensors(f.s, f.prof_run, f.dir.file("p.safetensors")),
                       doctest::Contains("no maps, traces or generations"), hl::Error);
}
