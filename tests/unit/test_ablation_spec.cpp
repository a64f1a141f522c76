// The spec's head-ablation fields: parsing, errors naming the field, round trip, and compilation into
// AttentionBias::ablation (next to, and independent of, the logit bias).
#include <doctest/doctest.h>

#include "core/error.h"
#include "core/steering/steering_spec.h"

using namespace hl;

TEST_CASE("ablate/ablation parse in every head-set form, with any method, and round-trip") {
  SteeringSpec s = parse_steering_spec(R"({"method": "none", "ablate": ["L1H5", "L3"], "ablation": "mean"})");
  CHECK(s.ablation == AblationMode::Mean);
  CHECK(s.ablate.expand(4, 8).size() == 9);
  CHECK(parse_steering_spec(steering_spec_to_json(s)) == s);
  SteeringSpec d = parse_steering_spec(R"({"method": "guide", "spans": [[0, 2]], "ablate": {"2": [0, 1]}})");
  CHECK(d.ablation == AblationMode::Zero);  // the default
  CHECK(d.ablate.expand(4, 8).size() == 2);
  CHECK(parse_steering_spec(steering_spec_to_json(d)) == d);
  SteeringSpec l = parse_steering_spec(R"({"method": "pasta", "heads": ["L0H0"], "ablate": [1, 2]})");
  CHECK(l.ablate.expand(4, 8).size() == 16);
  // No ablation: nothing is written, so older readers see the same JSON.
  CHECK(steering_spec_to_json(parse_steering_spec(R"({"method": "none"})")).find("ablat") == std::string::npos);
}

TEST_CASE("bad ablation fields are errors naming the field") {
  CHECK_THROWS_WITH_AS(parse_steering_spec(R"({"method": "none", "ablation": "mean"})"),
                       doctest::Contains("'ablation': needs field 'ablate'"), Error);
  CHECK_THROWS_WITH_AS(parse_steering_spec(R"({"method": "none", "ablate": ["L1"], "ablation": "half"})"),
                       doctest::Contains("'ablation'"), Error);
  CHECK_THROWS_WITH_AS(parse_steering_spec(R"({"method": "none", "ablate": "L1X"})"), doctest::Contains("'ablate'"),
                       Error);
  const SteeringSpec far = parse_steering_spec(R"({"method": "none", "ablate": ["L40H2"]})");
  CHECK_THROWS_WITH_AS(validate_steering_spec(far, 4, 8), doctest::Contains("ablate"), Error);
  CHECK_THROWS_WITH_AS(compile(far, 4, 8, 10, {}), doctest::Contains("field 'ablate': entry L40H2: layer 40 out of range"), Error);
  const SteeringSpec wide = parse_steering_spec(R"({"method": "none", "ablate": ["L1H9"]})");
  CHECK_THROWS_WITH_AS(compile(wide, 4, 8, 10, {}), doctest::Contains("ablate"), Error);
}

TEST_CASE("compile puts ablated heads in bias.ablation; the logit bias is untouched") {
  const SteeringSpec s =
      parse_steering_spec(R"({"method": "guide", "layers": [3], "delta": 1, "ablate": ["L1H2"], "ablation": "mean"})");
  const AttentionBias b = compile(s, 4, 8, 10, {{2, 5, 1.0}});
  CHECK(b.ablation.mode(0, 1, 2) == AblationMode::Mean);
  CHECK(b.ablation.mode(0, 1, 3) == AblationMode::None);
  CHECK_FALSE(b.layer_active(1));  // ablation is not a key bias
  CHECK(b.layer_active(3));
  CHECK(b.lowest_active_layer() == 1);
  CHECK(b.first_uneven_key(0) == 0);  // every position changes under ablation
  CHECK(b.ablation.needs_means());
  // Ablation alone: active, no key bias; broadcast keeps it on every row.
  const AttentionBias a = compile(parse_steering_spec(R"({"method": "none", "ablate": ["L0H0"]})"), 4, 8, 10, {});
  CHECK(a.any_active());
  CHECK_FALSE(a.any_key_bias());
  const AttentionBias a3 = a.broadcast_to(3);
  for (int64_t r = 0; r < 3; ++r) CHECK(a3.ablation.mode(r, 0, 0) == AblationMode::Zero);
  // Per row: one head per row (the profiler's batched rows).
  std::vector<SteeringSpec> rows = {parse_steering_spec(R"({"method": "none", "ablate": ["L0H1"]})"),
                                    parse_steering_spec(R"({"method": "none", "ablate": ["L2H0"]})")};
  const AttentionBias pr = compile_per_row(rows, 4, 8, 10, {{}, {}});
  CHECK(pr.ablation.mode(0, 0, 1) == AblationMode::Zero);
  CHECK(pr.ablation.mode(1, 0, 1) == AblationMode::None);
  CHECK(pr.ablation.mode(1, 2, 0) == AblationMode::Zero);
  CHECK(pr.ablation.lowest_layer() == 0);
  // An empty list ablates nothing.
  CHECK_FALSE(compile(parse_steering_spec(R"({"method": "none", "ablate": []})"), 4, 8, 10, {}).any_active());
}
