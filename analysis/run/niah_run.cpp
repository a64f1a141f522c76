#include "analysis/run/niah_run.h"

#include <ATen/ATen.h>


#include "analysis/influence.h"
#include "core/engine/generate.h"
#include "core/engine/top_key_recorder.h"
#include "core/observer_fanout.h"
#include "core/error.h"

namespace hl {

EncodeFn model_encoder(const Model& model, bool add_bos) {
  if (!model.tokenizer()) throw Error(model.source().string() + ": NIAH needs a tokenizer");
  const Tokenizer* tok = model.tokenizer();
  return [tok, add_bos](const std::string& text) {
    EncodeOptions eo;
    eo.add_bos = add_bos;
    eo.split_special = false;  // haystack text is data, never control tokens
    return tok->encode(text, eo);
  };
}

SteeringSpec NiahRunOptions::default_niah_steering() {
  SteeringSpec s;
  s.method = SteeringMethod::Guide;
  s.apply_at = ApplyAt::Prefill;
  return s;
}

SteeringSpec with_strength(SteeringSpec spec, double strength) {
  switch (spec.method) {
    case SteeringMethod::Pasta:
      if (!(strength > 0)) throw Error("NIAH: PASTA alpha must be > 0, got " + std::to_string(strength));
      spec.alpha = strength;
      break;
    case SteeringMethod::Guide:
      spec.delta = strength;
      break;
    case SteeringMethod::InstaBoost:
      if (!(strength > 0)) throw Error("NIAH: InstABoost multiplier must be > 0, got " + std::to_string(strength));
      spec.multiplier = strength;
      break;
    case SteeringMethod::None:
      break;
  }
  spec.spans.clear();
  spec.emphasis.clear();
  return spec;
}

NiahCellRunner make_niah_runner(const Model& model, NiahBuilder& builder, const NiahRunOptions& opt) {
  // Validated once, where it is resolved: every cell compiles the same spec with another strength.
  validate_steering_spec(opt.steering, model.config().n_layers, model.config().n_heads);
  if (opt.steering.head_index == HeadIndex::Kv)
    throw Error("NIAH: map KV-head indices to query heads (with_query_heads) before running");
  return [&model, &builder, opt](const NiahCell& cell) {
    const ModelConfig& c = model.config();
    NiahPrompt p = builder.build(cell.length, cell.depth);
    const auto T = static_cast<int64_t>(p.ids.size());
    if (T + opt.max_new_tokens > c.max_positions)
      throw Error("NIAH cell " + cell.key() + ": " + std::to_string(T) + " prompt tokens + " +
                  std::to_string(opt.max_new_tokens) + " answer tokens exceed the model's context of " +
                  std::to_string(c.max_positions));
    const AttentionBias bias = compile(with_strength(opt.steering, cell.delta), c.n_layers, c.n_heads, T,
                                       {SteeringSpan{p.needle_begin, p.needle_end, 1.0}});

    InfluenceConfig ic;
    ic.indicator.assign(static_cast<size_t>(T), 0.0f);
    for (int64_t j = p.needle_begin; j < p.needle_end; ++j) ic.indicator[static_cast<size_t>(j)] = 1.0f;
    ic.norms = InfluenceNorms::Residual;
    InfluenceTracer tracer(ic);

    TopKeyRecorder top_keys(c.n_layers, c.n_heads);
    ObserverFanout observers({&tracer});
    if (opt.retrieval_scores) observers.obs.push_back(&top_keys);

    GenerateOptions go;
    go.max_new_tokens = opt.max_new_tokens;
    go.bias = &bias;
    go.observer = &observers;
    GenerateResult g = generate(model, p.ids, go);

    NiahResult r;
    r.length = cell.length;
    r.depth = cell.depth;
    r.delta = cell.delta;
    r.realised_depth = p.realised_depth;
    r.answer = model.tokenizer()->decode(g.tokens[0], true);
    r.score = score_niah_response(r.answer, builder.texts().answer, opt.scoring);
    if (opt.retrieval_scores) {
      r.retrieval = RetrievalTally(c.n_layers, c.n_heads);
      tally_retrieval(r.retrieval, p.ids, p.needle_begin, p.needle_end, g.tokens[0], top_keys.row(0));
    }
    InfluenceTrace tr = tracer.trace(0);
    const int k = static_cast<int>(opt.last_k);
    r.influence_lastk = tr.influence_last_k_mean(k);
    r.rollout_lastk = tr.rollout_last_k_mean(k);
    for (int layer = -1; layer < tr.layers; ++layer) {
      const std::vector<float> row = tr.influence_at(layer);
      const int64_t n = std::min<int64_t>(k, static_cast<int64_t>(row.size()));
      double sum = 0;
      for (int64_t t = static_cast<int64_t>(row.size()) - n; t < static_cast<int64_t>(row.size()); ++t) sum += row[t];
      r.influence_by_layer.push_back(n > 0 ? sum / static_cast<double>(n) : 0.0);
    }
    return r;
  };
}

}  // namespace hl
