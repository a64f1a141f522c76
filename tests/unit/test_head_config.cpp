#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/steering/head_config.h"

namespace fs = std::filesystem;
using hl::HeadSet;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const hl::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("head config: PASTA dict keeps layer and rank order") {
  const HeadSet s = hl::parse_head_set_text(R"({"18": [23, 13, 0], "3": [5], "22": []})", "t");
  REQUIRE(s.entries().size() == 3);
  CHECK(s.entries()[0].layer == 18);
  CHECK(s.entries()[0].heads == std::vector<int64_t>{23, 13, 0});
  CHECK(s.entries()[2].heads.empty());
  CHECK(hl::head_set_to_pasta_json(s) == R"({"18":[23,13,0],"3":[5],"22":[]})");
  const auto refs = s.expand(32, 32);
  REQUIRE(refs.size() == 4);
  CHECK(refs[0] == hl::HeadRef{18, 23});
  CHECK(refs[3] == hl::HeadRef{3, 5});
}

TEST_CASE("head config: list of layers means every head of them") {
  const HeadSet s = hl::parse_head_set_text("[0, 2]", "t");
  CHECK(s.count(4, 4) == 8);
  CHECK(s.expand(4, 4)[4] == hl::HeadRef{2, 0});
  CHECK(hl::head_set_to_pasta_json(s) == "[0,2]");                  // PASTA's list form survives
  CHECK(hl::head_set_to_pasta_json(s, 0, 3) == R"({"0":[0,1,2],"2":[0,1,2]})");
}

TEST_CASE("head config: L{l}H{h} names, list or comma-separated, and all") {
  const HeadSet a = hl::parse_head_set_text("L3H17, L8H28,L3H7", "t");
  const HeadSet b = hl::parse_head_set_text(R"(["L3H17", "L8H28", "L3H7"])", "t");
  CHECK(a == b);
  CHECK(a.entries()[0].heads == std::vector<int64_t>{17, 7});
  CHECK(hl::head_set_to_names(a) == "L3H17,L3H7,L8H28");
  CHECK(a == hl::parse_head_set_text(R"({"8": [28], "3": [17, 7]})", "t"));  // layer order is irrelevant
  CHECK(a != hl::parse_head_set_text(R"({"8": [28], "3": [7, 17]})", "t"));  // rank order is not

  const HeadSet whole = hl::parse_head_set_text("L5", "t");
  CHECK(whole.count(8, 4) == 4);
  CHECK(hl::head_set_to_names(whole) == "L5");

  const HeadSet all = hl::parse_head_set_text("all", "t");
  CHECK(all.is_all());
  CHECK(all.count(3, 4) == 12);
  CHECK(hl::head_set_to_pasta_json(all, 2, 2) == R"({"0":[0,1],"1":[0,1]})");
  CHECK_THROWS_AS(hl::head_set_to_pasta_json(all), hl::Error);
}

TEST_CASE("head config: validation names the entry") {
  const HeadSet s = hl::parse_head_set_text(R"({"1": [0, 2], "40": [1]})", "cfg.json");
  const std::string e1 = error_of([&] { s.validate(32, 32, "cfg.json"); });
  CHECK(e1.find("cfg.json") != std::string::npos);
  CHECK(e1.find("L40") != std::string::npos);
  CHECK(e1.find("32 layers") != std::string::npos);
  const HeadSet t = hl::parse_head_set_text("L1H0,L2H9", "t");
  const std::string e2 = error_of([&] { t.validate(4, 4); });
  CHECK(e2.find("L2H9") != std::string::npos);
  CHECK(e2.find("head 9") != std::string::npos);
  CHECK_THROWS_AS(t.expand(4, 4), hl::Error);
}

