// The --script parser and the command line: what a user types, and the one-line errors for what is wrong.
#include <doctest/doctest.h>

#include "app/gui/app_args.h"
#include "app/gui/script.h"
#include "scratch_dir.h"

using namespace hl::gui;

TEST_SUITE("panels") {

TEST_CASE("a script parses into actions; blank lines and comments are skipped") {
  const auto a = parse_script(
      "# demo\n"
      "prompt Once upon a time. She loved her red ball.\n"
      "\n"
      "emphasize She loved her red ball.\n"
      "method pasta\n"
      "alpha 0.01\n"
      "delta 2\n"
      "heads L1H5,L2H0\n"
      "heads none\n"
      "heads all\n"
      "toggle L3H1\n"
      "select L2\n"
      "panel heatmap\n"
      "   wait   \n"
      "screenshot out.png\n"
      "frames 5\n"
      "tokens 160\n"
      "scan\n",
      "demo.script");
  REQUIRE(a.size() == 16);
  CHECK(a[0].op == ScriptOp::Prompt);
  CHECK(a[0].text == "Once upon a time. She loved her red ball.");
  CHECK(a[0].line == 2);
  CHECK(a[1].op == ScriptOp::Emphasize);
  CHECK(a[1].line == 4);
  CHECK(a[2].method == hl::SteeringMethod::Pasta);
  CHECK(a[3].number == doctest::Approx(0.01));
  CHECK(a[4].number == 2);
  CHECK(a[5].heads.count(4, 8) == 2);
  CHECK(a[6].heads.empty());
  CHECK(a[7].heads.is_all());
  CHECK(a[8].op == ScriptOp::Toggle);
  CHECK(a[8].layer == 3);
  CHECK(a[8].head == 1);
  CHECK(a[9].op == ScriptOp::Select);
  CHECK(a[9].head == -1);
  CHECK(a[10].text == "heatmap");
  CHECK(a[11].op == ScriptOp::Wait);
  CHECK(a[12].text == "out.png");
  CHECK(a[13].number == 5);
  CHECK(a[14].op == ScriptOp::Tokens);
  CHECK(a[14].number == 160);
  CHECK(a[15].op == ScriptOp::Scan);
}

TEST_CASE("the README's scripts and the window test's script parse") {
  CHECK(load_script(std::string(HEADLIGHT_SOURCE_DIR) + "/assets/examples/demo.script").size() >= 5);
  CHECK(load_script(std::string(HEADLIGHT_SOURCE_DIR) + "/assets/examples/stories.script").size() >= 5);
  CHECK(load_script(std::string(HEADLIGHT_SOURCE_DIR) + "/assets/examples/heads_ablation.script").size() >= 10);
  CHECK(load_script(std::string(HEADLIGHT_SOURCE_DIR) + "/tests/gui/window.script").size() >= 10);
}

TEST_CASE("a bad script line is an error naming the file, the line number and the line") {
  auto error_of = [](const std::string& text) {
    try {
      parse_script(text, "t.script");
    } catch (const ScriptError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(error_of("wait\n\nfrobnicate 3\n") == "t.script:3: unknown command \"frobnicate\": `frobnicate 3`");
  CHECK(error_of("alpha abc") == "t.script:1: alpha: \"abc\" is not a number: `alpha abc`");
  CHECK(error_of("alpha 0") == "t.script:1: alpha must be > 0: `alpha 0`");
  CHECK(error_of("# c\nmethod steer") == "t.script:2: method must be pasta, guide, instaboost or none, not \"steer\": `method steer`");
  CHECK(error_of("toggle L1X2").find("t.script:1: \"L1X2\" is not a head name like L1H5") == 0);
  CHECK(error_of("toggle L1").find("is not a head name") != std::string::npos);  // a toggle needs one head
  CHECK(error_of("panel nowhere").find("unknown panel \"nowhere\" (panels: model, heads, runs, prompt, steering, heatmap, influence)") != std::string::npos);
  CHECK(error_of("screenshot out.jpg") == "t.script:1: screenshot file must end in .png: `screenshot out.jpg`");
  CHECK(error_of("prompt") == "t.script:1: prompt needs the prompt text: `prompt`");
  CHECK(error_of("wait now") == "t.script:1: wait takes no argument: `wait now`");
  CHECK(error_of("heads L1H1,L1H1").find("t.script:1: ") == 0);  // a duplicate head, in head_config's words
  CHECK(error_of("frames 2.5").find("whole number") != std::string::npos);
  CHECK(error_of("tokens 0") == "t.script:1: tokens needs a whole number from 1 to 100000: `tokens 0`");
  CHECK(error_of("scan all") == "t.script:1: scan takes no argument: `scan all`");
  CHECK(error_of("heatmap sideways") == "t.script:1: heatmap shows baseline, steered or difference, not \"sideways\": `heatmap sideways`");
  CHECK(error_of("zoom -3") == "t.script:1: zoom needs 0 (fit) or a number of cells: `zoom -3`");
  CHECK(error_of("ablation half") == "t.script:1: ablation must be zero or mean, not \"half\": `ablation half`");
  CHECK(error_of("click both") == "t.script:1: click toggles steer or ablate, not \"both\": `click both`");
  CHECK(error_of("wait\ncolour heat").find("t.script:2: unknown colour \"heat\" (span_mass_after, ") == 0);
  CHECK(error_of("ablate L2H2,L2H2").find("t.script:1: ") == 0);
}

TEST_CASE("script: ablation, the click mode and the heads-grid colour") {
  const auto a = parse_script("ablate L1H0,L2\nablate none\nablation mean\nclick ablate\nclick steer\n"
                              "colour attn_distance\ncolor retrieval\ncolour scan\n", "a.script");
  REQUIRE(a.size() == 8);
  CHECK(a[0].op == ScriptOp::Ablate);
  CHECK(a[0].heads.count(5, 8) == 9);
  CHECK(a[1].op == ScriptOp::Ablate);
  CHECK(a[1].heads.empty());
  CHECK(a[2].op == ScriptOp::Ablation);
  CHECK(a[2].ablation == hl::AblationMode::Mean);
  CHECK(a[3].op == ScriptOp::Click);
  CHECK(a[3].variant == 1);
  CHECK(a[4].variant == 0);
  CHECK(a[5].op == ScriptOp::Colour);
  CHECK(a[5].text == "attn_distance");
  CHECK(a[6].text == "retrieval");
  CHECK(a[7].text == "scan");
}

TEST_CASE("an unreadable script is named") {
  hl_test::ScratchDir dir("gui_script");
  CHECK_THROWS_WITH_AS(load_script(dir.file("missing.script")), ("script " + dir.file("missing.script") + ": cannot be read").c_str(), ScriptError);
  const auto p = dir.write("ok.script", "method guide\ndelta 1.5\n");
  CHECK(load_script(p.string()).size() == 2);
}

TEST_CASE("command line: sizes, counts and unknown options give one-line errors") {
  const AppArgs a = parse_app_args({"--model", "m", "--size", "1280x800", "--frames", "3", "--screenshot", "x.png", "--state-out", "s.json"});
  CHECK(a.model == "m");
  CHECK(a.width == 1280);
  CHECK(a.height == 800);
  CHECK(a.frames == 3);
  CHECK(a.screenshot == "x.png");
  CHECK(a.state_out == "s.json");
  CHECK_THROWS_WITH_AS(parse_app_args({"--size", "1600"}), "--size: \"1600\" is not WIDTHxHEIGHT (e.g. 1600x1000)", ArgsError);
  CHECK_THROWS_WITH_AS(parse_app_args({"--size", "10x10"}), "--size width: \"10\" is not a whole number in [320, 16384]", ArgsError);
  CHECK_THROWS_WITH_AS(parse_app_args({"--size", "800xabc"}), "--size height: \"abc\" is not a whole number in [240, 16384]", ArgsError);
  CHECK_THROWS_WITH_AS(parse_app_args({"--frames", "-1"}), "--frames: \"-1\" is not a whole number in [0, 10000000]", ArgsError);
  CHECK_THROWS_WITH_AS(parse_app_args({"--screenshot", "a.bmp"}), "--screenshot: \"a.bmp\" must end in .png", ArgsError);
  CHECK_THROWS_WITH_AS(parse_app_args({"--fast"}), "--fast needs a value", ArgsError);
  CHECK_THROWS_WITH_AS(parse_app_args({"--fast", "1"}), "unknown option --fast", ArgsError);
  CHECK_THROWS_WITH_AS(parse_app_args({"stray"}), "unexpected argument \"stray\"", ArgsError);
}

}  // TEST_SUITE

#include "app/gui/example.h"
#include "core/error.h"

TEST_SUITE("panels") {

TEST_CASE("a model folder's example.json is the window's first document; a bad one is named") {
  hl_test::ScratchDir d("gui_example");
  // No example.json: the built-in example.
  CHECK(example_document_for(d.dir.string()).prompt == example_document().prompt);
  d.write("heads.json", R"({"3": [3], "1": [4]})");
  d.write("example.json", R"({"prompt": "previously a b is c . currently a b is d . a b ?",
    "steering": {"method": "pasta", "heads": "heads.json", "alpha": 0.01, "emphasis": ["currently a b is d ."]},
    "focus": "L3H3"})");
  const auto doc = example_document_for(d.dir.string());
  CHECK(doc.prompt == "previously a b is c . currently a b is d . a b ?");
  CHECK(doc.spec.method == hl::SteeringMethod::Pasta);
  CHECK(doc.spec.emphasis == std::vector<std::string>{"currently a b is d ."});
  CHECK(doc.spec.heads.expand(4, 6).size() == 2);  // read from the folder's heads.json
  CHECK(doc.focus_layer == 3);
  CHECK(doc.focus_head == 3);
  // A file path inside the folder finds it too.
  CHECK(example_document_for((d.dir / "model.safetensors").string()).prompt == doc.prompt);

  d.write("example.json", R"({"prompt": 3})");
  CHECK_THROWS_WITH_AS(example_document_for(d.dir.string()), doctest::Contains("field \"prompt\" must be a string"), hl::Error);
  d.write("example.json", R"({"prompt": "x", "focus": "head three"})");
  CHECK_THROWS_WITH_AS(example_document_for(d.dir.string()), doctest::Contains("\"focus\" must name a head"), hl::Error);
  d.write("example.json", R"({"prompt": "x", "steering": {"method": "pasta", "alpha": -1}})");
  CHECK_THROWS_WITH_AS(example_document_for(d.dir.string()), doctest::Contains("example.json: steering"), hl::Error);
}

}  // TEST_SUITE
