// Head selection for PASTA profiles (analysis/profile_select.h): every strategy against sets computed by hand on
// a fixed score table, rank order, ties, nesting in K, and bad requests.
#include <doctest/doctest.h>

#include <algorithm>

#include "analysis/profile_select.h"
#include "core/error.h"
#include "core/steering/steering_spec.h"
#include "scratch_dir.h"

using namespace hl;

namespace {

// Heads a..f = L0H0 L0H1 L1H0 L1H1 L2H0 L2H1.
const std::vector<HeadRef> kHeads = {{0, 0}, {0, 1}, {1, 0}, {1, 1}, {2, 0}, {2, 1}};

std::vector<TaskHeadScores> table() {
  // Rankings: A = a b c d e f, B = b c d e a f, C = d a b e f c.
  return {{"A", kHeads, {5, 4, 3, 2, 1, 0}}, {"B", kHeads, {1, 5, 4, 3, 2, 0}}, {"C", kHeads, {4, 3, 0, 5, 2, 1}}};
}

std::vector<std::string> names(const HeadSelection& s) {
  std::vector<std::string> out;
  for (const auto& h : s.ranked) out.push_back(head_name(h.layer, h.head));
  return out;
}

using V = std::vector<std::string>;

}  // namespace

TEST_CASE("profile select: each task ranks its heads by mean score, ties by layer then head") {
  const auto t = table();
  auto ranked = rank_heads(t[1]);
  REQUIRE(ranked.size() == 6);
  CHECK(head_name(ranked[0].layer, ranked[0].head) == "L0H1");
  CHECK(head_name(ranked[4].layer, ranked[4].head) == "L0H0");
  TaskHeadScores tie{"T", {{1, 1}, {0, 1}, {1, 0}}, {2, 2, 2}};
  ranked = rank_heads(tie);
  CHECK(ranked[0] == HeadRef{0, 1});
  CHECK(ranked[1] == HeadRef{1, 0});
  CHECK(ranked[2] == HeadRef{1, 1});
}

TEST_CASE("profile select: intersection, union, task and leave-one-out match the hand-computed sets") {
  const auto t = table();
  // Intersection: top 2 share nothing; top 3 share b; top 4 share b (rank sum 3) and d (rank sum 5).
  CHECK(select_heads(t, SelectStrategy::Intersection, 2).ranked.empty());
  CHECK(names(select_heads(t, SelectStrategy::Intersection, 3)) == V{"L0H1"});
  const HeadSelection i4 = select_heads(t, SelectStrategy::Intersection, 4);
  CHECK(names(i4) == V{"L0H1", "L1H1"});
  CHECK(head_set_to_pasta_json(i4.set) == R"({"0":[1],"1":[1]})");
  // Union of top 2: {a, b} u {b, c} u {d, a}; b has the lowest rank sum (3), a and d tie at 5 with best rank 0
  // (a first: lower layer), then c (8).
  const HeadSelection u2 = select_heads(t, SelectStrategy::Union, 2);
  CHECK(names(u2) == V{"L0H1", "L0H0", "L1H1", "L1H0"});
  CHECK(head_set_to_pasta_json(u2.set) == R"({"0":[1,0],"1":[1,0]})");
  // Task-specific: B's own top 3 in B's order.
  const HeadSelection b3 = select_heads(t, SelectStrategy::Task, 3, "B");
  CHECK(names(b3) == V{"L0H1", "L1H0", "L1H1"});
  CHECK(head_set_to_pasta_json(b3.set) == R"({"0":[1],"1":[0,1]})");
  // Leave C out: A's and B's top 2 share b. Leave A out: B's and C's top 3 share b and d (tied rank sums).
  CHECK(names(select_heads(t, SelectStrategy::LeaveOneOut, 2, "C")) == V{"L0H1"});
  CHECK(names(select_heads(t, SelectStrategy::LeaveOneOut, 3, "A")) == V{"L0H1", "L1H1"});
  // K covering every head: intersection and union are all six.
  CHECK(select_heads(t, SelectStrategy::Intersection, 6).ranked.size() == 6);
  CHECK(select_heads(t, SelectStrategy::Union, 6).ranked.size() == 6);
}

TEST_CASE("profile select: intersections grow with K and sit inside the unions") {
  const auto t = table();
  std::vector<std::string> prev;
  for (int64_t k = 1; k <= 6; ++k) {
    auto in = names(select_heads(t, SelectStrategy::Intersection, k));
    auto un = names(select_heads(t, SelectStrategy::Union, k));
    std::sort(in.begin(), in.end());
    std::sort(un.begin(), un.end());
    CHECK(std::includes(in.begin(), in.end(), prev.begin(), prev.end()));
    CHECK(std::includes(un.begin(), un.end(), in.begin(), in.end()));
    prev = in;
  }
}

TEST_CASE("profile select: bad requests are refused with the reason") {
  const auto t = table();
  CHECK_THROWS_WITH_AS(select_heads(t, SelectStrategy::Union, 0), doctest::Contains("--k"), Error);
  CHECK_THROWS_WITH_AS(select_heads(t, SelectStrategy::Task, 2), doctest::Contains("needs --task"), Error);
  CHECK_THROWS_WITH_AS(select_heads(t, SelectStrategy::Task, 2, "Z"), doctest::Contains("A, B, C"), Error);
  CHECK_THROWS_WITH_AS(select_heads({t[0]}, SelectStrategy::LeaveOneOut, 2, "A"), doctest::Contains("two tasks"), Error);
  auto other = t;
  other[2].heads[5] = {3, 0};
  CHECK_THROWS_WITH_AS(select_heads(other, SelectStrategy::Union, 2), doctest::Contains("different heads"), Error);
  CHECK(parse_select_strategy("loo") == SelectStrategy::LeaveOneOut);
  CHECK_THROWS_WITH_AS(parse_select_strategy("best"), doctest::Contains("intersection, union, task or loo"), Error);
}

TEST_CASE("profile select: an exported head config and its sidecar both import into a steering spec") {
  hl_test::ScratchDir d("heads_import");
  const HeadSelection u2 = select_heads(table(), SelectStrategy::Union, 2);
  d.write("heads.json", head_set_to_pasta_json(u2.set) + "\n");
  d.write("heads.scores.json", R"({"format": "headlight-head-profile/1", "head_config": )" +
                                   head_set_to_pasta_json(u2.set) + R"(, "k": 2, "heads": [{"name": "L0H1"}]})");
  CHECK(load_head_config(d.dir / "heads.json") == u2.set);
  CHECK(load_head_config(d.dir / "heads.scores.json") == u2.set);
  for (const char* file : {"heads.json", "heads.scores.json"}) {
    d.write("spec.json", std::string(R"({"method": "pasta", "heads": ")") + file + R"(", "emphasis": ["x"]})");
    const SteeringSpec s = load_steering_spec(d.dir / "spec.json");  // relative to the spec's folder
    CHECK(s.heads == u2.set);
    // The spec written back carries the heads themselves and parses to the same spec.
    CHECK(parse_steering_spec(steering_spec_to_json(s)) == s);
  }
  d.write("spec.json", R"({"method": "pasta", "heads": "missing.json", "emphasis": ["x"]})");
  CHECK_THROWS_WITH_AS(load_steering_spec(d.dir / "spec.json"), doctest::Contains("field 'heads': "), Error);
}
