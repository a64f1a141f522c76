#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <functional>

#include "core/error.h"
#include "core/steering/steering_spec.h"

using hl::SteeringMethod;
using hl::SteeringSpec;

namespace {

std::string spec_error(const std::string& json) {
  try {
    hl::parse_steering_spec(json, "spec.json");
  } catch (const hl::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("steering spec: PASTA document") {
  const SteeringSpec s = hl::parse_steering_spec(
      R"({"method": "pasta", "heads": {"1": [0, 2], "2": [1]}, "alpha": 0.01, "scale_position": "exclude",
          "spans": [[5, 12]], "apply_at": "all"})");
  CHECK(s.method == SteeringMethod::Pasta);
  CHECK(s.heads.count(4, 4) == 3);
  CHECK(s.alpha == 0.01);
  CHECK(s.scale_position == hl::ScalePosition::Exclude);
  CHECK(s.multispan == hl::MultispanRule::Pasta);
  REQUIRE(s.spans.size() == 1);
  CHECK(s.spans[0] == hl::SteeringSpan{5, 12, 1.0});
  CHECK(s.apply_at == hl::ApplyAt::All);
  CHECK(s.span_match == hl::SpanMatch::Overlap);
}

TEST_CASE("steering spec: defaults") {
  const SteeringSpec p = hl::parse_steering_spec(R"({"method": "pasta", "heads": "L1H0"})");
  CHECK(p.alpha == 0.01);
  CHECK(p.scale_position == hl::ScalePosition::Exclude);
  CHECK(p.apply_at == hl::ApplyAt::All);
  const SteeringSpec g = hl::parse_steering_spec(R"({"method": "guide"})");
  CHECK(g.delta == 1.0);
  CHECK(g.layers.kind == hl::LayerSelection::Kind::All);
  CHECK(g.apply_at == hl::ApplyAt::All);
  CHECK(g.markers);
  CHECK(hl::parse_steering_spec(R"({"method": "none"})").method == SteeringMethod::None);
}

TEST_CASE("steering spec: GUIDE and InstABoost documents") {
  const SteeringSpec g = hl::parse_steering_spec(
      R"({"method": "guide", "delta": 2.0, "layers": [0, 3], "spans": [[5, 12, 0.5]], "apply_at": "prefill",
          "emphasis": ["Summarize in French"], "occurrence": 1, "span_match": "pasta", "influence_span": [1, 3]})");
  CHECK(g.delta == 2.0);
  CHECK(g.layers.resolve(4) == std::vector<int64_t>{0, 3});
  CHECK(g.spans[0].level == 0.5);
  CHECK(g.apply_at == hl::ApplyAt::Prefill);
  CHECK(g.emphasis == std::vector<std::string>{"Summarize in French"});
  CHECK(g.occurrence == 1);
  CHECK(g.span_match == hl::SpanMatch::Pasta);
  CHECK(g.influence_span == hl::TokenRange{1, 3});
  CHECK(g.effective_delta() == 2.0);

  const SteeringSpec i = hl::parse_steering_spec(R"({"method": "instaboost", "multiplier": 5, "layers": "last"})");
  CHECK(i.effective_delta() == doctest::Approx(std::log(5.0)));
  CHECK(i.layers.resolve(6) == std::vector<int64_t>{5});
  CHECK(hl::parse_steering_spec(R"({"method": "guide", "layers": "first"})").layers.resolve(6) ==
        std::vector<int64_t>{0});
  CHECK(hl::parse_steering_spec(R"({"method": "guide", "layers": "none"})").layers.resolve(6).empty());
}

TEST_CASE("steering spec: to_json / parse round trip") {
  const char* docs[] = {
      R"({"method": "pasta", "heads": {"1": [0, 2], "2": [1]}, "alpha": 0.1, "scale_position": "include",
          "multispan": "union", "spans": [[5, 12], [20, 26]], "apply_at": "prefill"})",
      R"({"method": "pasta", "heads": [0, 2], "emphasis": ["a b", "c"], "occurrence": 2})",
      R"({"method": "pasta", "heads": "L0,L1H2", "spans": [[0, 1]], "markers": false})",
      R"({"method": "pasta", "heads": "all", "spans": [[0, 1]], "span_match": "pasta"})",
      R"({"method": "guide", "delta": -0.25, "layers": [3, 1], "spans": [[1, 4, 2.0]], "influence_span": "needle"})",
      R"({"method": "instaboost", "multiplier": 3.5, "layers": "none", "influence_span": [0, 2]})",
      R"({"method": "none", "spans": [[1, 2]]})",
  };
  for (const char* d : docs) {
    CAPTURE(d);
    const SteeringSpec s = hl::parse_steering_spec(d);
    const std::string j = hl::steering_spec_to_json(s);
    const SteeringSpec back = hl::parse_steering_spec(j);
    CHECK(back == s);
    CHECK(hl::steering_spec_to_json(back) == j);
  }
  const auto p = std::filesystem::temp_directory_path() / "hl_test_spec.json";
  const SteeringSpec s = hl::parse_steering_spec(docs[0]);
  hl::save_steering_spec(s, p);
  CHECK(hl::load_steering_spec(p) == s);
  std::filesystem::remove(p);
}

