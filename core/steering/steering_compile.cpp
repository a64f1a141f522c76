// SteeringSpec -> AttentionBias. The PASTA arithmetic follows pastalib's edit_multisection_attention step by
// step (float32 constant, one addition per section, same order) so that the summed biases equal the
// official mask edits bit for bit, which the PASTA goldens check to max |diff| 0.
#include <cmath>
#include <string>

#include "core/error.h"
#include "core/steering/steering_spec.h"

namespace hl {

namespace {

void check_spans(const std::vector<SteeringSpan>& spans, int64_t prompt_len, const std::string& where) {
  for (size_t i = 0; i < spans.size(); ++i) {
    const auto& s = spans[i];
    const std::string r = "[" + std::to_string(s.begin) + ", " + std::to_string(s.end) + ")";
    if (s.begin < 0 || s.end <= s.begin)
      throw Error(where + ": span " + std::to_string(i) + " " + r + " is empty or reversed (end is exclusive)");
    if (s.end > prompt_len)
      throw Error(where + ": span " + std::to_string(i) + " " + r + " extends past the prompt (" +
                  std::to_string(prompt_len) + " tokens)");
    if (!std::isfinite(s.level)) throw Error(where + ": span " + std::to_string(i) + " has a non-finite level");
  }
}

void add_range(std::vector<float>& b, int64_t begin, int64_t end, float v) {
  for (int64_t j = begin; j < end; ++j) b[static_cast<size_t>(j)] += v;
}

// One PASTA section ([begin, end) highlighted) as the official hook applies it.
void pasta_section(std::vector<float>& b, ScalePosition pos, int64_t begin, int64_t end, float c) {
  const int64_t n = static_cast<int64_t>(b.size());
  switch (pos) {
    case ScalePosition::Exclude:
      add_range(b, 0, begin, c);
      add_range(b, end, n, c);
      break;
    case ScalePosition::Include: add_range(b, begin, end, c); break;
    case ScalePosition::Generation: add_range(b, 0, n, c); break;
  }
}

void pasta_bias(std::vector<float>& b, const SteeringSpec& spec, const std::vector<SteeringSpan>& spans) {
  // pastalib: torch.Tensor([alpha]).to(float32).log(), i.e. the log of the float32-rounded alpha, in float32.
  const float c = std::log(static_cast<float>(spec.alpha));
  const int64_t n = static_cast<int64_t>(b.size());
  if (spec.multispan == MultispanRule::Pasta) {
    for (const auto& s : spans) pasta_section(b, spec.scale_position, s.begin, s.end, c);
  } else {
    std::vector<uint8_t> in_span(b.size(), 0);
    for (const auto& s : spans)
      for (int64_t j = s.begin; j < s.end; ++j) in_span[static_cast<size_t>(j)] = 1;
    for (int64_t j = 0; j < n; ++j) {
      const bool hi = in_span[static_cast<size_t>(j)] != 0;
      if (spec.scale_position == ScalePosition::Generation ||
          (spec.scale_position == ScalePosition::Exclude && !hi) ||
          (spec.scale_position == ScalePosition::Include && hi))
        b[static_cast<size_t>(j)] += c;
    }
  }
  if (spec.scale_position == ScalePosition::Include) add_range(b, 0, n, -c);
}

std::vector<HeadRef> steered_heads(const SteeringSpec& spec, int64_t n_layers, int64_t n_heads) {
  if (spec.method == SteeringMethod::Pasta) return spec.heads.expand(n_layers, n_heads);
  std::vector<HeadRef> out;
  if (spec.method == SteeringMethod::Guide || spec.method == SteeringMethod::InstaBoost)
    for (int64_t l : spec.layers.resolve(n_layers, "steering spec: field 'layers'"))
      for (int64_t h = 0; h < n_heads; ++h) out.push_back({l, h});
  return out;
}

// Fills batch row `row` of `bias`. Only runs of non-zero values are added (and so marked active): adding to
// the zero-initialised row stores each value exactly, and all-zero heads stay on the unsteered path.
void compile_row(AttentionBias& bias, int64_t row, const SteeringSpec& spec, const std::vector<SteeringSpan>& spans,
                 const std::string& where) {
  const int64_t n_layers = bias.layers(), n_heads = bias.heads(), prompt_len = bias.prompt_len();
  validate_steering_spec(spec, n_layers, n_heads);
  check_spans(spans, prompt_len, where);
  for (const HeadRef& hr : spec.ablate.expand(n_layers, n_heads)) bias.ablation.set(row, hr.layer, hr.head, spec.ablation);
  const std::vector<float> kb = key_bias(spec, prompt_len, spans);
  bool any = false;
  for (float v : kb) any = any || v != 0.0f;
  if (!any) return;
  for (const HeadRef& hr : steered_heads(spec, n_layers, n_heads)) {
    int64_t j = 0;
    while (j < prompt_len) {
      const float v = kb[static_cast<size_t>(j)];
      int64_t e = j + 1;
      while (e < prompt_len && kb[static_cast<size_t>(e)] == v) ++e;
      if (v != 0.0f) bias.add(row, hr.layer, hr.head, j, e, v);
      j = e;
    }
  }
}

// Whether row `row` has a logit bias (ablation alone does not count: it has no apply_at).
bool row_active(const AttentionBias& bias, int64_t row) {
  for (int64_t l = 0; l < bias.layers(); ++l)
    for (int64_t h = 0; h < bias.heads(); ++h)
      if (bias.active(row, l, h)) return true;
  return false;
}

}  // namespace

std::vector<float> key_bias(const SteeringSpec& spec, int64_t prompt_len, const std::vector<SteeringSpan>& spans) {
  if (prompt_len < 0) throw Error("steering: negative prompt length");
  if (spec.method == SteeringMethod::Pasta && !(spec.alpha > 0 && std::isfinite(spec.alpha)))
    throw Error("steering: field 'alpha': must be a finite number > 0");
  if (spec.method == SteeringMethod::InstaBoost && !(spec.multiplier > 0 && std::isfinite(spec.multiplier)))
    throw Error("steering: field 'multiplier': must be a finite number > 0");
  if (spec.method == SteeringMethod::Guide && !std::isfinite(spec.delta))
    throw Error("steering: field 'delta': must be finite");
  check_spans(spans, prompt_len, "steering");
  std::vector<float> b(static_cast<size_t>(prompt_len), 0.0f);
  // Steering towards nothing is a no-op for every method (PASTA's include would otherwise shift all
  // prompt keys by -log alpha, which no caller means).
  if (spans.empty()) return b;
  switch (spec.method) {
    case SteeringMethod::None: break;
    case SteeringMethod::Pasta: pasta_bias(b, spec, spans); break;
    case SteeringMethod::Guide:
    case SteeringMethod::InstaBoost: {
      const double d = spec.effective_delta();
      for (const auto& s : spans) add_range(b, s.begin, s.end, static_cast<float>(s.level * d));
      break;
    }
  }
  return b;
}

AttentionBias compile(const SteeringSpec& spec, int64_t n_layers, int64_t n_heads, int64_t prompt_len,
                      const std::vector<SteeringSpan>& spans) {
  AttentionBias bias(1, n_layers, n_heads, prompt_len);
  bias.apply_at = spec.apply_at;
  compile_row(bias, 0, spec, spans, "steering");
  return bias;
}

AttentionBias compile_per_row(const std::vector<SteeringSpec>& specs, int64_t n_layers, int64_t n_heads,
                              int64_t prompt_len, const std::vector<std::vector<SteeringSpan>>& spans) {
  if (specs.empty()) throw Error("steering: no batch rows given");
  if (spans.size() != specs.size())
    throw Error("steering: " + std::to_string(specs.size()) + " specs but " + std::to_string(spans.size()) +
                " span lists (need one per batch row)");
  AttentionBias bias(static_cast<int64_t>(specs.size()), n_layers, n_heads, prompt_len);
  bool apply_at_set = false;
  for (size_t r = 0; r < specs.size(); ++r) {
    const std::string where = "steering row " + std::to_string(r);
    compile_row(bias, static_cast<int64_t>(r), specs[r], spans[r], where);
    if (!row_active(bias, static_cast<int64_t>(r))) continue;
    if (!apply_at_set) {
      bias.apply_at = specs[r].apply_at;
      apply_at_set = true;
    } else if (bias.apply_at != specs[r].apply_at) {
      throw Error(where + ": apply_at differs from earlier rows (one batch is steered either at every step or at "
                          "prefill only)");
    }
  }
  if (!apply_at_set) bias.apply_at = specs.front().apply_at;
  return bias;
}

}  // namespace hl
