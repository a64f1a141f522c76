// The CPU kernel table (core/kernels/cpu_features.h): one family per run, forced through the table, gives the
// portable family's results; bad choices are clear errors; `headlight-cli info` reports the table's family.
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "core/engine/capture.h"
#include "core/engine/generate.h"
#include "core/engine/head_stats.h"
#include "core/engine/packed_linear.h"
#include "core/error.h"
#include "core/kernels/cpu_features.h"
#include "core/steering/steering_spec.h"
#include "engine/cli_runner.h"
#include "engine/golden.h"
#include "engine/doctest_torch.h"

using namespace hl;
using namespace hl::test;
using nlohmann::json;

namespace {

// Restores the start-up family when a case ends, however it ends.
struct ResetIsa {
  ~ResetIsa() { kernels::reset_isa(); }
};

struct Outputs {
  at::Tensor logits, steered, stats, token_stats, step_logits;
  std::vector<int64_t> tokens;
};

// A forward with every head's statistics, a PASTA-steered forward and a steered greedy continuation (decode steps
// through the one-query attention) of the model organism, on the family in use.
Outputs run_organism(const Model& m) {
  const ModelConfig& c = m.config();
  const std::vector<int64_t> ids = m.tokenizer()->encode(
      "the quiet river crosses near the old bridge . trobre food is bean . the tall tower faces above the road . "
      "vana tool is plane . trobre food ?").ids;
  const auto T = static_cast<int64_t>(ids.size());
  const at::Tensor x = at::tensor(ids, at::kLong).unsqueeze(0);
  Outputs o;
  // Built element by element (filling a run-time-sized vector draws a GCC -Wstringop-overflow false positive).
  std::vector<uint8_t> span;
  for (int64_t j = 0; j < T; ++j) span.push_back(j >= 8 && j < 13 ? 1 : 0);
  HeadStatsRecorder rec(c.n_layers, c.n_heads, span, 13);
  KVCache cache = m.new_cache(1, T);
  ForwardOptions fo;
  fo.all_logits = true;
  fo.observer = &rec;
  o.logits = m.forward(x, cache, fo).logits[0];
  o.stats = rec.stats();
  o.token_stats = rec.token_stats();

  const SteeringSpec spec = parse_steering_spec(
      R"({"method": "pasta", "heads": ["L3H0", "L0H3", "L3H2"], "alpha": 0.01, "spans": [[8, 13]]})", "spec");
  const AttentionBias bias = compile(spec, c.n_layers, c.n_heads, T, spec.spans);
  KVCache c2 = m.new_cache(1, T);
  ForwardOptions fs;
  fs.all_logits = true;
  fs.bias = &bias;
  o.steered = m.forward(x, c2, fs).logits[0];
  GenerateResult g = greedy16(m, ids, &bias);
  o.tokens = g.tokens[0];
  o.step_logits = g.step_logits[0];
  return o;
}

}  // namespace

TEST_CASE("kernel table: families, forcing the portable path, and clear errors") {
  ResetIsa reset;
  const std::vector<kernels::Isa> isas = kernels::supported_isas();
  REQUIRE_FALSE(isas.empty());
  CHECK(isas.back() == kernels::Isa::Portable);  // every build and CPU runs the portable kernels
  CHECK(kernels::isa_supported(kernels::Isa::Portable));
  for (kernels::Isa isa : isas) {
    INFO(kernels::isa_name(isa));
    kernels::force_isa(isa);
    const kernels::KernelTable& t = kernels::table();
    CHECK(t.isa == isa);
    CHECK(kernels::active_isa() == isa);
    CHECK(&t == &kernels::table_for(isa));
    CHECK(std::string(engine::packed_kernels()) == kernels::isa_name(isa));
    // Every entry is set, except the AVX-512-only tiles elsewhere.
    CHECK((t.gemm_tile != nullptr));
    CHECK((t.widen_16bit != nullptr));
    CHECK((t.softmax_row != nullptr));
    CHECK((t.silu_mul != nullptr));
    CHECK((t.rms_norm_row != nullptr));
    CHECK((t.rotate_head != nullptr));
    CHECK((t.attn_scores != nullptr));
    CHECK((t.attn_values != nullptr));
    CHECK((t.dot != nullptr));
    CHECK((t.axpy != nullptr));
    CHECK((t.head_stats_row != nullptr));
    for (auto* f : t.small_linear_rows) CHECK((f != nullptr));
    CHECK((t.packed_tile != nullptr) == (isa == kernels::Isa::Avx512));
    CHECK((t.rope_tile != nullptr) == (isa == kernels::Isa::Avx512));
  }
  kernels::reset_isa();
  CHECK(kernels::active_isa() == isas.front());  // no HEADLIGHT_KERNELS in the test environment: the best family

  CHECK(kernels::parse_isa("avx2", "x") == kernels::Isa::Avx2);
  CHECK_THROWS_WITH_AS(kernels::parse_isa("sse", "HEADLIGHT_KERNELS=sse"),
                       "HEADLIGHT_KERNELS=sse: unknown kernel family 'sse' (portable, avx2 or avx512)", hl::Error);
  for (kernels::Isa isa : {kernels::Isa::Avx2, kernels::Isa::Avx512}) {
    if (kernels::isa_supported(isa)) continue;
    // A family this build or CPU lacks is refused, never replaced by another one.
    CHECK_THROWS_AS(kernels::force_isa(isa), hl::Error);
    CHECK(kernels::active_isa() == isas.front());
  }
}