TEST_CASE("steering spec: bad documents name the field") {
  struct Case {
    const char* json;
    const char* must_contain;
  };
  const Case cases[] = {
      {R"({"method": "pasta", "heads": {"1": [0]}, "alpha": 0})", "'alpha'"},
      {R"({"method": "pasta", "heads": {"1": [0]}, "alpha": -1})", "must be > 0"},
      {R"({"method": "pasta", "heads": {"1": [0]}, "alpha": "0.01"})", "'alpha'"},
      {R"({"method": "pasta"})", "'heads'"},
      {R"({"method": "pasta", "heads": {"1": [0]}, "scale_position": "both"})", "'scale_position'"},
      {R"({"method": "pasta", "heads": {"1": [0]}, "multispan": "sum"})", "'multispan'"},
      {R"({"method": "pasta", "heads": {"1": [0]}, "delta": 1})", "does not apply to method \"pasta\""},
      {R"({"method": "pasta", "heads": {"1": [0]}, "spans": [[5, 12, 2]]})", "PASTA has no per-span strength"},
      {R"({"method": "guide", "alpha": 0.01})", "'alpha'"},
      {R"({"method": "guide", "heads": [1]})", "does not apply"},
      {R"({"method": "guide", "delta": "big"})", "'delta'"},
      {R"({"method": "guide", "layers": "middle"})", "'layers'"},
      {R"({"method": "guide", "layers": [1, 1]})", "listed twice"},
      {R"({"method": "instaboost"})", "'multiplier'"},
      {R"({"method": "instaboost", "multiplier": 0})", "'multiplier'"},
      {R"({"method": "steer"})", "'method'"},
      {R"({"heads": [1]})", "'method'"},
      {R"({"method": "none", "colour": "red"})", "'colour': unknown field"},
      {R"({"method": "none", "spans": [[5, 5]]})", "'spans'"},
      {R"({"method": "none", "spans": [[7, 5]]})", "empty or reversed"},
      {R"({"method": "none", "spans": [[-1, 5]]})", "'spans'"},
      {R"({"method": "none", "spans": [5, 12]})", "'spans'"},
      {R"({"method": "none", "spans": [[1.5, 3]]})", "'spans'"},
      {R"({"method": "none", "emphasis": "text"})", "'emphasis'"},
      {R"({"method": "none", "emphasis": [""]})", "'emphasis'"},
      {R"({"method": "none", "occurrence": -1})", "'occurrence'"},
      {R"({"method": "none", "span_match": "fuzzy"})", "'span_match'"},
      {R"({"method": "none", "apply_at": "decode"})", "'apply_at'"},
      {R"({"method": "none", "markers": "yes"})", "'markers'"},
      {R"({"method": "none", "influence_span": [3]})", "'influence_span'"},
      {R"({"method": "none",)", "malformed JSON"},
      {R"([1, 2])", "expected a JSON object"},
      {R"({"method": "pasta", "heads": {"1": [0, 0]}})", "'heads'"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.json);
    const std::string e = spec_error(c.json);
    CHECK_MESSAGE(e.find(c.must_contain) != std::string::npos, e);
    CHECK(e.find("spec.json") == 0);
  }
}

TEST_CASE("steering spec: validation against model dimensions") {
  const SteeringSpec p = hl::parse_steering_spec(R"({"method": "pasta", "heads": {"1": [0, 5]}})");
  CHECK_THROWS_WITH_AS(hl::validate_steering_spec(p, 4, 4), doctest::Contains("L1H5"), hl::Error);
  const SteeringSpec g = hl::parse_steering_spec(R"({"method": "guide", "layers": [0, 9]})");
  CHECK_THROWS_WITH_AS(hl::validate_steering_spec(g, 4, 4), doctest::Contains("layer 9"), hl::Error);
  CHECK_NOTHROW(hl::validate_steering_spec(g, 10, 4));
}

TEST_CASE("steering spec: PASTA heads in KV-head indices") {
  const SteeringSpec kv = hl::parse_steering_spec(
      R"({"method": "pasta", "heads": {"1": [1]}, "head_index": "kv", "spans": [[0, 2]]})", "spec.json");
  CHECK(kv.head_index == hl::HeadIndex::Kv);
  // Round trip keeps the index space; query-indexed specs do not grow the field.
  CHECK(hl::parse_steering_spec(hl::steering_spec_to_json(kv)) == kv);
  CHECK(hl::steering_spec_to_json(hl::parse_steering_spec(R"({"method": "pasta", "heads": "L1H1"})")).find("head_index") ==
        std::string::npos);
  // Unmapped, it cannot be validated or compiled: the KV head count is needed.
  CHECK_THROWS_WITH_AS(hl::validate_steering_spec(kv, 4, 4), doctest::Contains("head_index"), hl::Error);
  // Mapped against 4 query heads over 2 KV heads it steers query heads 2 and 3 of layer 1, exactly as the
  // query-indexed spec does.
  const SteeringSpec q = hl::with_query_heads(kv, 4, 4, 2);
  CHECK(q.head_index == hl::HeadIndex::Query);
  SteeringSpec same = hl::parse_steering_spec(R"({"method": "pasta", "heads": {"1": [2, 3]}, "spans": [[0, 2]]})");
  CHECK(q == same);
  const hl::AttentionBias a = hl::compile(q, 4, 4, 5, q.spans), b = hl::compile(same, 4, 4, 5, same.spans);
  for (int64_t h = 0; h < 4; ++h) {
    CHECK(a.active(0, 1, h) == (h >= 2));
    CHECK(a.active(0, 1, h) == b.active(0, 1, h));
  }
  CHECK_THROWS_WITH_AS(hl::with_query_heads(kv, 4, 4, 1), doctest::Contains("L1H1"), hl::Error);  // 1 KV head
  CHECK(spec_error(R"({"method": "pasta", "heads": "L0H0", "head_index": "group"})").find("head_index") != std::string::npos);
  CHECK(spec_error(R"({"method": "guide", "head_index": "kv"})").find("does not apply") != std::string::npos);
}
