#include "app/gui/example.h"

#include <cmath>

namespace hl::gui {

wb::Document example_document() {
  wb::Document d;
  d.prompt = "Once upon a time, there was a little girl named Lily. She loved her red ball.";
  d.spec.method = SteeringMethod::Guide;
  d.spec.delta = 1.0;
  d.spec.emphasis = {"She loved her red ball."};
  return d;
}

std::shared_ptr<const wb::AttentionMap> synthetic_attention_map(int64_t n) {
  auto m = std::make_shared<wb::AttentionMap>();
  m->rows = m->cols = n;
  m->prompt_len = n * 3 / 4;
  m->layer = 0;
  m->head = 0;
  m->values.assign(static_cast<size_t>(n * n), 0.f);
  m->token_texts.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    m->token_texts[static_cast<size_t>(i)] = "t" + std::to_string(i);
    float* row = m->values.data() + i * n;
    double sum = 0;
    for (int64_t j = 0; j <= i; ++j) {
      const double recency = std::exp(-static_cast<double>(i - j) / 24.0);
      const double stripe = (j % 97 == 5) ? 0.3 : 0.0;
      const double w = (j == 0 ? 4.0 : 0.0) + recency + stripe;
      row[j] = static_cast<float>(w);
      sum += w;
    }
    for (int64_t j = 0; j <= i; ++j) row[j] = static_cast<float>(row[j] / sum);
  }
  return m;
}

}  // namespace hl::gui
