// NIAH cells steer through the steering compiler: with PASTA's scale_position "include" and with GUIDE on a subset of
// layers, a cell's answer is the answer `generate` gives for the same prompt ids and spec (the needle as the span).
#include <cmath>

#include "analysis/haystack.h"
#include "analysis/run/niah_run.h"
#include "core/engine/generate.h"
#include "engine/doctest_torch.h"
#include "engine/golden.h"
#include "workbench/prompt_setup.h"

using namespace hl;

namespace {

std::string generate_with_spec(const Model& m, const std::vector<int64_t>& ids, SteeringSpec spec, int64_t begin,
                               int64_t end, int64_t max_new) {
  spec.spans = {SteeringSpan{begin, end, 1.0}};
  wb::PromptRequest req;
  req.ids = ids;
  req.spec = spec;
  wb::PromptSetup ps = wb::setup_prompt(m, req);
  GenerateOptions go;
  go.max_new_tokens = max_new;
  go.bias = ps.bias.get();
  return m.tokenizer()->decode(generate(m, ps.ids, go).tokens[0], true);
}

}  // namespace

TEST_CASE("niah: cells steer through the compiler (PASTA include, GUIDE on a layer subset) as generate does") {
  auto m = Model::load(test::shared_dir() / "models/stories260K/stories260K.bin");
  NiahTexts texts;
  NiahBuilder builder(load_haystack(test::shared_dir() / kDefaultHaystackSubdir), texts, NiahTemplate{},
                      model_encoder(*m, true));
  SteeringSpec pasta;
  pasta.method = SteeringMethod::Pasta;
  pasta.heads = parse_head_set_text("L1H0,L2H3,L3", "heads");
  pasta.scale_position = ScalePosition::Include;
  pasta.apply_at = ApplyAt::Prefill;
  SteeringSpec guide;
  guide.method = SteeringMethod::Guide;
  guide.layers.kind = LayerSelection::Kind::List;
  guide.layers.list = {1, 3};
  guide.apply_at = ApplyAt::All;
  struct Case {
    SteeringSpec spec;
    double strength;
  };
  int differing = 0;
  for (const Case& c : {Case{pasta, 0.01}, Case{guide, 3.0}}) {
    NiahRunOptions ro;
    ro.steering = c.spec;
    ro.max_new_tokens = 16;
    NiahCellRunner run = make_niah_runner(*m, builder, ro);
    for (double depth : {10.0, 60.0}) {
      const NiahCell cell{300, depth, c.strength};
      const NiahResult steered = run(cell);
      const NiahPrompt p = builder.build(cell.length, cell.depth);
      CHECK(steered.answer == generate_with_spec(*m, p.ids, with_strength(c.spec, c.strength), p.needle_begin,
                                                 p.needle_end, ro.max_new_tokens));
      // Not a no-op: the unsteered cell answers differently, or at least the needle's Influence moved.
      const NiahResult plain = run(NiahCell{300, depth, c.spec.method == SteeringMethod::Pasta ? 1.0 : 0.0});
      if (plain.answer != steered.answer) ++differing;
      CHECK(std::abs(plain.influence_lastk - steered.influence_lastk) > 1e-5);
    }
  }
  CHECK(differing >= 1);
}