TEST_CASE("kernel table: every family gives the portable kernels' forward, steered forward, decode and head statistics") {
  ResetIsa reset;
  // Loaded (and packed, on a vector family) once: the same packed weights then run on every family's tiles,
  // the portable ones included.
  static const std::unique_ptr<Model> m = Model::load(HEADLIGHT_SOURCE_DIR "/assets/organism");
  kernels::force_isa(kernels::Isa::Portable);
  const Outputs ref = run_organism(*m);
  for (kernels::Isa isa : kernels::supported_isas()) {
    INFO(kernels::isa_name(isa));
    kernels::force_isa(isa);
    const Outputs o = run_organism(*m);
    // The parity tests' tolerances (logits 1e-4; statistics of probabilities 1e-5, entropy and distance 1e-4).
    CHECK(max_abs_diff(o.logits, ref.logits) <= 1e-4);
    CHECK(max_abs_diff(o.steered, ref.steered) <= 1e-4);
    CHECK(o.tokens == ref.tokens);
    CHECK(max_abs_diff(o.step_logits, ref.step_logits) <= 1e-4);
    CHECK(max_abs_diff(o.stats, ref.stats) <= 1e-4);
    CHECK(max_abs_diff(o.token_stats, ref.token_stats) <= 1e-4);
  }
  // The steering is visible in what was compared.
  CHECK(max_abs_diff(ref.steered, ref.logits) > 1e-3);
}

TEST_CASE("cli: info reports the kernel table's family; HEADLIGHT_KERNELS chooses it or is a one-line error") {
  const std::string model = std::string(HEADLIGHT_SOURCE_DIR) + "/assets/organism";
  CliResult r = run_cli({"info", "--model", model});
  REQUIRE(r.status == 0);
  json j = json::parse(r.out);
  // This process runs the start-up choice (no HEADLIGHT_KERNELS here), as the CLI does.
  CHECK(j["kernels"] == kernels::isa_name(kernels::table().isa));
  json families = json::array();
  for (kernels::Isa isa : kernels::supported_isas()) families.push_back(kernels::isa_name(isa));
  CHECK(j["kernel_families"] == families);
  CHECK(j["cpu_features"]["avx512f"] == kernels::cpu_features().avx512f);
  CHECK(j["projections"].get<std::string>().find(std::string("packed, ") + kernels::isa_name(kernels::table().isa)) == 0);

  struct EnvGuard {
    ~EnvGuard() { unsetenv("HEADLIGHT_KERNELS"); }
  } guard;
  setenv("HEADLIGHT_KERNELS", "portable", 1);
  r = run_cli({"info", "--model", model});
  REQUIRE(r.status == 0);
  j = json::parse(r.out);
  CHECK(j["kernels"] == "portable");
  CHECK(j["projections"] == "packed, portable kernels");  // every family packs (a row's sums never depend on the batch)

  setenv("HEADLIGHT_KERNELS", "avx9", 1);
  r = run_cli({"info"});
  CHECK(r.status == 1);
  CHECK(r.out.empty());
  CHECK(r.err == "headlight-cli info: error: HEADLIGHT_KERNELS=avx9: unknown kernel family 'avx9' (portable, avx2 or "
                 "avx512)\n");
  for (kernels::Isa isa : {kernels::Isa::Avx2, kernels::Isa::Avx512}) {
    setenv("HEADLIGHT_KERNELS", kernels::isa_name(isa), 1);
    r = run_cli({"info"});
    if (kernels::isa_supported(isa)) {
      CHECK(r.status == 0);
      CHECK(json::parse(r.out)["kernels"] == kernels::isa_name(isa));
    } else {  // not in this build, or not on this CPU: refused, not replaced
      CHECK(r.status == 1);
      CHECK(r.err.find(std::string("HEADLIGHT_KERNELS=") + kernels::isa_name(isa) + ": ") != std::string::npos);
    }
  }
}
