// The command line as users drive it: help for every command, a version, global options anywhere, and a one-line
// error for every bad value (each of these was accepted, or crashed, before the parser was CLI11's).
#include <algorithm>
#include <nlohmann/json.hpp>

#include "engine/cli_runner.h"
#include "engine/doctest_torch.h"

using namespace hl::test;

namespace {
const std::string kStories = (shared_dir() / "models/stories260K").string();  // the folder, as the README writes it
}

TEST_CASE("cli: --help for the tool and every command, --version, global options anywhere") {
  CliResult r = run_cli({"--help"});
  CHECK(r.status == 0);
  for (const char* cmd : {"capture", "generate", "influence", "info", "logits", "niah", "runs", "scan-heads", "synth",
                          "tasks", "tokenize"}) {
    CHECK(r.out.find(cmd) != std::string::npos);
    CliResult h = run_cli({cmd, "--help"});
    INFO(cmd);
    CHECK(h.status == 0);
    CHECK(h.out.find("Options:") != std::string::npos);
  }
  CHECK(run_cli({"generate", "--help"}).out.find("(default 64)") != std::string::npos);  // defaults are documented
  r = run_cli({"--version"});
  CHECK(r.status == 0);
  CHECK(r.out.find("headlight-cli 0.") != std::string::npos);
  // --json before the command is the switch, not a value swallowing "generate"; --model before it works too.
  r = run_cli({"--json", "--model", kStories, "generate", "--prompt", "Once upon a time", "--max-new", "4"});
  REQUIRE(r.status == 0);
  const auto a = nlohmann::json::parse(r.out);
  r = run_cli({"generate", "--prompt", "Once upon a time", "--max-new", "4", "--model", kStories, "--json"});
  REQUIRE(r.status == 0);
  CHECK(nlohmann::json::parse(r.out) == a);
  CHECK(a["generated_ids"].size() == 4);
}

TEST_CASE("cli: every bad value is a one-line error naming the option") {
  const auto expect_error = expect_cli_error;
  const std::vector<std::string> gen = {"generate", "--model", kStories, "--prompt", "hi"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> v = gen;
    v.insert(v.end(), extra.begin(), extra.end());
    return v;
  };
  expect_error(with({"--temperature", "nan"}), "--temperature");
  expect_error(with({"--temperature", "inf"}), "--temperature");
  expect_error(with({"--top-p", "0"}), "--top-p");
  expect_error(with({"--threads", "10000"}), "--threads");
  expect_error(with({"--max-new", "0"}), "--max-new");
  expect_error(with({"stray"}), "unexpected argument \"stray\"");
  expect_error(with({"--bogus"}), "unknown option --bogus");
  expect_error({"generate", "--model", kStories, "--prompt", "--max-new", "3"}, "--prompt: needs a value");
  expect_error({"scan-heads", "--model", kStories, "--prompt", "hi", "--rows", "0"}, "--rows");
  expect_error({"tasks", "--file", "x.jsonl", "--show", "-1"}, "--show");
  expect_error({"runs", "list", "--since", "yesterday", "--db", "/tmp/none.db"}, "ISO-8601");
  expect_error({"tokenize", "--db", "/tmp/x.db", "--model", kStories, "--text", "a"}, "--db does not apply");
  expect_error({"frobnicate"}, "unknown command");
  // Invalid UTF-8 is refused at the door, before anything is stored.
  expect_error({"generate", "--model", kStories, "--prompt", "caf\xc3", "--max-new", "2"}, "UTF-8");
}