TEST_CASE("head config: malformed input is a clear error") {
  auto err = [](const std::string& text) { return error_of([&] { hl::parse_head_set_text(text, "f.json"); }); };
  CHECK(err(R"({"1": [0, 0]})").find("listed twice") != std::string::npos);
  CHECK(err(R"({"x": [0]})").find("layer \"x\"") != std::string::npos);
  CHECK(err(R"({"-1": [0]})").find("layer \"-1\"") != std::string::npos);
  CHECK(err(R"({"1": 3})").find("list of head indices") != std::string::npos);
  CHECK(err(R"({"1": [1.5]})").find("[0]") != std::string::npos);
  CHECK(err(R"({"1": [-2]})").find("non-negative") != std::string::npos);
  CHECK(err(R"({"1": [0)").find("malformed JSON") != std::string::npos);
  CHECK(err("L3X2").find("L3X2") != std::string::npos);
  CHECK(err("L3H2,,L4H1").find("empty head name") != std::string::npos);
  CHECK(err("L3,L3H2").find("L3H2") != std::string::npos);
  CHECK(err("all,L3H2").find("all") != std::string::npos);
  CHECK(err("true").find("expected") != std::string::npos);
  CHECK(err("").find("empty") != std::string::npos);
  CHECK(err(R"([0, "L1H1"])").find("mixes") != std::string::npos);
  CHECK(err("[1, 1]").find("listed twice") != std::string::npos);
  CHECK_THROWS_AS(hl::load_head_config("/nonexistent/heads.json"), hl::Error);
}

TEST_CASE("head config: all 201 shipped PASTA configs round-trip unchanged") {
  const fs::path root = fs::path(HEADLIGHT_SHARED_DIR) / "data" / "pasta_head_configs";
  REQUIRE(fs::is_directory(root));
  int files = 0;
  for (const auto& de : fs::recursive_directory_iterator(root)) {
    if (!de.is_regular_file()) continue;
    ++files;
    CAPTURE(de.path().string());
    const HeadSet parsed = hl::load_head_config(de.path());
    const std::string exported = hl::head_set_to_pasta_json(parsed);
    CHECK(hl::parse_head_set_text(exported, "export") == parsed);
    // Same JSON value as the file (nlohmann::json compares objects key-order-insensitively) ...
    CHECK(nlohmann::json::parse(exported) == nlohmann::json::parse(slurp(de.path())));
    // ... and the same key order too.
    CHECK(exported == nlohmann::ordered_json::parse(slurp(de.path())).dump());
  }
  CHECK(files == 201);

  // Head counts the methods notes verified by counting (LLaMA-7B 32x32, GPT-J 28x16).
  const HeadSet llama400 = hl::load_head_config(root / "llama-7b/multi_task/intersection/top400_json-bio-cf-pron_train1000.json");
  CHECK(llama400.count(32, 32) == 53);
  const HeadSet gptj325 = hl::load_head_config(root / "gptj/multi_task/intersection/top325_json-bio-cf-pron_train1000.json");
  CHECK(gptj325.count(28, 16) == 153);
}

TEST_CASE("head config: save and load") {
  const fs::path p = fs::temp_directory_path() / "hl_test_head_config.json";
  const HeadSet s = hl::parse_head_set_text(R"({"7": [3, 1], "2": [0]})", "t");
  hl::save_head_config(s, p);
  CHECK(hl::load_head_config(p) == s);
  fs::remove(p);
}

TEST_CASE("head config: KV-head indices (SEKA kv_head configs) map to their GQA groups of query heads") {
  // 6 query heads over 3 KV heads: KV head g stands for query heads 2g and 2g + 1.
  const HeadSet kv = hl::parse_head_set_text(R"({"0": [1], "2": [2, 0], "3": []})", "kv.json");
  const HeadSet q = hl::kv_heads_to_query_heads(kv, 4, 6, 3, "kv.json");
  CHECK(hl::head_set_to_pasta_json(q) == R"({"0":[2,3],"2":[4,5,0,1],"3":[]})");  // rank order kept
  // Whole layers and "all" stay whole; MHA (one query head per KV head) is the identity.
  CHECK(hl::kv_heads_to_query_heads(hl::parse_head_set_text("L1", "t"), 4, 6, 3, "t") == hl::parse_head_set_text("L1", "t"));
  CHECK(hl::kv_heads_to_query_heads(HeadSet::all(), 4, 6, 3, "t").is_all());
  CHECK(hl::kv_heads_to_query_heads(kv, 4, 3, 3, "t") == kv);
  // A KV head past the model's KV heads is named as such, with the file.
  const std::string e = error_of([&] { hl::kv_heads_to_query_heads(kv, 4, 4, 2, "kv.json"); });
  CHECK(e.find("kv.json (KV-head indices)") != std::string::npos);
  CHECK(e.find("L2H2") != std::string::npos);
  CHECK(error_of([&] { hl::kv_heads_to_query_heads(kv, 4, 6, 4, "kv.json"); }).find("split evenly") != std::string::npos);
}
